package mysqlx

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/cli"
)

// Connect dials the server and inspects it, with errors ready for a
// command to return: exit status 3 (a retry may help) and the hint of a
// ConnError, such as where the password came from.
func (s *Spec) Connect(ctx context.Context, opts ...DialOption) (*client.Conn, *Server, error) {
	conn, err := s.Dial(ctx, opts...)
	if err != nil {
		var ce *ConnError
		if errors.As(err, &ce) && ce.Hint != "" {
			return nil, nil, cli.WithHint(cli.WithCode(cli.ExitIO, err), ce.Hint)
		}
		return nil, nil, cli.WithCode(cli.ExitIO, err)
	}
	srv, err := Inspect(conn)
	if err != nil {
		conn.Close()
		return nil, nil, cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", s, err))
	}
	return conn, srv, nil
}
