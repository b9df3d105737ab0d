package ratelimit

import (
	"strings"
	"testing"
)

// FuzzParseRate: ParseRate never panics, errors name the input, and every
// rate it accepts prints back to itself.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"", "0", "50MiB/s", "50M", "10MB/s", "800KiB/s", "1.5GiB/s",
		"5 apples", "50Mb/s", "1.5", ".5K", "9999999T", "unlimited", "1e6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid rate ") {
				t.Fatalf("ParseRate(%q) error %q does not name the input", s, err)
			}
			return
		}
		if r < 0 {
			t.Fatalf("ParseRate(%q) = %d", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %d prints %q, which parses to %d, %v", s, r, r.String(), back, err)
		}
		if r > 0 && Burst(r) < minBurst {
			t.Fatalf("Burst(%d) = %d", r, Burst(r))
		}
	})
}
