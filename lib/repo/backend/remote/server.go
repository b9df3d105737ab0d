package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dr-mysql/dr/lib/repo/backend"
)

// Serve answers the requests of one client read from r, writing the
// answers to w, over be: the far end of an ssh session, run by
// `dr-ship serve`. It returns nil when r ends cleanly between requests
// (the client closed the session), and an error when the client breaks the
// protocol, the connection drops in the middle of a request, writing to w
// fails or ctx ends.
//
// A save whose data does not arrive whole (the client aborts, the stream
// ends or is garbage) reaches be.Save as a failing reader, so no object
// appears.
//
// Serve reads r in a goroutine so that it can notice a cancel while it
// streams a load; when Serve returns early that goroutine stays blocked in
// r.Read until r ends or is closed.
func Serve(ctx context.Context, be backend.Backend, r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)

	v, err := readHello(br)
	if err == io.EOF {
		return nil // connected and left without a word
	}
	// Answer with our hello whatever the client said, so that it can name
	// both versions in its message.
	if _, werr := bw.Write(hello()); werr == nil {
		bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if v != Version {
		return fmt.Errorf("serve: %w: the client speaks protocol version %d, this dr-ship serve speaks version %d",
			ErrProtocol, v, Version)
	}

	s := &server{be: be, w: bw, frames: make(chan result, 2), quit: make(chan struct{})}
	defer close(s.quit)
	go s.read(br)
	err = s.loop(ctx)
	if err != nil && errors.Is(err, ErrProtocol) {
		// Tell the client why the session ends; it may be gone, so the
		// write's error does not matter.
		if writeFrame(bw, ansError, 0, encodeError(err)) == nil {
			bw.Flush()
		}
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// result is a frame or the error that ended the stream.
type result struct {
	f   frame
	err error
}

type server struct {
	be     backend.Backend
	w      *bufio.Writer
	frames chan result
	quit   chan struct{}
	buf    []byte // a load's chunk buffer
}

// read decodes frames until the stream ends, handing each to the loop
// with its own payload (the loop may hold it while reading the next).
func (s *server) read(br *bufio.Reader) {
	for {
		f, _, err := readFrame(br, nil)
		select {
		case s.frames <- result{f, err}:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

// next returns the next frame, io.EOF at a clean end of the stream.
func (s *server) next(ctx context.Context) (frame, error) {
	select {
	case r := <-s.frames:
		return r.f, r.err
	case <-ctx.Done():
		return frame{}, ctx.Err()
	}
}

// errWrite marks a failure to write to the client: the session is over.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write to the client: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (s *server) send(typ byte, id uint32, parts ...[]byte) error {
	if err := writeFrame(s.w, typ, id, parts...); err != nil {
		return &writeError{err}
	}
	return nil
}

// answer ends request id with ok (and payload) or with err.
func (s *server) answer(id uint32, err error, ok ...[]byte) error {
	var werr error
	if err != nil {
		werr = s.send(ansError, id, encodeError(err))
	} else {
		werr = s.send(ansOK, id, ok...)
	}
	if werr != nil {
		return werr
	}
	if err := s.w.Flush(); err != nil {
		return &writeError{err}
	}
	return nil
}

func (s *server) loop(ctx context.Context) error {
	for {
		f, err := s.next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if f.id == 0 {
			return protoErr("%s request with id 0", frameName(f.typ))
		}
		d := &dec{b: f.payload}
		switch f.typ {
		case opSave:
			h, size := d.handle(), d.i64()
			if err := d.done(); err != nil {
				return err
			}
			if err := s.save(ctx, f.id, h, size); err != nil {
				return err
			}
		case opLoad:
			h, length, offset := d.handle(), d.i64(), d.i64()
			if err := d.done(); err != nil {
				return err
			}
			if err := s.load(ctx, f.id, h, length, offset); err != nil {
				return err
			}
		case opStat:
			h := d.handle()
			if err := d.done(); err != nil {
				return err
			}
			fi, err := s.be.Stat(ctx, h)
			if err := s.answer(f.id, err, enc(nil).i64(fi.Size)); err != nil {
				return err
			}
		case opList:
			t := backend.FileType(d.str8())
			if err := d.done(); err != nil {
				return err
			}
			if err := s.list(ctx, f.id, t); err != nil {
				return err
			}
		case opRemove:
			h := d.handle()
			if err := d.done(); err != nil {
				return err
			}
			if err := s.answer(f.id, s.be.Remove(ctx, h)); err != nil {
				return err
			}
		case opCancel:
			// A cancel that crossed the end of its load or list: nothing
			// left to stop.
		default:
			return protoErr("unexpected %s frame between requests", frameName(f.typ))
		}
	}
}

// save runs be.Save over the data frames of request id.
func (s *server) save(ctx context.Context, id uint32, h backend.Handle, size int64) error {
	sr := &saveReader{s: s, ctx: ctx, id: id}
	err := s.be.Save(ctx, h, sr, size)
	// The backend may stop reading early (a bad size, a full disk): skip
	// the rest of the data so the next frame is the next request.
	for sr.fatal == nil && !sr.ended {
		sr.cur = nil
		sr.fill()
	}
	if sr.fatal != nil {
		if sr.fatal == io.EOF {
			return fmt.Errorf("the client went away during the save of %s: %w", h, io.ErrUnexpectedEOF)
		}
		return sr.fatal
	}
	return s.answer(id, err)
}

// saveReader hands the data frames of a save to the backend. Whatever
// ends the data other than an end frame is an error for the backend.
type saveReader struct {
	s     *server
	ctx   context.Context
	id    uint32
	cur   []byte
	n     int64
	ended bool  // an end or abort frame was read
	err   error // what Read returns once cur is empty
	fatal error // the session is over (the stream ended or broke the protocol)
}

var errAborted = errors.New("the client aborted the save")

func (r *saveReader) fill() {
	f, err := r.s.next(r.ctx)
	switch {
	case err == io.EOF:
		r.fatal = io.EOF
		r.err = fmt.Errorf("the connection to the client ended after %d bytes: %w", r.n, io.ErrUnexpectedEOF)
	case err != nil:
		r.fatal = err
		r.err = err
	case f.id != r.id:
		r.fatal = protoErr("%s frame of request %d in the middle of request %d", frameName(f.typ), f.id, r.id)
		r.err = r.fatal
	case f.typ == opData:
		r.cur = f.payload
		r.n += int64(len(f.payload))
	case f.typ == opEnd:
		r.ended, r.err = true, io.EOF
	case f.typ == opAbort:
		r.ended, r.err = true, fmt.Errorf("%w: %s", errAborted, f.payload)
	default:
		r.fatal = protoErr("unexpected %s frame in the data of a save", frameName(f.typ))
		r.err = r.fatal
	}
}

func (r *saveReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// errStopped stops a load or list the client canceled.
var errStopped = errors.New("stopped by the client")

// canceled reports, without blocking, whether the client canceled request
// id; a session-ending frame is remembered in *fatal.
func (s *server) canceled(id uint32, fatal *error) bool {
	select {
	case r := <-s.frames:
		switch {
		case r.err == io.EOF:
			*fatal = fmt.Errorf("the client went away in the middle of request %d: %w", id, io.ErrUnexpectedEOF)
		case r.err != nil:
			*fatal = r.err
		case r.f.typ == opCancel && r.f.id == id:
		case r.f.typ == opCancel:
			return false // stale, for a request already answered
		default:
			*fatal = protoErr("%s frame in the middle of request %d", frameName(r.f.typ), id)
		}
		return true
	default:
		return false
	}
}

func (s *server) load(ctx context.Context, id uint32, h backend.Handle, length64, offset int64) error {
	length, ok := int64ToInt(length64)
	if !ok {
		return s.answer(id, fmt.Errorf("load %s: invalid length %d", h, length64))
	}
	if s.buf == nil {
		s.buf = make([]byte, ChunkSize)
	}
	var fatal error
	err := s.be.Load(ctx, h, length, offset, func(rd io.Reader) error {
		if err := s.send(ansLoading, id); err != nil {
			return err
		}
		for {
			if s.canceled(id, &fatal) {
				if fatal != nil {
					return fatal
				}
				return errStopped
			}
			n, err := io.ReadFull(rd, s.buf)
			if n > 0 {
				if err := s.send(ansData, id, s.buf[:n]); err != nil {
					return err
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if fatal != nil {
		return fatal
	}
	var we *writeError
	if errors.As(err, &we) {
		return err
	}
	return s.answer(id, err)
}

// entriesBatch is the payload size at which list entries are sent.
const entriesBatch = 32 << 10

func (s *server) list(ctx context.Context, id uint32, t backend.FileType) error {
	var fatal error
	batch := make(enc, 0, entriesBatch+256)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.send(ansEntries, id, batch)
		batch = batch[:0]
		return err
	}
	err := s.be.List(ctx, t, func(fi backend.FileInfo) error {
		if len(fi.Name) > 0xffff {
			return fmt.Errorf("list %s: name of %d bytes is too long to send", t, len(fi.Name))
		}
		batch = batch.str16(fi.Name).i64(fi.Size)
		if len(batch) < entriesBatch {
			return nil
		}
		if s.canceled(id, &fatal) {
			if fatal != nil {
				return fatal
			}
			return errStopped
		}
		return flush()
	})
	if fatal != nil {
		return fatal
	}
	if err == nil {
		err = flush()
	}
	var we *writeError
	if errors.As(err, &we) {
		return err
	}
	return s.answer(id, err)
}
