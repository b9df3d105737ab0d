package sqltext

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", `''`},
		{"abc", `'abc'`},
		{"O'Brien", `'O\'Brien'`},
		{`C:\dir\`, `'C:\\dir\\'`},
		{"a\nb\r\n", `'a\nb\r\n'`},
		{"\x00", `'\0'`},
		{"\x1a", `'\Z'`},
		{`say "hi"`, `'say "hi"'`}, // no \" : not needed inside '...'
		{"\t\b%_", "'\t\b%_'"},     // not escaped either
		{"caf\xc3\xa9 \xff\xfe\x80", "'caf\xc3\xa9 \xff\xfe\x80'"},
		{"''", `'\'\''`},
		{`\'`, `'\\\''`},
		{"12345678'", `'12345678\''`}, // escape after the unrolled loop
		{"1234'5678\n", `'1234\'5678\n'`},
		{"\x00\n\r\x1a'\\", `'\0\n\r\Z\'\\'`},
		{";-- /* # `", "';-- /* # `'"},
	}
	for _, c := range cases {
		if got := string(AppendString(nil, []byte(c.in))); got != c.want {
			t.Errorf("AppendString(%q) = %s, want %s", c.in, got, c.want)
		}
		if got := QuoteString(c.in); got != c.want {
			t.Errorf("QuoteString(%q) = %s, want %s", c.in, got, c.want)
		}
		if got, err := unescape([]byte(c.want)); err != nil || string(got) != c.in {
			t.Errorf("unescape(%s) = %q, %v, want %q", c.want, got, err, c.in)
		}
	}
	// It appends: what dst holds stays.
	if got := string(AppendString([]byte("x="), []byte("it's"))); got != `x='it\'s'` {
		t.Errorf("AppendString after x= = %s", got)
	}
}

// TestAppendStringAllBytes checks every byte value alone and among others,
// against the list in the doc comment rather than the table.
func TestAppendStringAllBytes(t *testing.T) {
	want := map[byte]string{0: `\0`, '\n': `\n`, '\r': `\r`, 0x1a: `\Z`, '\'': `\'`, '\\': `\\`}
	for c := 0; c < 256; c++ {
		w, ok := want[byte(c)]
		if !ok {
			w = string([]byte{byte(c)})
		}
		in := []byte{'a', byte(c), 'b', 'c', 'd', 'e', byte(c)}
		if got, exp := string(AppendString(nil, in)), "'a"+w+"bcde"+w+"'"; got != exp {
			t.Errorf("AppendString(%q) = %q, want %q", in, got, exp)
		}
	}
}

func TestAppendStringNoAlloc(t *testing.T) {
	in := []byte("an ordinary title, with O'Brien in it\n")
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		buf = AppendString(buf[:0], in)
		buf = AppendHex(buf, in)
		buf = AppendIdent(buf, "my`table")
	})
	if n != 0 {
		t.Errorf("AppendString, AppendHex and AppendIdent allocate %v times into a large enough buffer", n)
	}
}

func TestAppendHex(t *testing.T) {
	cases := []struct {
		in   []byte
		want string
	}{
		{nil, `''`},
		{[]byte{}, `''`},
		{[]byte{0}, `0x00`},
		{[]byte{0xde, 0xad, 0xBE, 0xef, 0x01}, `0xdeadbeef01`},
		{[]byte("A'"), `0x4127`},
	}
	for _, c := range cases {
		if got := string(AppendHex([]byte("v="), c.in)); got != "v="+c.want {
			t.Errorf("AppendHex(%x) = %s, want v=%s", c.in, got, c.want)
		}
	}
}

func TestQuoteIdent(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "``"},
		{"t", "`t`"},
		{"my table", "`my table`"},
		{"a`b", "`a``b`"},
		{"`", "````"},
		{"``x``", "`````x`````"},
		{"x;y'z\"", "`x;y'z\"`"},
		{"café", "`café`"},
	}
	for _, c := range cases {
		if got := QuoteIdent(c.in); got != c.want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", c.in, got, c.want)
		}
		if got := string(AppendIdent([]byte("db."), c.in)); got != "db."+c.want {
			t.Errorf("AppendIdent(%q) = %s, want db.%s", c.in, got, c.want)
		}
	}
}

// unescape decodes a literal written by AppendString, strictly: the quotes
// around it, only the six escapes, and no byte that should have been
// escaped.
func unescape(lit []byte) ([]byte, error) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return nil, fmt.Errorf("not in single quotes")
	}
	in := lit[1 : len(lit)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch c {
		case '\\':
			if i+1 == len(in) {
				return nil, fmt.Errorf("backslash at the end escapes the closing quote")
			}
			i++
			d, ok := map[byte]byte{'0': 0, 'n': '\n', 'r': '\r', 'Z': 0x1a, '\'': '\'', '\\': '\\'}[in[i]]
			if !ok {
				return nil, fmt.Errorf("unexpected escape \\%c at %d", in[i], i)
			}
			out = append(out, d)
		case '\'', '\n', '\r', 0, 0x1a:
			return nil, fmt.Errorf("raw %q at %d", c, i)
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func TestUnescapeRejects(t *testing.T) {
	for _, lit := range []string{``, `'`, `abc`, `'a'b'`, "'a\nb'", `'a\'`, `'\x'`, `'\"'`} {
		if got, err := unescape([]byte(lit)); err == nil {
			t.Errorf("unescape(%s) = %q, want an error", lit, got)
		}
	}
}

// FuzzAppendString: every byte string comes back from its literal, and the
// literal is one line with no quote that ends it early, so it survives the
// mariadb client and the Splitter.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "abc", "O'Brien", `\`, "\x00\n\r\x1a", `\'`, "''", "caf\xc3\xa9\xff", strings.Repeat("ab'", 9)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lit := AppendString([]byte("prefix"), b)
		if !bytes.HasPrefix(lit, []byte("prefix")) {
			t.Fatalf("AppendString lost dst: %q", lit)
		}
		lit = lit[len("prefix"):]
		if bytes.IndexByte(lit, '\n') >= 0 {
			t.Fatalf("AppendString(%q) = %q holds a raw newline", b, lit)
		}
		got, err := unescape(lit)
		if err != nil {
			t.Fatalf("AppendString(%q) = %q: %v", b, lit, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("AppendString(%q) = %q, which unescapes to %q", b, lit, got)
		}
		if q := QuoteString(string(b)); q != string(lit) {
			t.Fatalf("QuoteString(%q) = %q, AppendString gives %q", b, q, lit)
		}
		// The Splitter reads it as one string: "SELECT lit;" is one statement.
		stmt := append(append([]byte("SELECT "), lit...), ";SELECT 2"...)
		sp := NewSplitter(stmt)
		s1, _, err := sp.Next()
		if err != nil || !bytes.Equal(s1, stmt[:len(stmt)-len(";SELECT 2")]) {
			t.Fatalf("Splitter on %q: %q, %v", stmt, s1, err)
		}
	})
}

// TestAppendStringPositions puts each byte that matters (the six, and \t,
// which the word test lets through as a false alarm) at every position of
// values of every length around the 8-byte words, into a dst with no room
// to spare, and compares with a byte-at-a-time escaper.
func TestAppendStringPositions(t *testing.T) {
	simple := func(dst, b []byte) []byte {
		dst = append(dst, '\'')
		for _, c := range b {
			if e, ok := map[byte]byte{0: '0', '\n': 'n', '\r': 'r', 0x1a: 'Z', '\'': '\'', '\\': '\\'}[c]; ok {
				dst = append(dst, '\\', e)
			} else {
				dst = append(dst, c)
			}
		}
		return append(dst, '\'')
	}
	for n := 1; n <= 34; n++ {
		for p := range n {
			for _, c := range []byte{0, '\n', '\r', 0x1a, '\'', '\\', '\t'} {
				b := bytes.Repeat([]byte{'x'}, n)
				b[p] = c
				b[n-1-p] = c
				dst := make([]byte, 3) // no spare capacity
				if got, want := AppendString(dst, b), simple(make([]byte, 3), b); !bytes.Equal(got, want) {
					t.Errorf("AppendString(%q) = %q, want %q", b, got, want)
				}
				if got, want := QuoteString(string(b)), string(simple(nil, b)); got != want {
					t.Errorf("QuoteString(%q) = %q, want %q", b, got, want)
				}
			}
		}
	}
}

func TestAbbrev(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"SELECT 1", 20, "SELECT 1"},
		{"SELECT 123456789", 10, "SELECT ..."},
		{"ab€cd", 6, "ab..."}, // € is 3 bytes: not cut in two
	} {
		if got := Abbrev(tc.in, tc.n); got != tc.want {
			t.Errorf("Abbrev(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestInList(t *testing.T) {
	if got := InList([]string{"a", "it's"}); got != `('a','it\'s')` {
		t.Errorf("InList = %s", got)
	}
}
