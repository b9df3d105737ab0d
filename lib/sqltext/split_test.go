package sqltext

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// split returns the statements of script as "line:text", the form the
// tests write them in.
func split(script string) ([]string, error) {
	var out []string
	s := NewSplitter([]byte(script))
	for {
		stmt, line, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%d:%s", line, stmt))
	}
}

func TestSplitter(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"blank", " \n\t\r\n  ", nil},
		{"one", "SELECT 1;", []string{"1:SELECT 1"}},
		{"no final delimiter", "SELECT 1;\n SELECT 2 \n", []string{"1:SELECT 1", "2:SELECT 2"}},
		{"two on a line", "SELECT 1;SELECT 2;", []string{"1:SELECT 1", "1:SELECT 2"}},
		{"multi-line", "\n\nSELECT\n  1\n  ;\nSELECT 2;\n", []string{"3:SELECT\n  1", "6:SELECT 2"}},
		{"empty statements", ";;  ;\n;SELECT 1;;", []string{"2:SELECT 1"}},
		{"crlf", "SELECT 1;\r\nSELECT\r\n2;\r\n", []string{"1:SELECT 1", "2:SELECT\r\n2"}},

		{"single quotes", `SELECT 'a;b', 'it''s;', 'O\'Brien;', '\\';`,
			[]string{`1:SELECT 'a;b', 'it''s;', 'O\'Brien;', '\\'`}},
		{"escaped backslash then quote", `SELECT '\\\';', 'x\\\\';`, []string{`1:SELECT '\\\';', 'x\\\\'`}},
		{"double quotes", `SELECT "a;b", "say ""x;""", "q\";";`, []string{`1:SELECT "a;b", "say ""x;""", "q\";"`}},
		{"other quotes inside", "SELECT '\"`;', \"';`\", `'\";`;",
			[]string{"1:SELECT '\"`;', \"';`\", `'\";`"}},
		{"backticks", "SELECT `a;b`, `x``;y`, `back\\`;", []string{"1:SELECT `a;b`, `x``;y`, `back\\`"}},
		{"string with newline", "INSERT INTO t VALUES ('a\n;b');\nSELECT 1;", []string{"1:INSERT INTO t VALUES ('a\n;b')", "3:SELECT 1"}},
		{"double semicolon in string", "SELECT ';;';", []string{"1:SELECT ';;'"}},
		{"hex and negatives", "INSERT INTO t VALUES (0x27,-1,--2,'');", []string{"1:INSERT INTO t VALUES (0x27,-1,--2,'')"}},

		{"dash comment", "-- lead; 'x\nSELECT 1; -- trail; \"\nSELECT 2;", []string{"2:SELECT 1", "3:SELECT 2"}},
		{"dash comment tab and eof", "SELECT 1;--\tx\n--", []string{"1:SELECT 1"}},
		{"dash dash no space", "SELECT 1 --2;", []string{"1:SELECT 1 --2"}},
		{"dash comment crlf", "SELECT 1 --\r\n;", []string{"1:SELECT 1"}},
		{"hash comment", "# one; 'x\nSELECT 1 # two; `\n, 2;", []string{"2:SELECT 1 # two; `\n, 2"}},
		{"block comment", "/* a; 'b\n c */ SELECT /* ; */ 1;/**/", []string{"2:SELECT /* ; */ 1"}},
		{"block comment only", "/* ; */;\n-- x\n# y\n", nil},
		{"comment slash star slash", "SELECT 1 /*/ ; */;", []string{"1:SELECT 1"}},
		{"trailing comments dropped", "SELECT 1 /* a */ -- b\n # c\n /* d */ ;SELECT 2 /* e */ \n", []string{"1:SELECT 1", "3:SELECT 2"}},
		{"comment then text", "SELECT 1 /* a */ + 2 -- b\n + 3;", []string{"1:SELECT 1 /* a */ + 2 -- b\n + 3"}},
		{"divide", "SELECT 4/2;SELECT 4 / 2;", []string{"1:SELECT 4/2", "1:SELECT 4 / 2"}},
		{"comment chars in strings", "SELECT '-- x;', '# y;', '/* z;';", []string{"1:SELECT '-- x;', '# y;', '/* z;'"}},

		{"executable comments kept", "/*!40101 SET NAMES binary*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0*/;\n/*M!100100 SET x=1 */;",
			[]string{"1:/*!40101 SET NAMES binary*/", "2:/*!40014 SET FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0*/", "3:/*M!100100 SET x=1 */"}},
		{"delimiter inside executable comment ends it", "/*!50003 SET a=1; SET b=2 */;",
			[]string{"1:/*!50003 SET a=1", "1:SET b=2 */"}},
		{"executable comment then plain", "SELECT /*!1 'x;' */ 1 /* y */;", []string{"1:SELECT /*!1 'x;' */ 1"}},

		{"delimiter", "DELIMITER ;;\nSELECT 1; SELECT 2;;\nDELIMITER ;\nSELECT 3;",
			[]string{"2:SELECT 1; SELECT 2", "4:SELECT 3"}},
		{"delimiter any case and blanks", "  delimiter\t$$  junk\nSELECT 1$$\nDeLiMiTeR ;\r\nSELECT 2;",
			[]string{"2:SELECT 1", "4:SELECT 2"}},
		{"delimiter after statement", "SELECT 1; DELIMITER //\nSELECT 2//", []string{"1:SELECT 1", "2:SELECT 2"}},
		{"delimiter after comment", "/* x */ DELIMITER // \nSELECT 2//", []string{"2:SELECT 2"}},
		{"delimiter flushes statement", "SELECT 1\nDELIMITER ;;\nSELECT 2;;", []string{"1:SELECT 1", "3:SELECT 2"}},
		{"delimiter flushes after comment", "SELECT 1 -- c\n  DELIMITER ;;\nSELECT 2;;", []string{"1:SELECT 1", "3:SELECT 2"}},
		{"delimiter quoted", "DELIMITER ';'';'\nSELECT 1;';\nDELIMITER \"$\"\nSELECT 2$", []string{"2:SELECT 1", "4:SELECT 2"}},
		{"delimiter word without blank is text", "SELECT\ndelimiter\n;", []string{"1:SELECT\ndelimiter"}},
		{"delimiter mid-line is text", "SELECT 1 AS delimiter ;", []string{"1:SELECT 1 AS delimiter"}},
		{"delimiter in string", "SELECT '\nDELIMITER ;;\n';", []string{"1:SELECT '\nDELIMITER ;;\n'"}},
		{"delimiter in comment", "/*\nDELIMITER ;;\n*/SELECT 1;", []string{"3:SELECT 1"}},
		{"long delimiter partial match", "DELIMITER ;;\nSELECT ';;' ; 1 ;;", []string{"2:SELECT ';;' ; 1"}},
		{"delimiter starting like a comment", "DELIMITER //\nSELECT 1 /* x */ //SELECT 2//", []string{"2:SELECT 1", "2:SELECT 2"}},
		{"delimiter hash", "DELIMITER #\nSELECT 1#SELECT 2 # x\n#", []string{"2:SELECT 1", "2:SELECT 2", "2:x"}},
		{"trigger", "DELIMITER ;;\n" +
			"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t_bi` BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n" +
			"  SET NEW.a = ';';\n" +
			"  IF NEW.b IS NULL THEN SET NEW.b = 0; END IF;\n" +
			"END */;;\n" +
			"DELIMITER ;\n" +
			"SELECT 1;\n",
			[]string{"2:/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `t_bi` BEFORE INSERT ON `t` FOR EACH ROW BEGIN\n" +
				"  SET NEW.a = ';';\n" +
				"  IF NEW.b IS NULL THEN SET NEW.b = 0; END IF;\n" +
				"END */", "7:SELECT 1"}},
		{"routine", "DELIMITER ;;\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 'a;;b';\nEND ;;\nDELIMITER ;\n",
			[]string{"2:CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 'a;;b';\nEND"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := split(c.in)
			if err != nil {
				t.Fatalf("split(%q): %v", c.in, err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
				t.Errorf("split(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
			ref, err := refSplit([]byte(c.in))
			if err != nil || fmt.Sprintf("%q", ref) != fmt.Sprintf("%q", c.want) {
				t.Errorf("refSplit(%q) = %q, %v", c.in, ref, err)
			}
		})
	}
}

func TestSplitterErrors(t *testing.T) {
	cases := []struct {
		in   string
		ok   []string // the statements before the error
		line int
		msg  string
	}{
		{"SELECT 1;\nSELECT 'abc;\n\n", []string{"1:SELECT 1"}, 2, "unterminated string ('...)"},
		{"SELECT 'a\\';", nil, 1, "unterminated string ('...)"},
		{"SELECT 'a\\", nil, 1, "unterminated string ('...)"},
		{"SELECT 1;\n\nSELECT \"a;\nb", []string{"1:SELECT 1"}, 3, `unterminated string ("...)`},
		{"SELECT `a``b;", nil, 1, "unterminated quoted identifier (`...)"},
		{"SELECT 1 /* x;\n*", nil, 1, "unterminated comment (/*...)"},
		{"SELECT 1;\n/* x", []string{"1:SELECT 1"}, 2, "unterminated comment (/*...)"},
		{"SELECT 1;\r\n\r\nDELIMITER \r\nSELECT 2", []string{"1:SELECT 1"}, 3, "DELIMITER must be followed by a delimiter"},
		{"DELIMITER ", nil, 1, "DELIMITER must be followed by a delimiter"},
		{"DELIMITER \\;", nil, 1, `DELIMITER "\\;" contains a backslash`},
		{"DELIMITER ';", nil, 1, "DELIMITER argument has no closing '"},
		{"DELIMITER ' ;'", nil, 1, `DELIMITER " ;" contains whitespace`},
	}
	for _, c := range cases {
		got, err := split(c.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("split(%q) = %q, %v; want a *SyntaxError", c.in, got, err)
			continue
		}
		if se.Line != c.line || se.Msg != c.msg {
			t.Errorf("split(%q): %v; want line %d: %s", c.in, err, c.line, c.msg)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.ok) {
			t.Errorf("split(%q) gave %q before the error, want %q", c.in, got, c.ok)
		}
		if want := fmt.Sprintf("line %d: %s", c.line, c.msg); err.Error() != want {
			t.Errorf("error text %q, want %q", err, want)
		}
		ref, rerr := refSplit([]byte(c.in))
		if fmt.Sprintf("%q %v", ref, rerr) != fmt.Sprintf("%q %v", got, err) {
			t.Errorf("refSplit(%q) = %q, %v", c.in, ref, rerr)
		}
	}
}

// TestSplitterSticky: after the end or an error, Next keeps saying so.
func TestSplitterSticky(t *testing.T) {
	s := NewSplitter([]byte("SELECT 1"))
	if stmt, line, err := s.Next(); string(stmt) != "SELECT 1" || line != 1 || err != nil {
		t.Fatalf("Next = %q, %d, %v", stmt, line, err)
	}
	for range 2 {
		if stmt, line, err := s.Next(); stmt != nil || line != 0 || err != io.EOF {
			t.Fatalf("Next at the end = %q, %d, %v", stmt, line, err)
		}
	}
	s = NewSplitter([]byte("SELECT 1;\n'x"))
	s.Next()
	_, line1, err1 := s.Next()
	_, line2, err2 := s.Next()
	if err1 == nil || err1 != err2 || line1 != 2 || line2 != 2 {
		t.Fatalf("Next after an error: line %d, %v, then line %d, %v", line1, err1, line2, err2)
	}
}

// TestSplitterAliases: statements are slices of the script, and appending
// to one does not write into the script.
func TestSplitterAliases(t *testing.T) {
	script := []byte("SELECT 1;SELECT 2;")
	orig := string(script)
	s := NewSplitter(script)
	stmt, _, _ := s.Next()
	if &stmt[0] != &script[0] {
		t.Errorf("statement is a copy")
	}
	_ = append(stmt, 'X')
	if string(script) != orig {
		t.Errorf("append to a statement changed the script to %q", script)
	}
}

// TestSplitterDataMember splits what dr-snap writes: the preamble and
// INSERTs of AppendString and AppendHex values holding every byte.
func TestSplitterDataMember(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	script := []byte("/*!40101 SET NAMES binary*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0*/;\n" +
		"SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO', time_zone='+00:00';\nUSE `db;1`;\n")
	var want []string
	for i := range 3 {
		row := AppendIdent([]byte("INSERT INTO "), "t`;")
		row = append(row, " VALUES ("...)
		row = AppendString(row, all)
		row = append(row, ',')
		row = AppendHex(row, all[i:])
		row = append(row, ',')
		row = AppendString(row, []byte(strings.Repeat("\\';", i)))
		row = append(row, ')')
		want = append(want, fmt.Sprintf("%d:%s", 5+i, row))
		script = append(append(script, row...), ";\n"...)
	}
	got, err := split(string(script))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || fmt.Sprintf("%q", got[4:]) != fmt.Sprintf("%q", want) {
		t.Errorf("split data member:\n got %q\nwant %q", got, want)
	}
	if got[3] != "4:USE `db;1`" {
		t.Errorf("statement 4 = %q", got[3])
	}
}

func TestParseDelimiter(t *testing.T) {
	cases := []struct{ in, want, msg string }{
		{";;", ";;", ""},
		{"  $$ rest", "$$", ""},
		{"//\r", "//", ""},
		{"'a''b'", "a'b", ""},
		{"`;;` x", ";;", ""},
		{`";"`, ";", ""},
		{"", "", "DELIMITER must be followed by a delimiter"},
		{" \t", "", "DELIMITER must be followed by a delimiter"},
		{"''", "", "DELIMITER must be followed by a delimiter"},
		{`a\b`, "", `DELIMITER "a\\b" contains a backslash`},
		{`"x`, "", `DELIMITER argument has no closing "`},
		{"'a\tb'", "", `DELIMITER "a\tb" contains whitespace`},
	}
	for _, c := range cases {
		d, msg := parseDelimiter([]byte(c.in))
		if string(d) != c.want || msg != c.msg {
			t.Errorf("parseDelimiter(%q) = %q, %q; want %q, %q", c.in, d, msg, c.want, c.msg)
		}
	}
}

// refSplit states the Splitter's rules again, a byte at a time and without
// any of its shortcuts (stop table, IndexByte jumps, backslash parity, the
// cut state, lazy line counts), for the tests to compare against.
func refSplit(src []byte) ([]string, error) {
	s := string(src)
	delim := ";"
	line, lineEnd := 1, 0 // the line of s[lineEnd]
	lineAt := func(p int) int {
		line += strings.Count(s[lineEnd:p], "\n")
		lineEnd = p
		return line
	}
	ws := func(c byte) bool { return strings.IndexByte(" \t\n\v\f\r", c) >= 0 }
	eol := func(p int) int {
		if k := strings.IndexByte(s[p:], '\n'); k >= 0 {
			return p + k
		}
		return len(s)
	}
	isCmd := func(p int) bool {
		return len(s)-p >= 10 && strings.EqualFold(s[p:p+9], "delimiter") && (s[p+9] == ' ' || s[p+9] == '\t')
	}
	// comment returns the end of a plain comment at p, -1 if there is none,
	// -2 if it never ends.
	comment := func(p int) int {
		switch {
		case s[p] == '#':
			return eol(p)
		case strings.HasPrefix(s[p:], "--") && (p+2 == len(s) || ws(s[p+2])):
			return eol(p)
		case strings.HasPrefix(s[p:], "/*") && !strings.HasPrefix(s[p+2:], "!") && !strings.HasPrefix(s[p+2:], "M!"):
			k := strings.Index(s[p+2:], "*/")
			if k < 0 {
				return -2
			}
			return p + 2 + k + 2
		}
		return -1
	}
	var out []string
	p := 0
	for {
		for p < len(s) {
			if ws(s[p]) {
				p++
				continue
			}
			if isCmd(p) {
				d, msg := parseDelimiter([]byte(s[p+10 : eol(p)]))
				if msg != "" {
					return out, &SyntaxError{lineAt(p), msg}
				}
				delim, p = string(d), eol(p)
				continue
			}
			if strings.HasPrefix(s[p:], delim) {
				p += len(delim)
				continue
			}
			e := comment(p)
			if e == -2 {
				return out, &SyntaxError{lineAt(p), "unterminated comment (/*...)"}
			}
			if e < 0 {
				break
			}
			p = e
		}
		if p == len(s) {
			return out, nil
		}
		start, last := p, p // last: after the last byte that is neither whitespace nor comment
	stmt:
		for p < len(s) {
			if strings.HasPrefix(s[p:], delim) {
				p += len(delim)
				break
			}
			switch c := s[p]; {
			case c == '\n':
				p++
				q := p
				for q < len(s) && s[q] != '\n' && ws(s[q]) {
					q++
				}
				if isCmd(q) {
					p = q
					break stmt
				}
			case ws(c):
				p++
			case c == '\'' || c == '"' || c == '`':
				q := p + 1
				for {
					if q >= len(s) {
						what := "string"
						if c == '`' {
							what = "quoted identifier"
						}
						return out, &SyntaxError{lineAt(p), fmt.Sprintf("unterminated %s (%c...)", what, c)}
					}
					if s[q] == '\\' && c != '`' {
						q += 2
						continue
					}
					if s[q] == c {
						if q+1 < len(s) && s[q+1] == c {
							q += 2
							continue
						}
						break
					}
					q++
				}
				p = q + 1
				last = p
			default:
				e := comment(p)
				if e == -2 {
					return out, &SyntaxError{lineAt(p), "unterminated comment (/*...)"}
				}
				if e >= 0 {
					p = e
					continue
				}
				p++
				last = p
			}
		}
		out = append(out, strconv.Itoa(lineAt(start))+":"+s[start:last])
	}
}

// collect runs the Splitter to the end, checking as it goes what must hold
// for any input.
func collect(t *testing.T, script []byte) ([]string, error) {
	t.Helper()
	var out []string
	s := NewSplitter(script)
	lines := 1 + bytes.Count(script, []byte{'\n'})
	for n := 0; ; n++ {
		if n > len(script) {
			t.Fatalf("more statements than bytes in %q", script)
		}
		stmt, line, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Line > lines || line != se.Line {
				t.Fatalf("Next on %q: line %d, %v", script, line, err)
			}
			return out, err
		}
		if len(stmt) == 0 || isSpace(stmt[0]) || isSpace(stmt[len(stmt)-1]) || line < 1 || line > lines {
			t.Fatalf("Next on %q = %q, line %d", script, stmt, line)
		}
		if cap(stmt) != len(stmt) {
			t.Fatalf("Next on %q = %q with room to append into the script", script, stmt)
		}
		out = append(out, strconv.Itoa(line)+":"+string(stmt))
	}
}

// tokens are pieces of SQL that the statements of FuzzSplitter are made
// of, chosen for holding delimiters, quotes and comment starts that must
// not count, and comments that must.
var tokens = []string{
	"1", "-2", "--3", "4/5", "0x0A", "''", "'it''s;'", `'\\'`, `'\';'`,
	`"dq;\"x"`, `"a""b;"`, "`id;``x`", "`a\\`",
	"/* ; ' \" ` */ 6", "7 -- ; '\n", "8 # ;\"\n", "9 --\r\n",
	"/*!40101 10*/", "/*M!100100 11*/", "/*!*/12",
	"/* -- */ 13", "'/*'", "'-- '", "'#'", "\"DELIMITER ;;\n\"",
}

// FuzzSplitter: on any script the Splitter does not panic, returns what
// the byte-at-a-time refSplit returns, and on scripts made of statements
// joined with ";\n" returns exactly those statements.
func FuzzSplitter(f *testing.F) {
	for _, s := range []string{
		"", "SELECT 1;", "SELECT 'a;b'; SELECT 2", "DELIMITER ;;\nSELECT 1;;\nDELIMITER ;\n",
		"-- x\n/* y */ # z\n", "'x", "/*! a; b */;", "SELECT 1\nDELIMITER //\nSELECT 2//",
		"a\xffb\xffc\x00'\n\\\xff\xff", "\r\n;\t;", "SELECT `x``;` /* */ -- \n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := collect(t, data)
		ref, rerr := refSplit(data)
		if !slices.Equal(got, ref) || fmt.Sprint(err) != fmt.Sprint(rerr) {
			t.Fatalf("on %q:\nSplitter %q, %v\nrefSplit %q, %v", data, got, err, ref, rerr)
		}

		// Statements from the data: each piece between 0xff bytes becomes a
		// value, as a string, a token and hex, after an optional comment.
		var prefixes, stmts [][]byte
		for k, v := range bytes.Split(data, []byte{0xff}) {
			if k == 16 {
				break
			}
			prefixes = append(prefixes, []byte([]string{"", "# lead;\n", "/* lead; ' */ "}[k%3]))
			stmt := AppendIdent([]byte("INSERT INTO "), "t;`"+string(v))
			stmt = append(stmt, " VALUES ("...)
			stmt = AppendString(stmt, v)
			stmt = append(stmt, ',')
			stmt = append(stmt, tokens[(len(v)+k)%len(tokens)]...)
			stmt = append(stmt, ',')
			stmt = AppendHex(stmt, v)
			stmt = append(stmt, ')')
			stmts = append(stmts, stmt)
		}
		for _, d := range []string{";", ";;", "$$"} {
			var script []byte
			var want []string
			if d != ";" {
				script = append(script, "DELIMITER "+d+"\n"...)
			}
			for k, stmt := range stmts {
				script = append(script, prefixes[k]...)
				want = append(want, strconv.Itoa(1+bytes.Count(script, []byte{'\n'}))+":"+string(stmt))
				script = append(append(script, stmt...), d+"\n"...)
			}
			if d != ";" {
				script = append(script, "DELIMITER ;\n"...)
			}
			got, err := collect(t, script)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("on %q:\n got %q, %v\nwant %q", script, got, err, want)
			}
		}
	})
}
