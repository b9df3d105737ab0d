package sqltext

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// escapes maps each byte AppendString must escape to the letter written
// after the backslash, and every other byte to 0. These are the escapes of
// mysql_real_escape_string for a single-byte-safe character set (data
// members run under SET NAMES binary), minus its \" : a double quote needs
// no escape inside a single-quoted literal, and lib/snapfmt promises exactly
// these six.
//
//	\0    NUL: C code reading the script may take it for the end
//	\n \r line ends: a data member holds one statement a line
//	\Z    0x1a, Ctrl-Z: end of file to Windows text-mode reads
//	\' \\ the quote and the escape character themselves
var escapes = [256]byte{
	0:    '0',
	'\n': 'n',
	'\r': 'r',
	0x1a: 'Z',
	'\'': '\'',
	'\\': '\\',
}

// AppendString appends b as a single-quoted SQL string literal with the
// six escapes \0 \' \\ \n \r \Z (see escapes) and every other byte,
// including bytes ≥ 0x80 and '"', copied as it is. The literal is meant
// for a session with a byte-transparent character set (SET NAMES binary,
// or a single-byte one) and without the NO_BACKSLASH_ESCAPES sql_mode,
// which is how data members run.
//
// It does not allocate when dst has room for the literal.
func AppendString(dst, b []byte) []byte {
	return appendString(dst, b)
}

// QuoteString returns s as a single-quoted SQL string literal, escaped as
// by AppendString. It is a convenience for building queries, not for the
// data path.
func QuoteString(s string) string {
	return string(appendString(make([]byte, 0, len(s)+8), s))
}

// InList returns names as the parenthesized list of string literals of
// an IN (...) condition.
func InList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = QuoteString(n)
	}
	return "(" + strings.Join(q, ",") + ")"
}

// appendString serves both AppendString and QuoteString, so that the
// string form needs no conversion copy of its input.
//
// Most values have nothing to escape. For them it makes room for the
// literal once, then tests 8 bytes at a time (mayEscape) and stores each
// word as it goes, the last one overlapping the one before; no per-byte
// work, no memmove call for a 20-byte title. At the first word that may
// hold an escape it hands over to appendEscaped.
func appendString[T string | []byte](dst []byte, b T) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(b)+2)
	dst = append(dst, '\'')
	o := dst[n+1 : n+1+len(b)] // the room for b, in dst's capacity
	i := 0
	// len(o) == len(b); saying so spares a bounds check a word.
	for ; i+8 <= len(b) && i+8 <= len(o); i += 8 {
		w := load64(b, i)
		if mayEscape(w) {
			return appendEscaped(dst, b, i)
		}
		binary.LittleEndian.PutUint64(o[i:i+8], w)
	}
	if len(b) >= 8 {
		if i < len(b) {
			w := load64(b, len(b)-8)
			if mayEscape(w) {
				return appendEscaped(dst, b, i)
			}
			binary.LittleEndian.PutUint64(o[len(o)-8:], w)
		}
	} else {
		for ; i < len(b) && i < len(o); i++ {
			if escapes[b[i]] != 0 {
				return appendEscaped(dst, b, i)
			}
			o[i] = b[i]
		}
	}
	dst = dst[:n+1+len(b)]
	return append(dst, '\'')
}

// appendEscaped appends the rest of the literal for b[i:], where dst
// holds the opening quote and b[:i] is already in its capacity after it.
// It still skips clean words 8 bytes at a time, looks bytes up in the
// table only in a word that may need an escape, and copies the runs
// between escapes with one append each.
func appendEscaped[T string | []byte](dst []byte, b T, i int) []byte {
	dst = dst[:len(dst)+i]
	run := i
	for i < len(b) {
		end := len(b)
		if i+8 <= len(b) {
			if !mayEscape(load64(b, i)) {
				i += 8
				continue
			}
			end = i + 8
		} else if len(b) >= 8 && !mayEscape(load64(b, len(b)-8)) {
			break // the last word, overlapping what was tested
		}
		for ; i < end; i++ {
			if e := escapes[b[i]]; e != 0 {
				dst = append(dst, b[run:i]...)
				dst = append(dst, '\\', e)
				run = i + 1
			}
		}
	}
	dst = append(dst, b[run:]...)
	return append(dst, '\'')
}

// load64 reads b[i:i+8] as a little-endian word; the compiler makes it
// one load.
func load64[T string | []byte](b T, i int) uint64 {
	b = b[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// mayEscape reports whether one of the 8 bytes in x may need an escape:
// it is below 0x1b (which covers NUL, \n, \r and 0x1a, and lets the
// rarer other control bytes through as false alarms), a quote or a
// backslash. These are the "has less than" and "has zero byte" tests of
// Bit Twiddling Hacks; both are exact about whether any byte matches.
func mayEscape(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ ('\'' * ones)
	bs := x ^ ('\\' * ones)
	return ((x-0x1b*ones)&^x|(q-ones)&^q|(bs-ones)&^bs)&highs != 0
}

// AppendHex appends b as a hexadecimal literal: 0x and two lowercase
// digits a byte (lowercase because that is what encoding/hex writes; the
// server reads both). An empty b is appended as the empty string literal
// (two single quotes) instead: a bare 0x is a syntax error in MariaDB, and
// the empty literal is the same empty binary string.
func AppendHex(dst, b []byte) []byte {
	if len(b) == 0 {
		return append(dst, "''"...)
	}
	dst = append(dst, "0x"...)
	return hex.AppendEncode(dst, b)
}

// AppendIdent appends name as a backtick-quoted identifier, with each
// backtick in it doubled, so that any name the server reports (even one
// containing ` or ;) comes back as the same name. It does not check that
// name is a valid identifier: the names come from the server.
func AppendIdent(dst []byte, name string) []byte {
	dst = append(dst, '`')
	for {
		i := strings.IndexByte(name, '`')
		if i < 0 {
			break
		}
		dst = append(dst, name[:i+1]...)
		dst = append(dst, '`')
		name = name[i+1:]
	}
	dst = append(dst, name...)
	return append(dst, '`')
}

// QuoteIdent returns name as a backtick-quoted identifier, as AppendIdent
// writes it.
func QuoteIdent(name string) string {
	return string(AppendIdent(make([]byte, 0, len(name)+4), name))
}
