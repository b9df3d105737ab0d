// Package ratelimit throttles byte streams to a rate given on the command
// line: dr-snap --max-rate (bytes read from the server) and dr-ship --bwlimit
// (bytes at the socket). The point is to be gentle with production, so the
// limiter is smooth rather than merely right on average: its bucket holds
// only 50 ms of traffic and big reads and writes are cut into pieces no
// larger than that.
//
// Units (the rules of GNU dd and rsync, and what a DBA writes in my.cnf):
//
//	B or none         bytes
//	K, M, G, T        binary: 1024, 1024², ...   ("16M" in my.cnf is 16 MiB)
//	Ki, Mi, Gi, Ti    binary, the same
//	KiB, MiB, GiB, TiB binary, the same
//	KB, MB, GB, TB    decimal: 1000, 1000², ...
//
// The prefix letter and the "i" may be in any case; the final B must be a
// capital, because "50Mb/s" usually means megabits and an 8× mistake in a
// throttle is worse than an error. A "/s" suffix is optional, a fraction is
// allowed ("1.5GiB/s"), and "0", "" or "unlimited" mean no limit.
package ratelimit

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Rate is a throughput in bytes per second; 0 means unlimited.
//
// It implements encoding.TextUnmarshaler, so a kong flag of type Rate
// ("--max-rate 50MiB/s") parses with no mapper, and flag.Value.
type Rate int64

// Unlimited is the zero Rate.
const Unlimited Rate = 0

// Unit multipliers.
const (
	KiB Rate = 1 << 10
	MiB Rate = 1 << 20
	GiB Rate = 1 << 30
	TiB Rate = 1 << 40
	KB  Rate = 1000
	MB  Rate = 1000 * KB
	GB  Rate = 1000 * MB
	TB  Rate = 1000 * GB
)

// maxInput bounds what ParseRate looks at, so a garbage argument cannot make
// the exact (big.Rat) arithmetic below expensive.
const maxInput = 64

// ParseRate parses a rate such as "50MiB/s", "50M", "10MB/s", "800KiB/s",
// "1.5GiB/s" or "0"; see the package comment for the units.
func ParseRate(s string) (Rate, error) {
	r, err := parseRate(s)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %s: %w", quote(s), err)
	}
	return r, nil
}

func parseRate(s string) (Rate, error) {
	if len(s) > maxInput {
		return 0, fmt.Errorf("longer than %d characters", maxInput)
	}
	t := strings.TrimSpace(s)
	if t == "" || strings.EqualFold(t, "unlimited") {
		return Unlimited, nil
	}
	if strings.HasSuffix(t, "/s") || strings.HasSuffix(t, "/S") {
		t = strings.TrimSpace(t[:len(t)-2])
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("want a number and a unit, e.g. 50MiB/s")
	}
	if strings.Count(num, ".") > 1 || num == "." {
		return 0, fmt.Errorf("%s is not a number", quote(num))
	}
	mult, err := parseUnit(unit)
	if err != nil {
		return 0, err
	}
	// Exact arithmetic: "1.5GiB" is exactly 1610612736 bytes, and a
	// 19-digit byte count does not lose its last digits in a float64.
	q, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", quote(num))
	}
	if q.Sign() == 0 {
		return Unlimited, nil
	}
	q.Mul(q, new(big.Rat).SetInt64(int64(mult)))
	// Round half up to whole bytes.
	q.Add(q, big.NewRat(1, 2))
	n := new(big.Int).Quo(q.Num(), q.Denom())
	if !n.IsInt64() || n.Int64() > math.MaxInt64/2 {
		return 0, fmt.Errorf("too large")
	}
	if n.Sign() == 0 {
		// Rounding to 0 would silently mean "unlimited".
		return 0, fmt.Errorf("below 1 byte per second; use 0 for unlimited")
	}
	return Rate(n.Int64()), nil
}

// parseUnit implements the unit table of the package comment.
func parseUnit(u string) (Rate, error) {
	if u == "" || u == "B" {
		return 1, nil
	}
	var bin, dec Rate
	switch u[0] {
	case 'K', 'k':
		bin, dec = KiB, KB
	case 'M', 'm':
		bin, dec = MiB, MB
	case 'G', 'g':
		bin, dec = GiB, GB
	case 'T', 't':
		bin, dec = TiB, TB
	default:
		return 0, badUnit(u)
	}
	switch rest := u[1:]; rest {
	case "", "i", "I", "iB", "IB":
		return bin, nil
	case "B":
		return dec, nil
	case "b", "ib", "Ib":
		return 0, fmt.Errorf("unit %s: a small b means bits; rates are in bytes (%sB for decimal, %siB for binary)", quote(u), u[:1], u[:1])
	default:
		return 0, badUnit(u)
	}
}

func badUnit(u string) error {
	return fmt.Errorf("unknown unit %s: want B, K, M, G, T (binary), KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB (decimal), optionally followed by /s", quote(u))
}

// String prints the rate in the largest unit that shows it exactly with at
// most two decimals, binary units first ("50MiB/s", "1.5GiB/s", "10MB/s",
// "1234B/s"), and "unlimited" for 0. ParseRate(r.String()) == r for every
// rate ParseRate returns.
func (r Rate) String() string {
	if r <= 0 {
		return "unlimited"
	}
	units := []struct {
		size Rate
		name string
	}{
		{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"},
		{TB, "TB"}, {GB, "GB"}, {MB, "MB"}, {KB, "KB"},
	}
	for _, u := range units {
		// r%u.size < 2^40, so the product cannot overflow.
		if r < u.size || (r%u.size)*100%u.size != 0 {
			continue
		}
		whole, frac := r/u.size, (r%u.size)*100/u.size
		s := strconv.FormatInt(int64(whole), 10)
		if frac != 0 {
			s += strings.TrimRight(fmt.Sprintf(".%02d", frac), "0")
		}
		return s + u.name + "/s"
	}
	return strconv.FormatInt(int64(r), 10) + "B/s"
}

// UnmarshalText makes Rate a kong (and encoding/json, flag.TextVar) value.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText is String, so a Rate round-trips through text encodings.
func (r Rate) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}

// Set makes *Rate a flag.Value.
func (r *Rate) Set(s string) error { return r.UnmarshalText([]byte(s)) }

func quote(s string) string {
	const max = 120
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
