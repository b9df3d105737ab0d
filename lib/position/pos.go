// Package position holds the two ways a MySQL or MariaDB server names a
// point in its history: a binlog file:offset pair (Pos) and a GTID set (Set),
// in both the MariaDB (domain-server-seq) and the MySQL (uuid:intervals)
// forms. Everything here is plain data: parsing, canonical printing and
// comparison, with no server access.
package position

import (
	"fmt"
	"strconv"
	"strings"
)

// Pos is a binlog position: a file name as the server reports it (a base
// name such as "mysql-bin.000042", never a path) and a byte offset in it.
type Pos struct {
	File   string `json:"file"`
	Offset uint64 `json:"offset"`
}

// ParsePos parses "file:offset", e.g. "mysql-bin.000042:1234". The offset
// follows the last colon, so the rare file name that contains one still
// round-trips through String.
func ParsePos(s string) (Pos, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Pos{}, fmt.Errorf("invalid binlog position %s: want file:offset", quote(s))
	}
	file, off := s[:i], s[i+1:]
	if err := checkFile(file); err != nil {
		return Pos{}, fmt.Errorf("invalid binlog position %s: %w", quote(s), err)
	}
	n, err := strconv.ParseUint(off, 10, 64)
	if err != nil {
		return Pos{}, fmt.Errorf("invalid binlog position %s: offset %s is not a number", quote(s), quote(off))
	}
	return Pos{File: file, Offset: n}, nil
}

// checkFile rejects names that could not have come from a server. Slashes
// are refused because callers join the name to a directory: a name from a
// corrupt state file must not be able to point outside it.
func checkFile(file string) error {
	if file == "" {
		return fmt.Errorf("empty file name")
	}
	if file == "." || file == ".." || strings.ContainsRune(file, '/') {
		return fmt.Errorf("file name %s is a path; want a binlog base name", quote(file))
	}
	for _, r := range file {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("file name %s contains a control character", quote(file))
		}
	}
	return nil
}

// String returns "file:offset", or "" for the zero Pos.
func (p Pos) String() string {
	if p.IsZero() {
		return ""
	}
	return p.File + ":" + strconv.FormatUint(p.Offset, 10)
}

// IsZero reports whether p is the zero Pos (no position known).
func (p Pos) IsZero() bool { return p.File == "" && p.Offset == 0 }

// splitFile splits "mysql-bin.000042" into "mysql-bin" and "000042". ok is
// false when the name has no all-digit suffix after its last dot.
func splitFile(file string) (base, digits string, ok bool) {
	i := strings.LastIndexByte(file, '.')
	if i < 0 || i == len(file)-1 {
		return file, "", false
	}
	for j := i + 1; j < len(file); j++ {
		if file[j] < '0' || file[j] > '9' {
			return file, "", false
		}
	}
	return file[:i], file[i+1:], true
}

// Index returns the numeric suffix of a binlog file name (42 for
// "mysql-bin.000042"); ok is false when there is none or it overflows.
func Index(file string) (uint64, bool) {
	_, digits, ok := splitFile(file)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Next returns the name of the file that follows file in its series,
// keeping the zero-padded width ("mysql-bin.000009" -> "mysql-bin.000010").
// Like the server, it lets the number grow wider than the padding
// ("mysql-bin.999999" -> "mysql-bin.1000000").
func Next(file string) (string, error) {
	base, digits, ok := splitFile(file)
	if !ok {
		return "", fmt.Errorf("binlog file name %s has no numeric suffix", quote(file))
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == ^uint64(0) {
		return "", fmt.Errorf("binlog file name %s: suffix overflows", quote(file))
	}
	return fmt.Sprintf("%s.%0*d", base, len(digits), n+1), nil
}

// SameSeries reports whether a and b name files of one numbered series
// (same base name, both with a numeric suffix), so that their order is the
// order in which the server wrote them.
func SameSeries(a, b Pos) bool {
	ab, _, aok := splitFile(a.File)
	bb, _, bok := splitFile(b.File)
	return aok && bok && ab == bb
}

// Compare orders positions: within a series by file number then offset
// ("mysql-bin.000010" after "mysql-bin.000009"), and otherwise by base name,
// so that any mix of names still sorts in one consistent order. It returns
// -1, 0 or +1.
func Compare(a, b Pos) int {
	ab, ad, aok := splitFile(a.File)
	bb, bd, bok := splitFile(b.File)
	if c := strings.Compare(ab, bb); c != 0 {
		return c
	}
	// Same base: names with a number sort after the bare name, then by
	// the number's value rather than its text.
	switch {
	case aok && !bok:
		return 1
	case !aok && bok:
		return -1
	case aok && bok:
		if c := compareDigits(ad, bd); c != 0 {
			return c
		}
	}
	if c := strings.Compare(a.File, b.File); c != 0 {
		return c
	}
	switch {
	case a.Offset < b.Offset:
		return -1
	case a.Offset > b.Offset:
		return 1
	}
	return 0
}

// compareDigits compares decimal strings by value without parsing them, so
// that suffixes too long for uint64 still order correctly.
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// quote quotes user input for an error message, cutting it short: a GTID
// set read from a busy MySQL server can run to kilobytes.
func quote(s string) string {
	const max = 120
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
