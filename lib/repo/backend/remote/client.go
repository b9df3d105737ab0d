package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
)

// Client is a backend.Backend whose objects live on the far end of a byte
// stream, answered by Serve. It is safe for concurrent use; requests are
// serial, one at a time on the stream.
//
// Because a load or a list holds the stream while fn runs, fn must not
// call the same Client: it would wait for itself forever. Collect what a
// List finds, then act on it.
type Client struct {
	location string

	mu     sync.Mutex // one request at a time on the stream
	r      *bufio.Reader
	w      *bufio.Writer
	rbuf   []byte // frame payloads read by the client, reused
	wbuf   []byte // a save's chunk buffer
	nextID uint32
	broken error // set once the stream is unusable; every later call returns it

	// grace is how long a request whose ctx ended may take to finish
	// cleanly (a save's abort answered, a load's cancel drained) before the
	// session is cut.
	grace time.Duration

	closeMu   sync.Mutex
	closed    bool
	closeErr  error
	transport func() error // closes the stream, unblocking reads and writes
	proc      *process     // the ssh process of a Dial, or nil
}

var _ backend.Backend = (*Client)(nil)

// NewClient speaks the protocol over r and w, which lead to a Serve: it
// sends the hello, checks the answer and returns a Client. location names
// the far end in messages (ssh://host/path). Close closes w and r when
// they are io.Closers; closing w ends the session, the far end's Serve
// returning nil.
//
// ctx bounds the handshake only; if it ends first, r and w are closed.
func NewClient(ctx context.Context, r io.Reader, w io.Writer, location string) (*Client, error) {
	c := newClient(r, w, location)
	c.transport = onceErr(func() error {
		var errs []error
		if wc, ok := w.(io.Closer); ok {
			errs = append(errs, wc.Close())
		}
		if rc, ok := r.(io.Closer); ok && any(r) != any(w) {
			errs = append(errs, rc.Close())
		}
		return errors.Join(errs...)
	})
	if err := c.handshake(ctx); err != nil {
		c.transport()
		return nil, err
	}
	return c, nil
}

// onceErr makes a close function safe to call more than once: a broken
// session closes its stream, and Close closes it again.
func onceErr(f func() error) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = f() })
		return err
	}
}

func newClient(r io.Reader, w io.Writer, location string) *Client {
	return &Client{
		location: location,
		r:        bufio.NewReaderSize(r, 64<<10),
		w:        bufio.NewWriterSize(w, 64<<10),
		grace:    5 * time.Second,
	}
}

// handshake sends our hello and checks the far end's.
func (c *Client) handshake(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.cut() })
	defer stop()
	err := func() error {
		if _, err := c.w.Write(hello()); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		v, err := readHello(c.r)
		if err == io.EOF {
			return fmt.Errorf("the far end closed the connection without a handshake: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return fmt.Errorf("%w (does a login script print to stdout, or is the far end not dr-ship serve?)", err)
			}
			return err
		}
		if v != Version {
			return fmt.Errorf("%w: protocol version mismatch: this dr-ship speaks version %d, the far end version %d; install the same dr-ship release on both hosts",
				ErrProtocol, Version, v)
		}
		return nil
	}()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return c.fail(fmt.Errorf("handshake: %w", err))
	}
	return nil
}

// Location returns where the far end is.
func (c *Client) Location() string { return c.location }

// fail marks the stream broken by err and returns the error every later
// call gets: err with the far end named and, for a Dial, what the process
// said on stderr and how it ended.
func (c *Client) fail(err error) error {
	if c.broken != nil {
		return c.broken
	}
	c.closeTransport()
	msg := ""
	if c.proc != nil {
		// Closing its stdin ends a far end that is still healthy; one that
		// broke is exiting already: either way its exit status and stderr
		// come within moments and say more than our side of the pipe.
		msg = c.proc.report()
		c.proc.stop()
	}
	c.broken = fmt.Errorf("remote %s: %w%s", c.location, err, msg)
	return c.broken
}

// cut closes the stream so that blocked reads and writes return. It does
// not take c.mu: it is how a stuck request is interrupted.
func (c *Client) cut() {
	c.closeTransport()
	if c.proc != nil {
		c.proc.stop()
	}
}

func (c *Client) closeTransport() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.transport != nil {
		c.transport()
	}
}

// Close ends the session: the far end sees the end of its input and
// exits, and for a Dial the process is waited for; an unclean exit is
// returned with its stderr. A request in progress fails.
func (c *Client) Close() error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return c.closeErr
	}
	c.closed = true
	var err error
	if c.transport != nil {
		err = c.transport()
	}
	if c.proc != nil {
		// Only the process's verdict matters: closing our ends of its
		// pipes fails only when they are closed already.
		err = c.proc.wait()
	}
	c.closeErr = err
	c.closeMu.Unlock()
	if err != nil {
		return fmt.Errorf("remote %s: close: %w", c.location, err)
	}
	return nil
}

// begin starts a request: it takes the stream, checks that it is usable
// and arms the cut of a request that overstays its ctx. end undoes it.
func (c *Client) begin(ctx context.Context) (id uint32, end func(), err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	if c.broken != nil {
		c.mu.Unlock()
		return 0, nil, c.broken
	}
	c.closeMu.Lock()
	closed := c.closed
	c.closeMu.Unlock()
	if closed {
		c.mu.Unlock()
		return 0, nil, fmt.Errorf("remote %s: the session is closed", c.location)
	}
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	// When ctx ends, the request gets grace to end cleanly (the save
	// aborted, the load drained); a far end that does not answer by then
	// is cut off, which fails this request and the session.
	var tmu sync.Mutex
	var timer *time.Timer
	done := false
	stop := context.AfterFunc(ctx, func() {
		tmu.Lock()
		defer tmu.Unlock()
		if !done {
			timer = time.AfterFunc(c.grace, c.cut)
		}
	})
	return c.nextID, func() {
		stop()
		tmu.Lock()
		done = true
		if timer != nil {
			timer.Stop()
		}
		tmu.Unlock()
		c.mu.Unlock()
	}, nil
}

func (c *Client) send(typ byte, id uint32, parts ...[]byte) error {
	if err := writeFrame(c.w, typ, id, parts...); err != nil {
		return c.fail(fmt.Errorf("send %s: %w", frameName(typ), err))
	}
	return nil
}

func (c *Client) flush() error {
	if err := c.w.Flush(); err != nil {
		return c.fail(fmt.Errorf("send: %w", err))
	}
	return nil
}

// recv reads the next frame of request id. An error frame of id 0 (the far
// end gave up on the session), a frame of another request, or the end of
// the stream breaks the session.
func (c *Client) recv(ctx context.Context, id uint32) (frame, error) {
	f, buf, err := readFrame(c.r, c.rbuf)
	c.rbuf = buf
	if err == io.EOF {
		err = fmt.Errorf("the connection ended in the middle of a request: %w", io.ErrUnexpectedEOF)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return frame{}, c.fail(fmt.Errorf("%w: the session was cut off: %v", cerr, err))
		}
		return frame{}, c.fail(err)
	}
	if f.id == 0 && f.typ == ansError {
		return frame{}, c.fail(fmt.Errorf("the far end ended the session: %w", decodeError(f.payload)))
	}
	if f.id != id {
		return frame{}, c.fail(protoErr("%s frame of request %d while waiting for request %d", frameName(f.typ), f.id, id))
	}
	return f, nil
}

// final reads the answer that ends a simple request.
func (c *Client) final(ctx context.Context, id uint32) (frame, error) {
	f, err := c.recv(ctx, id)
	if err != nil {
		return frame{}, err
	}
	switch f.typ {
	case ansOK:
		return f, nil
	case ansError:
		return frame{}, decodeError(f.payload)
	}
	return frame{}, c.fail(protoErr("unexpected %s frame in an answer", frameName(f.typ)))
}

// drain skips the rest of the answer of a load or list, after a cancel.
func (c *Client) drain(ctx context.Context, id uint32) error {
	for {
		f, err := c.recv(ctx, id)
		if err != nil {
			return err
		}
		switch f.typ {
		case ansOK, ansError:
			return nil
		case ansData, ansEntries:
		default:
			return c.fail(protoErr("unexpected %s frame while draining", frameName(f.typ)))
		}
	}
}

// Save streams rd to the far end; see backend.Backend. If rd fails or ctx
// ends half-way, the far end is told to abort and its Save fails, so no
// object appears; the error wraps rd's or ctx's.
func (c *Client) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) error {
	if err := h.Valid(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("save %s: invalid size %d", h, size)
	}
	id, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.send(opSave, id, enc(nil).handle(h).i64(size)); err != nil {
		return err
	}
	if c.wbuf == nil {
		c.wbuf = make([]byte, ChunkSize)
	}
	// One byte more than announced, so that the far end's backend sees
	// too long a stream and refuses it.
	limit := size + 1
	if limit < 0 {
		limit = size // size is MaxInt64: no stream is that long anyway
	}
	src := io.LimitReader(backend.ContextReader(ctx, rd), limit)
	var local error
	for {
		n, err := io.ReadFull(src, c.wbuf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			local = err
			break
		}
		if n > 0 {
			if err := c.send(opData, id, c.wbuf[:n]); err != nil {
				return fmt.Errorf("save %s: %w", h, err)
			}
		}
		if err != nil {
			break
		}
	}
	if local != nil {
		err = c.send(opAbort, id, []byte(local.Error()))
	} else {
		err = c.send(opEnd, id)
	}
	if err == nil {
		err = c.flush()
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	_, err = c.final(ctx, id)
	if local != nil {
		// The far end's error only says that we aborted.
		return fmt.Errorf("save %s: %w", h, local)
	}
	return err
}

// Load reads a range of h from the far end; see backend.Backend. The
// range streams in chunks while fn reads it.
func (c *Client) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	if err := h.Valid(); err != nil {
		return err
	}
	id, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.send(opLoad, id, enc(nil).handle(h).i64(int64(length)).i64(offset)); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	f, err := c.recv(ctx, id)
	if err != nil {
		return err
	}
	switch f.typ {
	case ansError:
		return decodeError(f.payload)
	case ansLoading:
	default:
		return c.fail(protoErr("unexpected %s frame in the answer to a load", frameName(f.typ)))
	}
	lr := &loadReader{c: c, ctx: ctx, id: id}
	ferr := fn(lr)
	if !lr.done && c.broken == nil {
		// fn stopped early: stop the far end, and skip what it sent
		// before it saw the cancel.
		if err := c.send(opCancel, id); err == nil {
			if err := c.flush(); err == nil {
				c.drain(ctx, id)
			}
		}
	}
	if ferr != nil {
		return ferr
	}
	if lr.fatal != nil {
		return lr.fatal
	}
	if lr.done && lr.err != io.EOF {
		return lr.err
	}
	return nil
}

// loadReader reads the data frames of a load.
type loadReader struct {
	c     *Client
	ctx   context.Context
	id    uint32
	cur   []byte
	done  bool  // the answer ended (ok or error)
	err   error // io.EOF or the far end's error, once done
	fatal error // the session broke
}

func (r *loadReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.done {
			return 0, r.err
		}
		if r.fatal != nil {
			return 0, r.fatal
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		f, err := r.c.recv(r.ctx, r.id)
		if err != nil {
			r.fatal = err
			return 0, err
		}
		switch f.typ {
		case ansData:
			r.cur = f.payload
		case ansOK:
			r.done, r.err = true, io.EOF
		case ansError:
			r.done, r.err = true, decodeError(f.payload)
		default:
			r.fatal = r.c.fail(protoErr("unexpected %s frame in the data of a load", frameName(f.typ)))
			return 0, r.fatal
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Stat returns the size of h on the far end.
func (c *Client) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	if err := h.Valid(); err != nil {
		return backend.FileInfo{}, err
	}
	id, end, err := c.begin(ctx)
	if err != nil {
		return backend.FileInfo{}, err
	}
	defer end()
	if err := c.send(opStat, id, enc(nil).handle(h)); err != nil {
		return backend.FileInfo{}, err
	}
	if err := c.flush(); err != nil {
		return backend.FileInfo{}, err
	}
	f, err := c.final(ctx, id)
	if err != nil {
		return backend.FileInfo{}, err
	}
	d := &dec{b: f.payload}
	size := d.i64()
	if err := d.done(); err != nil {
		return backend.FileInfo{}, c.fail(err)
	}
	return backend.FileInfo{Name: h.Name, Size: size}, nil
}

// List calls fn for each object of type t on the far end. Entries arrive
// in batches while fn runs; an error from fn stops the far end's listing.
func (c *Client) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if !t.Valid() {
		return fmt.Errorf("list: invalid object type %q", t)
	}
	id, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.send(opList, id, enc(nil).str8(string(t))); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	stop := func(err error) error {
		if serr := c.send(opCancel, id); serr == nil {
			if serr := c.flush(); serr == nil {
				c.drain(ctx, id)
			}
		}
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		f, err := c.recv(ctx, id)
		if err != nil {
			return err
		}
		switch f.typ {
		case ansOK:
			return nil
		case ansError:
			return decodeError(f.payload)
		case ansEntries:
		default:
			return c.fail(protoErr("unexpected %s frame in the answer to a list", frameName(f.typ)))
		}
		d := &dec{b: f.payload}
		for len(d.b) > 0 {
			fi := backend.FileInfo{Name: d.str16(), Size: d.i64()}
			if d.err != nil {
				return c.fail(d.err)
			}
			if err := fn(fi); err != nil {
				return stop(err)
			}
		}
	}
}

// Remove deletes h on the far end.
func (c *Client) Remove(ctx context.Context, h backend.Handle) error {
	if err := h.Valid(); err != nil {
		return err
	}
	id, end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.send(opRemove, id, enc(nil).handle(h)); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	_, err = c.final(ctx, id)
	return err
}
