package cli

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 401 << 20: "401.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	for s, want := range map[string]string{
		"2026-12-03 10:04:05":       "2026-12-03T10:04:05Z",
		"2026-12-03":                "2026-12-03T00:00:00Z",
		"2026-12-03T10:04:05+02:00": "2026-12-03T08:04:05Z",
	} {
		got, ok := ParseTime(s, time.UTC)
		if !ok || got.UTC().Format(time.RFC3339) != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", s, got, ok, want)
		}
	}
	if _, ok := ParseTime("yesterday", time.UTC); ok {
		t.Errorf("ParseTime(yesterday) accepted")
	}
}
