package ratelimit

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

func TestParseRate(t *testing.T) {
	good := []struct {
		in   string
		want Rate
	}{
		{"", 0},
		{"0", 0},
		{"0MiB/s", 0},
		{"unlimited", 0},
		{" 50MiB/s ", 50 << 20},
		{"50M", 50 << 20},
		{"50m", 50 << 20},
		{"50Mi", 50 << 20},
		{"50MIB/s", 50 << 20},
		{"50 MiB/s", 50 << 20},
		{"10MB/s", 10_000_000},
		{"10mB", 10_000_000},
		{"800KiB/s", 800 << 10},
		{"800K", 800 << 10},
		{"800KB/s", 800_000},
		{"1.5GiB/s", 3 << 29},
		{"1.5G", 3 << 29},
		{"2GB/s", 2_000_000_000},
		{"1T", 1 << 40},
		{"1TB/s", 1_000_000_000_000},
		{"1234", 1234},
		{"1234B/s", 1234},
		{"1234/s", 1234},
		{"1.5", 2}, // rounds half up to whole bytes
		{"0.001KiB", 1},
		{"5.", 5},
		{".5K", 512},
	}
	for _, c := range good {
		got, err := ParseRate(c.in)
		if err != nil {
			t.Errorf("ParseRate(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseRate(%q) = %d, want %d", c.in, got, c.want)
		}
	}

	bad := []struct{ in, msg string }{
		{"5 apples", `invalid rate "5 apples": unknown unit "apples"`},
		{"50Mb/s", `small b means bits`},
		{"50kb", `small b means bits`},
		{"50Mib/s", `small b means bits`},
		{"-5M", `want a number`},
		{"M", `want a number`},
		{"/s", `want a number`},
		{"1.2.3M", `not a number`},
		{".", `not a number`},
		{"1e6", `unknown unit "e6"`},
		{"0x10", `unknown unit "x10"`},
		{"inf", `want a number`},
		{"NaN", `want a number`},
		{"0.1", `below 1 byte`},
		{"10P", `unknown unit "P"`},
		{"10MiB/s/s", `unknown unit`},
		{"10 MiB /s x", `unknown unit`},
		{"9999999999999999999", `too large`},
		{"9999999T", `too large`},
		{strings.Repeat("1", 65), `longer than 64`},
	}
	for _, c := range bad {
		_, err := ParseRate(c.in)
		if err == nil {
			t.Errorf("ParseRate(%q) succeeded, want an error", c.in)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid rate ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseRate(%q) error %q, want it to contain %q", c.in, err, c.msg)
		}
	}
}

func TestRateString(t *testing.T) {
	cases := []struct {
		r    Rate
		want string
	}{
		{0, "unlimited"},
		{50 << 20, "50MiB/s"},
		{3 << 29, "1.5GiB/s"},
		{800 << 10, "800KiB/s"},
		{10_000_000, "10MB/s"},
		{1_500_000, "1.5MB/s"},
		{1000, "1KB/s"},
		{1024, "1KiB/s"},
		{1234, "1234B/s"},
		{1 << 40, "1TiB/s"},
		{5, "5B/s"},
	}
	for _, c := range cases {
		if got := c.r.String(); got != c.want {
			t.Errorf("Rate(%d).String() = %q, want %q", int64(c.r), got, c.want)
		}
		back, err := ParseRate(c.r.String())
		if err != nil || back != c.r {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", c.r.String(), back, err, c.r)
		}
	}
}

// The flag parses through kong with no mapper, as dr-snap and dr-ship use it.
func TestKong(t *testing.T) {
	var cli struct {
		MaxRate Rate `help:"Throttle." default:"0"`
		BWLimit Rate `name:"bwlimit" default:"1MiB/s"`
	}
	p, err := kong.New(&cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]string{"--max-rate", "50MiB/s"}); err != nil {
		t.Fatal(err)
	}
	if cli.MaxRate != 50<<20 || cli.BWLimit != 1<<20 {
		t.Errorf("got max-rate %v bwlimit %v", cli.MaxRate, cli.BWLimit)
	}
	_, err = p.Parse([]string{"--max-rate", "5 apples"})
	if err == nil || !strings.Contains(err.Error(), `invalid rate "5 apples"`) {
		t.Errorf("kong error %v, want it to name the input", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"16MiB": 16 << 20, "512K": 512 << 10, "1.5GiB": 3 << 29, "1000": 1000, "10MB": 10_000_000} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
		if back, err := ParseSize(got.String()); err != nil || back != got {
			t.Errorf("ParseSize(%q.String() = %q) = %d, %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", "0", "unlimited", "16MiB/s", "16Mb", "-1", "x"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}
