package apply

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dr-mysql/dr/lib/sqltext"
)

// UserVar is a USER_VAR event: the value a user variable had when the
// statement after it ran on the source, which statement-based logging
// (binlog_format STATEMENT, or MIXED, MariaDB's default) writes before
// a statement that reads it.
type UserVar struct {
	Name      string
	Null      bool
	Type      byte   // the server's Item_result: string, real, int, decimal
	Collation uint32 // of a string
	Value     []byte
	Unsigned  bool   // of an int
	Decimal   string // of a DECIMAL, as text
}

// Item_result values.
const (
	userVarString  = 0
	userVarReal    = 1
	userVarInt     = 2
	userVarDecimal = 4
)

var errUserVar = errors.New("malformed USER_VAR event")

// ParseUserVar reads the body of a USER_VAR event: the name's length and
// the name, a NULL flag, then the type, the collation, the value's length
// and the value, and optionally a flags byte (1: unsigned).
func ParseUserVar(b []byte) (UserVar, error) {
	var v UserVar
	if len(b) < 5 {
		return v, errUserVar
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n)+5 > uint64(len(b)) {
		return v, errUserVar
	}
	v.Name, b = string(b[4:4+n]), b[4+n:]
	v.Null, b = b[0] != 0, b[1:]
	if v.Null {
		return v, nil
	}
	if len(b) < 9 {
		return v, errUserVar
	}
	v.Type = b[0]
	v.Collation = binary.LittleEndian.Uint32(b[1:])
	n = binary.LittleEndian.Uint32(b[5:])
	b = b[9:]
	if uint64(n) > uint64(len(b)) {
		return v, errUserVar
	}
	// A copy: the event's bytes are the reader's, reused for the next.
	v.Value, b = bytes.Clone(b[:n]), b[n:]
	if len(b) > 0 {
		v.Unsigned = b[0]&1 != 0
	}
	switch v.Type {
	case userVarReal, userVarInt:
		if len(v.Value) != 8 {
			return v, fmt.Errorf("%w: %d bytes for a number", errUserVar, len(v.Value))
		}
	case userVarDecimal:
		var err error
		if v.Decimal, err = decodeDecimal(v.Value); err != nil {
			return v, err
		}
	case userVarString:
	default:
		return v, fmt.Errorf("%w: type %d", errUserVar, v.Type)
	}
	return v, nil
}

// SQL sets the variable as the source had it. collations names a
// string's collation and its character set. A collation the target does
// not have is an error: as binary, the value would compare differently in
// the statements that use it.
func (v UserVar) SQL(collations map[uint32]Collation) (string, error) {
	b := []byte("SET @")
	b = sqltext.AppendIdent(b, v.Name)
	b = append(b, " := "...)
	switch {
	case v.Null:
		b = append(b, "NULL"...)
	case v.Type == userVarInt && v.Unsigned:
		b = strconv.AppendUint(b, binary.LittleEndian.Uint64(v.Value), 10)
	case v.Type == userVarInt:
		b = strconv.AppendInt(b, int64(binary.LittleEndian.Uint64(v.Value)), 10)
	case v.Type == userVarReal:
		f := math.Float64frombits(binary.LittleEndian.Uint64(v.Value))
		// A DOUBLE literal (with an exponent) keeps the type.
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
	case v.Type == userVarDecimal:
		b = append(b, v.Decimal...)
	default:
		c, ok := collations[v.Collation]
		if !ok {
			return "", fmt.Errorf("user variable @%s: the target has no collation number %d", v.Name, v.Collation)
		}
		b = append(b, '_')
		b = append(b, c.Charset...)
		b = append(b, ' ')
		b = sqltext.AppendHex(b, v.Value)
		b = append(b, " COLLATE "...)
		b = sqltext.AppendIdent(b, c.Name)
	}
	return string(b), nil
}

var pow10 = [10]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// decodeDecimal reads the server's binary DECIMAL of a user variable: a
// byte of precision, one of scale, then the digits in groups of nine, four
// bytes a group and fewer for the leftover digits, big-endian, the first
// bit inverted for the sign and every byte inverted when negative.
func decodeDecimal(b []byte) (string, error) {
	if len(b) < 2 {
		return "", errUserVar
	}
	prec, scale := int(b[0]), int(b[1])
	if prec == 0 || scale > prec || prec > 65 {
		return "", fmt.Errorf("%w: DECIMAL(%d,%d)", errUserVar, prec, scale)
	}
	digBytes := [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}
	intg := prec - scale
	size := intg/9*4 + digBytes[intg%9] + scale/9*4 + digBytes[scale%9]
	d := b[2:]
	if len(d) < size {
		return "", errUserVar
	}
	d = append([]byte(nil), d[:size]...)
	neg := d[0]&0x80 == 0
	d[0] ^= 0x80
	if neg {
		for i := range d {
			d[i] ^= 0xff
		}
	}
	// group reads the next group of digits, which must have no more
	// than it may: corrupt bytes are no number, not another one.
	pos := 0
	var bad bool
	group := func(digits int) uint64 {
		n := digBytes[digits]
		var x uint64
		for _, c := range d[pos : pos+n] {
			x = x<<8 | uint64(c)
		}
		pos += n
		if x >= pow10[digits] {
			bad = true
		}
		return x
	}
	var ip, fp strings.Builder
	if intg%9 > 0 {
		ip.WriteString(strconv.FormatUint(group(intg%9), 10))
	}
	for range intg / 9 {
		fmt.Fprintf(&ip, "%09d", group(9))
	}
	for range scale / 9 {
		fmt.Fprintf(&fp, "%09d", group(9))
	}
	if scale%9 > 0 {
		fmt.Fprintf(&fp, "%0*d", scale%9, group(scale%9))
	}
	if bad {
		return "", fmt.Errorf("%w: a DECIMAL digit group out of range", errUserVar)
	}
	s := strings.TrimLeft(ip.String(), "0")
	if s == "" {
		s = "0"
	}
	if fp.Len() > 0 {
		s += "." + fp.String()
	}
	if neg {
		s = "-" + s
	}
	return s, nil
}
