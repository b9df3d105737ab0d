package binlogdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dr-mysql/dr/lib/position"
)

// Event is one whole, verified event as a Reader returns it.
type Event struct {
	File   string // base name of its file
	Pos    int64  // where it starts in the file
	Header Header
	Data   []byte // the whole event; valid until the next call of Next
}

// End is the position just after the event.
func (e Event) End() int64 { return e.Pos + int64(len(e.Data)) }

// Reader reads the events of binlog files in order, file after file:
// either the files of a directory that dr-binlog-pull writes, never past
// its durable end (its state file), or a list of files read whole. At
// the start of every file it returns the file's FORMAT_DESCRIPTION event
// (at position 4), which a decoder needs before anything else of the
// file.
//
// A file is followed by the next of its series (mysql-bin.000007 by
// mysql-bin.000008): a missing file in the middle of the sequence is a
// *CorruptError, never a silent gap.
type Reader struct {
	dir    string
	files  []string // list mode: paths, in order
	follow bool
	poll   time.Duration

	// Idle, if set, is called each time the reader is about to wait for
	// more bytes in follow mode: the caller's moment to apply what it
	// holds.
	Idle func() error

	idx   int    // list mode: index of the current file
	file  string // base name of the current file
	sc    *Scanner
	state *State // directory mode: the durable end last read
}

// NewDirReader reads dir from the start of file (a base name). With
// follow, it waits at the durable end for more instead of returning
// io.EOF.
func NewDirReader(dir, file string, follow bool) (*Reader, error) {
	r := &Reader{dir: dir, file: file, follow: follow, poll: 50 * time.Millisecond}
	st, err := ReadState(dir)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%s: no %s: not a directory written by dr-binlog-pull", dir, StateName)
	}
	r.state = st
	return r, nil
}

// NewFileReader reads the files at paths, in that order, each whole.
func NewFileReader(paths []string) *Reader {
	return &Reader{files: paths, file: filepath.Base(paths[0])}
}

// State is the directory's state as last read (nil in list mode).
func (r *Reader) State() *State { return r.state }

// Close closes the current file.
func (r *Reader) Close() error {
	if r.sc != nil {
		err := r.sc.Close()
		r.sc = nil
		return err
	}
	return nil
}

func (r *Reader) path() string {
	if r.files != nil {
		return r.files[r.idx]
	}
	return filepath.Join(r.dir, r.file)
}

// atDurableEnd reports whether the reader stands at the directory's
// durable end, re-reading the state file to see whether it moved.
func (r *Reader) atDurableEnd(off int64) (bool, error) {
	if r.files != nil {
		return false, nil
	}
	if r.state.File != r.file || off < int64(r.state.Pos) {
		return false, nil
	}
	if err := r.refresh(); err != nil {
		return false, err
	}
	return r.state.File == r.file && off >= int64(r.state.Pos), nil
}

// refresh re-reads the directory's state file.
func (r *Reader) refresh() error {
	st, err := ReadState(r.dir)
	if err != nil {
		return err
	}
	if st == nil {
		return &CorruptError{Path: filepath.Join(r.dir, StateName), Pos: -1, Err: errors.New("gone while reading the directory")}
	}
	r.state = st
	return nil
}

// wait sleeps before looking again, or says the end is reached.
func (r *Reader) wait(ctx context.Context) error {
	if !r.follow {
		return io.EOF
	}
	if r.Idle != nil {
		if err := r.Idle(); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.poll):
		return nil
	}
}

// Next returns the next event, io.EOF at the end of the files (the
// durable end of a directory), or an error: a *CorruptError for a bad
// event, a file that ends inside an event before the durable end, or a
// missing file.
func (r *Reader) Next(ctx context.Context) (Event, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		if r.sc == nil {
			sc, err := OpenScanner(r.path())
			if r.files == nil && (errors.Is(err, ErrShort) || errors.Is(err, fs.ErrNotExist)) {
				if r.state.AtStartOf(r.file) {
					// The durable end is at the very start of a file the
					// pull has not created yet, or has only begun to
					// write (its first bytes may not even be in the file).
					if err := r.wait(ctx); err != nil {
						return Event{}, err
					}
					if err := r.refresh(); err != nil {
						return Event{}, err
					}
					continue
				}
				if errors.Is(err, fs.ErrNotExist) {
					return Event{}, &CorruptError{Path: r.path(), Pos: -1, Err: errors.New("missing: the binlog files of the directory do not reach it")}
				}
				if fi, serr := os.Stat(r.path()); serr == nil && r.state.File == r.file {
					return Event{}, r.shortOfDurable(fi.Size())
				}
			}
			if err != nil {
				return Event{}, err
			}
			r.sc = sc
			return Event{File: r.file, Pos: int64(len(Magic)), Header: Header{Type: FormatDescriptionEvent, Timestamp: sc.FD.Timestamp}, Data: sc.FDEvent}, nil
		}
		off := r.sc.Offset()
		end, err := r.atDurableEnd(off)
		if err != nil {
			return Event{}, err
		}
		if end {
			if err := r.wait(ctx); err != nil {
				return Event{}, err
			}
			continue
		}
		h, ev, err := r.sc.Next()
		if err == nil {
			return Event{File: r.file, Pos: off, Header: h, Data: ev}, nil
		}
		if errors.Is(err, ErrShort) {
			if r.beforeDurableEnd(off) {
				return Event{}, r.shortOfDurable(off)
			}
			if r.files == nil && r.state.File == r.file {
				// Bytes past the durable end still being written.
				if err := r.wait(ctx); err != nil {
					return Event{}, err
				}
				r.sc.SeekTo(off)
				continue
			}
			return Event{}, &CorruptError{Path: r.path(), Pos: off, Err: errors.New("the file ends inside an event")}
		}
		if !errors.Is(err, io.EOF) {
			return Event{}, err
		}
		if r.beforeDurableEnd(off) {
			return Event{}, r.shortOfDurable(off)
		}
		// The file is complete: go on with the next one.
		next, err := r.nextFile()
		if err != nil {
			return Event{}, err
		}
		if next == "" {
			if err := r.wait(ctx); err != nil {
				return Event{}, err
			}
			continue
		}
		r.sc.Close()
		r.sc = nil
		r.file = next
	}
}

// beforeDurableEnd reports whether off, in the current file of a
// directory, lies before the durable end its state file records: every
// byte there was fsync'd before the state said so, and must be there.
func (r *Reader) beforeDurableEnd(off int64) bool {
	return r.files == nil && r.state.File == r.file && off < int64(r.state.Pos)
}

// shortOfDurable is the error of a file that ends at off, before the
// durable end: the directory lost data (a copy cut short, a disk).
func (r *Reader) shortOfDurable(off int64) error {
	return &CorruptError{Path: r.path(), Pos: off, Err: fmt.Errorf("the file ends before %d, where its directory's state file records it durable: bytes are missing", r.state.Pos)}
}

// nextFile names the file after the current one, or "" when there is
// none yet.
func (r *Reader) nextFile() (string, error) {
	want, err := position.Next(r.file)
	if r.files != nil {
		if r.idx+1 >= len(r.files) {
			return "", nil
		}
		got := filepath.Base(r.files[r.idx+1])
		if err == nil && got != want && position.SameSeries(position.Pos{File: got}, position.Pos{File: want}) {
			return "", &CorruptError{Path: r.files[r.idx+1], Pos: -1, Err: fmt.Errorf("follows %s, but %s comes first: a file of the sequence is missing", r.file, want)}
		}
		r.idx++
		return got, nil
	}
	if err != nil {
		return "", err
	}
	// Only a file the durable end has moved past is complete; the next
	// one may still be in the making.
	if err := r.refresh(); err != nil {
		return "", err
	}
	st := r.state
	if position.Compare(position.Pos{File: st.File}, position.Pos{File: r.file}) <= 0 {
		return "", nil
	}
	if _, err := os.Stat(filepath.Join(r.dir, want)); err != nil && !st.AtStartOf(want) {
		return "", &CorruptError{Path: filepath.Join(r.dir, want), Pos: -1, Err: fmt.Errorf("missing: the directory's durable end is in %s", st.File)}
	}
	return want, nil
}
