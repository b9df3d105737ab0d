package ship

import (
	"context"
	"io"
	"net"

	"github.com/dr-mysql/dr/lib/ratelimit"
	"github.com/dr-mysql/dr/lib/repo/backend"
)

// limiter is the one --bwlimit limiter of the process, nil without it:
// every connection and stream to the repository shares it.
func (rf *RepoFlags) limiter() *ratelimit.Limiter {
	if rf.BWLimit <= 0 {
		return nil
	}
	if rf.lim == nil {
		rf.lim = ratelimit.New(rf.BWLimit)
	}
	return rf.lim
}

// wrapConn limits S3's connections at the socket.
func wrapConn(rf *RepoFlags) func(net.Conn) net.Conn {
	l := rf.limiter()
	if l == nil {
		return nil
	}
	return l.Conn
}

// wrapStream limits the pipe to ssh, both ways.
func wrapStream(ctx context.Context, rf *RepoFlags) func(io.Reader, io.Writer) (io.Reader, io.Writer) {
	l := rf.limiter()
	if l == nil {
		return nil
	}
	return func(r io.Reader, w io.Writer) (io.Reader, io.Writer) {
		return l.Reader(ctx, r), l.Writer(ctx, w)
	}
}

// limitLocal limits what is read from and written to a directory
// repository: there is no socket, so the objects' bytes are throttled.
func limitLocal(ctx context.Context, rf *RepoFlags, b backend.Backend) backend.Backend {
	l := rf.limiter()
	if l == nil {
		return b
	}
	return limited{Backend: b, l: l}
}

type limited struct {
	backend.Backend
	l *ratelimit.Limiter
}

func (b limited) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) error {
	return b.Backend.Save(ctx, h, b.l.Reader(ctx, rd), size)
}

func (b limited) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	return b.Backend.Load(ctx, h, length, offset, func(rd io.Reader) error { return fn(b.l.Reader(ctx, rd)) })
}
