package sqltext

import (
	"bytes"
	"fmt"
	"io"
)

// SyntaxError is a script the Splitter cannot cut: a string, quoted
// identifier or comment that never ends, or a bad DELIMITER line. Line is
// 1-based and names where the construct began, which is where a DBA has to
// look; the end of the file says nothing.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Splitter cuts a script into statements the way the mariadb command-line
// client does when it reads the script on stdin, so that dr-replay
// executes what `mariadb < member` would:
//
//   - Statements end at the delimiter, ";" at first. A DELIMITER line
//     ("DELIMITER ;;", case-insensitive, the word first on its line or
//     first in a statement, followed by a blank) sets the delimiter for
//     the statements after it and is not a statement itself; its argument
//     is the first word after it, or a quoted string. Like the client, a
//     DELIMITER line ends the statement before it even if that statement
//     lacks its delimiter.
//   - The delimiter does not count inside '...' and "..." strings
//     (backslash escapes and doubled quotes), `...` identifiers (doubled
//     backticks), and comments: "-- " (two dashes then a blank or the
//     end) and "#" to the end of the line, and /* ... */.
//   - Executable comments, /*! ... */ and /*M! ... */, are not comments
//     here: they are statement text, and a delimiter inside one ends the
//     statement, as in the client. That is why dumps wrap triggers in
//     "DELIMITER ;;".
//   - Plain comments and whitespace around a statement are dropped, so a
//     statement never ends in a "--" comment that would swallow a ";"
//     appended to it; comments inside it are kept. A statement with
//     nothing but comments and whitespace is skipped.
//   - The last statement needs no delimiter.
//
// The client's backslash commands (\g, \G, \c, ...) are not recognised:
// dr-snap never writes them. Neither is the ANSI_QUOTES sql_mode, under
// which "..." would be an identifier without backslash escapes; it makes
// no difference to where statements end unless a "..." ends in a
// backslash.
type Splitter struct {
	src   []byte
	pos   int    // where the search for the next statement starts
	delim []byte // never empty, never with a blank
	// stop marks the bytes the statement scan must look at: quotes,
	// comment starts, newlines (a DELIMITER line may follow) and the first
	// byte of the delimiter. Everything else is skipped a table lookup at
	// a time.
	stop   [256]bool
	line   int // the 1-based line number of src[lineAt]; counted lazily
	lineAt int
	err    error // sticky: a SyntaxError or io.EOF
}

// baseStop is Splitter.stop without the delimiter.
var baseStop = func() (t [256]bool) {
	for _, c := range []byte("'\"`#-/\n") {
		t[c] = true
	}
	return t
}()

// NewSplitter returns a Splitter over script. The script must not change
// while the Splitter is in use: the statements it returns are slices of it.
func NewSplitter(script []byte) *Splitter {
	s := &Splitter{src: script, line: 1}
	s.setDelimiter([]byte{';'})
	return s
}

// Next returns the next statement, without its delimiter and without
// comments and whitespace around it, and the 1-based line on which it
// starts. At the end of the script it returns io.EOF. On a *SyntaxError it
// returns the error's Line as line, and stops: every later call returns
// the same error.
//
// stmt is a slice of the script, not a copy; its capacity ends with it, so
// appending to it never overwrites the script.
func (s *Splitter) Next() (stmt []byte, line int, err error) {
	if s.err == nil {
		var start int
		start, s.err = s.skip()
		if s.err == nil && start == len(s.src) {
			s.pos, s.err = start, io.EOF
		}
		if s.err == nil {
			line = s.lineOf(start)
			if stmt, s.err = s.statement(start); s.err == nil {
				return stmt, line, nil
			}
		}
	}
	if se, ok := s.err.(*SyntaxError); ok {
		return nil, se.Line, se
	}
	return nil, 0, s.err
}

// skip moves past whitespace, comments, empty statements and DELIMITER
// lines, applying the latter, and returns where the next statement
// starts, or len(src).
func (s *Splitter) skip() (int, error) {
	src, i := s.src, s.pos
	for i < len(src) {
		c := src[i]
		if isSpace(c) {
			i++
			continue
		}
		if isDelimiterCommand(src, i) {
			e := lineEnd(src, i)
			d, msg := parseDelimiter(src[i+len("delimiter ") : e])
			if msg != "" {
				return 0, s.syntaxError(i, msg)
			}
			s.setDelimiter(d)
			i = e
			continue
		}
		if c == s.delim[0] && bytes.HasPrefix(src[i:], s.delim) {
			i += len(s.delim)
			continue
		}
		e, ok, err := s.comment(i)
		if err != nil {
			return 0, err
		}
		if !ok {
			return i, nil
		}
		i = e
	}
	return i, nil
}

// statement scans the statement that starts at src[start], a byte that is
// neither whitespace nor a comment, and returns it.
//
// cut >= 0 means that only comments and blanks have come since src[cut]:
// if the statement ends before anything else comes, it ends there.
func (s *Splitter) statement(start int) ([]byte, error) {
	src, delim, stop := s.src, s.delim, &s.stop
	n := len(src)
	i, cut := start, -1
	for {
		if cut >= 0 {
			for i < n && isBlank(src[i]) {
				i++
			}
			if i < n && !stop[src[i]] {
				cut = -1
			}
		}
		for i < n && !stop[src[i]] {
			i++
		}
		if i >= n {
			s.pos = n
			return s.cut(start, cut, n), nil
		}
		c := src[i]
		if c == delim[0] && bytes.HasPrefix(src[i:], delim) {
			s.pos = i + len(delim)
			return s.cut(start, cut, i), nil
		}
		switch c {
		case '\'', '"', '`':
			e, err := s.quoted(i)
			if err != nil {
				return nil, err
			}
			i, cut = e, -1
		case '\n':
			i++
			j := i
			for j < n && isBlank(src[j]) {
				j++
			}
			if isDelimiterCommand(src, j) {
				s.pos = j
				return s.cut(start, cut, i), nil
			}
		case '#', '-', '/':
			e, ok, err := s.comment(i)
			if err != nil {
				return nil, err
			}
			if !ok {
				i, cut = i+1, -1
				continue
			}
			if cut < 0 {
				cut = i
			}
			i = e
		default: // the first byte of a longer delimiter
			i, cut = i+1, -1
		}
	}
}

// cut returns src[start:end], or src[start:cut] when cut >= 0, without
// trailing whitespace.
func (s *Splitter) cut(start, cut, end int) []byte {
	if cut >= 0 {
		end = cut
	}
	for end > start && isSpace(s.src[end-1]) {
		end--
	}
	return s.src[start:end:end]
}

// quoted returns the index after the string or identifier that starts
// with the quote at src[i].
//
// It jumps from quote to quote with IndexByte, which is what makes long
// strings cheap, and decides whether a quote is escaped by the parity of
// the backslashes before it: a run of backslashes inside a string always
// starts on an escape boundary, because the byte before it is either the
// opening quote or ends an escape, a doubled quote or a plain byte.
func (s *Splitter) quoted(i int) (int, error) {
	src, q := s.src, s.src[i]
	j := i + 1
	for {
		k := bytes.IndexByte(src[j:], q)
		if k < 0 {
			what := "string"
			if q == '`' {
				what = "quoted identifier"
			}
			return 0, s.syntaxError(i, fmt.Sprintf("unterminated %s (%c...)", what, q))
		}
		k += j
		if q != '`' {
			b := k
			for b > j && src[b-1] == '\\' {
				b--
			}
			if (k-b)%2 == 1 {
				j = k + 1
				continue
			}
		}
		if k+1 < len(src) && src[k+1] == q {
			j = k + 2
			continue
		}
		return k + 1, nil
	}
}

// comment reports whether a comment the client drops starts at src[i],
// and returns where it ends: at the newline that ends a line comment
// (left for the caller, as a DELIMITER line may follow), after the "*/"
// of a block comment.
func (s *Splitter) comment(i int) (end int, ok bool, err error) {
	src := s.src
	switch src[i] {
	case '#':
		return lineEnd(src, i), true, nil
	case '-':
		if i+1 < len(src) && src[i+1] == '-' && (i+2 == len(src) || isSpace(src[i+2])) {
			return lineEnd(src, i), true, nil
		}
	case '/':
		if i+1 < len(src) && src[i+1] == '*' && !isExecutable(src[i+2:]) {
			k := bytes.Index(src[i+2:], []byte("*/"))
			if k < 0 {
				return 0, false, s.syntaxError(i, "unterminated comment (/*...)")
			}
			return i + 2 + k + 2, true, nil
		}
	}
	return i, false, nil
}

// isExecutable reports whether rest, what follows a "/*", makes it an
// executable comment: /*! (MySQL and MariaDB) or /*M! (MariaDB only).
func isExecutable(rest []byte) bool {
	return len(rest) > 0 && rest[0] == '!' ||
		len(rest) > 1 && rest[0] == 'M' && rest[1] == '!'
}

// isDelimiterCommand reports whether the client's DELIMITER command starts
// at src[i]: the word in any case, then a blank. Like the client, it wants
// the blank, so a column named delimiter at the end of a line stays one.
func isDelimiterCommand(src []byte, i int) bool {
	const word = "delimiter"
	return len(src)-i > len(word) && src[i]|0x20 == 'd' &&
		(src[i+len(word)] == ' ' || src[i+len(word)] == '\t') &&
		bytes.EqualFold(src[i:i+len(word)], []byte(word))
}

// parseDelimiter reads the argument of a DELIMITER command, the rest of
// its line: the first word, or a string in ', " or ` quotes (the quote
// doubled inside it). It returns a copy, or a message saying what is
// wrong.
//
// The client takes any argument without a backslash; this refuses blanks
// too, because a delimiter that starts with one could not be told from
// the whitespace around statements.
func parseDelimiter(arg []byte) ([]byte, string) {
	for len(arg) > 0 && isSpace(arg[0]) {
		arg = arg[1:]
	}
	var d []byte
	if len(arg) > 0 && (arg[0] == '\'' || arg[0] == '"' || arg[0] == '`') {
		q, closed := arg[0], false
		for k := 1; k < len(arg); k++ {
			if arg[k] != q {
				d = append(d, arg[k])
				continue
			}
			if k+1 < len(arg) && arg[k+1] == q {
				d = append(d, q)
				k++
				continue
			}
			closed = true
			break
		}
		if !closed {
			return nil, fmt.Sprintf("DELIMITER argument has no closing %c", q)
		}
	} else {
		k := 0
		for k < len(arg) && !isSpace(arg[k]) {
			k++
		}
		d = bytes.Clone(arg[:k])
	}
	switch {
	case len(d) == 0:
		return nil, "DELIMITER must be followed by a delimiter"
	case bytes.IndexByte(d, '\\') >= 0:
		return nil, fmt.Sprintf("DELIMITER %q contains a backslash", d)
	}
	for _, c := range d {
		if isSpace(c) {
			return nil, fmt.Sprintf("DELIMITER %q contains whitespace", d)
		}
	}
	return d, ""
}

func (s *Splitter) setDelimiter(d []byte) {
	s.delim = d
	s.stop = baseStop
	s.stop[d[0]] = true
}

// lineOf returns the line number of src[pos]. Positions only grow from
// call to call, so counting newlines since the last call is enough.
func (s *Splitter) lineOf(pos int) int {
	s.line += bytes.Count(s.src[s.lineAt:pos], []byte{'\n'})
	s.lineAt = pos
	return s.line
}

func (s *Splitter) syntaxError(pos int, msg string) error {
	return &SyntaxError{Line: s.lineOf(pos), Msg: msg}
}

// lineEnd returns the index of the newline that ends the line holding
// src[i], or len(src).
func lineEnd(src []byte, i int) int {
	if k := bytes.IndexByte(src[i:], '\n'); k >= 0 {
		return i + k
	}
	return len(src)
}

// isSpace is the client's whitespace: space, \t, \n, \v, \f, \r.
func isSpace(c byte) bool { return c == ' ' || c-'\t' <= '\r'-'\t' }

// isBlank is whitespace that does not end a line.
func isBlank(c byte) bool { return c != '\n' && isSpace(c) }
