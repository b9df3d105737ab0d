package apply

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// StatementError is a statement of a script that the server refused (or a
// script that does not split into statements): it names the script and
// the line, so the message leads to the bytes.
type StatementError struct {
	Script string
	Line   int
	Stmt   string // abbreviated
	Err    error
}

func (e *StatementError) Error() string {
	var se *sqltext.SyntaxError
	if errors.As(e.Err, &se) {
		return fmt.Sprintf("%s %v", e.Script, e.Err) // it says "line N" itself
	}
	return fmt.Sprintf("%s line %d: %v (statement: %s)", e.Script, e.Line, e.Err, e.Stmt)
}

func (e *StatementError) Unwrap() error { return e.Err }

// Script runs the statements of script, as the mariadb client would run
// the file, one after the other. rewrite, if not nil, may change a
// statement before it runs; skip, if not nil, may excuse a server error
// (by its code), for resumption over objects that already exist.
func Script(ctx context.Context, c *client.Conn, name string, script []byte, rewrite func([]byte) []byte, skip func(code uint16) bool) error {
	sp := sqltext.NewSplitter(script)
	for {
		stmt, line, err := sp.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &StatementError{Script: name, Line: line, Err: err}
		}
		if rewrite != nil {
			stmt = rewrite(stmt)
		}
		err = mysqlx.QueryRaw(ctx, c, string(stmt), nil, func([][]byte, int) error { return nil })
		if err != nil {
			if skip != nil && skip(mysqlx.ErrorCode(err)) {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &StatementError{Script: name, Line: line, Stmt: sqltext.Abbrev(stmt, 100), Err: err}
		}
	}
}

// IsServerError reports whether err is the server refusing a statement,
// as opposed to the connection failing.
func IsServerError(err error) bool {
	return mysqlx.ErrorCode(err) != 0 && !errors.Is(err, context.Canceled)
}
