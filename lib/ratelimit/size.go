package ratelimit

import (
	"fmt"
	"strings"
)

// Size is a byte count given on the command line ("16MiB", "512K"), in
// the units of rates, for the flags that size things (dr-snap
// --chunk-size) rather than throttle them.
type Size int64

// ParseSize parses a positive size such as "16MiB", "64M" or "1.5GiB".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if strings.HasSuffix(t, "/s") || strings.HasSuffix(t, "/S") || strings.EqualFold(t, "unlimited") {
		return 0, fmt.Errorf("invalid size %s: want a number of bytes, e.g. 16MiB", quote(s))
	}
	r, err := parseRate(t)
	if err == nil && r <= 0 {
		err = fmt.Errorf("must be more than 0")
	}
	if err != nil {
		return 0, fmt.Errorf("invalid size %s: %w", quote(s), err)
	}
	return Size(r), nil
}

// String prints the size as Rate does, without "/s".
func (s Size) String() string { return strings.TrimSuffix(Rate(s).String(), "/s") }

// UnmarshalText makes Size a kong value.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText is String.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
