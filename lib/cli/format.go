package cli

import (
	"fmt"
	"time"
)

// Bytes formats a byte count for people: 512 B, 1.5 KiB, 382.7 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Count formats n things for people: "1 table", "3 tables".
func Count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// Rate formats a throughput for people: n bytes in d, "" when d is 0.
func Rate(n int64, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return Bytes(int64(float64(n)/d.Seconds())) + "/s"
}

// ParseTime reads a time a user gives: RFC 3339, or "2006-01-02 15:04:05"
// and its shorter forms, which are in loc.
func ParseTime(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
