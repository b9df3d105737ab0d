package ratelimit

import (
	"context"
	"io"
	"net"
	"sync"
)

// Reader throttles what is read from r. Each Read asks r for at most one
// burst and is charged for what r actually returned, after the fact:
// charging before would mean guessing, and a network read that returns
// 1 KiB out of a 64 KiB buffer would have many goroutines sleeping for
// bytes nobody read, leaving the sum well under the rate. The price is that
// each reading goroutine can be one piece ahead of the bucket. A Read that
// got data but then saw ctx end returns both the data and ctx's error.
//
// With a nil Limiter, Reader returns r itself.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &reader{ctx: ctx, l: l, r: r}
}

type reader struct {
	ctx context.Context
	l   *Limiter
	r   io.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	return r.l.read(r.ctx, r.r, p)
}

func (l *Limiter) read(ctx context.Context, r io.Reader, p []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if b := l.Burst(); b > 0 && int64(len(p)) > b {
		p = p[:b]
	}
	n, err := r.Read(p)
	if n > 0 {
		if werr := l.WaitN(ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Writer throttles what is written to w. A Write is cut into pieces of at
// most one burst and each piece waits for its tokens before it goes out,
// so a 4 MiB write at 50 MiB/s leaves as 2.5 MiB, then 1.5 MiB 50 ms later,
// not as one 4 MiB spike. On ctx's end Write returns what went out and
// ctx's error.
//
// With a nil Limiter, Writer returns w itself.
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &writer{ctx: ctx, l: l, w: w}
}

type writer struct {
	ctx context.Context
	l   *Limiter
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	return w.l.write(w.ctx, w.w, p)
}

func (l *Limiter) write(ctx context.Context, w io.Writer, p []byte) (int, error) {
	done := 0
	for {
		piece := len(p) - done
		if b := l.Burst(); b > 0 && int64(piece) > b {
			piece = int(b)
		}
		if piece > 0 {
			// The burst is read afresh for each piece, so a SetRate in the
			// middle of a big write takes effect at once.
			if err := l.WaitN(ctx, piece); err != nil {
				return done, err
			}
		}
		n, err := w.Write(p[done : done+piece])
		done += n
		if err != nil {
			return done, err
		}
		if n < piece {
			return done, io.ErrShortWrite
		}
		if done == len(p) {
			return done, nil
		}
	}
}

// Conn throttles both directions of c through l, so the sum of what is
// sent and received stays under the rate: that is "at the socket" for a
// transfer (dr-ship to ssh or S3) and for bytes read from a server (dr-snap);
// for one direction only use Reader or Writer. Close ends any throttle
// sleep at once with net.ErrClosed; read and write deadlines apply to the
// I/O, not to the sleeps, which are at most one burst time each.
//
// With a nil Limiter, Conn returns c itself.
func (l *Limiter) Conn(c net.Conn) net.Conn {
	if l == nil {
		return c
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &conn{Conn: c, l: l, ctx: ctx, cancel: cancel}
}

type conn struct {
	net.Conn
	l      *Limiter
	ctx    context.Context
	cancel context.CancelCauseFunc
	once   sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.l.read(c.ctx, c.Conn, p)
	return n, c.closedErr(err)
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.l.write(c.ctx, c.Conn, p)
	return n, c.closedErr(err)
}

// closedErr turns our own cancellation into what a closed net.Conn says.
func (c *conn) closedErr(err error) error {
	if err != nil && err == c.ctx.Err() {
		return context.Cause(c.ctx)
	}
	return err
}

func (c *conn) Close() error {
	c.once.Do(func() { c.cancel(net.ErrClosed) })
	return c.Conn.Close()
}
