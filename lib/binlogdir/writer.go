package binlogdir

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dr-mysql/dr/lib/fsx"
)

// Writer appends events received from a source to the active file of a
// directory. It checks every event before it writes it: the end position
// must follow on from the file's size (no gap, no duplicate) and the
// checksum must hold. Writes are buffered; Sync makes them durable.
type Writer struct {
	Dir  string
	Name string // the active file; "" before the first one

	Tracker  *Tracker
	Size     int64 // bytes appended, buffered or not
	Boundary int64 // the end of the last whole transaction
	Synced   int64 // bytes fsync'd
	Durable  int64 // the end of the last whole transaction that is fsync'd: what a state may point at
	LastType byte  // type of the file's last event (ROTATE and STOP end a file the source closed)

	f   *os.File
	bw  *bufio.Writer
	fd  FormatDescription
	err error // the first write or fsync failure: after it nothing this writer did is trusted

	writeback int64 // bytes up to which the kernel was asked to start writing back
}

// NewWriter makes a writer for dir whose GTIDs go into tr.
func NewWriter(dir string, tr *Tracker) *Writer {
	return &Writer{Dir: dir, Tracker: tr}
}

// Path is the path of the active file.
func (w *Writer) Path() string { return filepath.Join(w.Dir, w.Name) }

// IsOpen reports whether a file is open for appending.
func (w *Writer) IsOpen() bool { return w.f != nil }

// Open continues the active file name, which ends at size on a
// transaction boundary and is fsync'd (Repair made it so); lastType is the
// type of its last event. A file that does not exist yet is created when
// its FORMAT_DESCRIPTION arrives.
func (w *Writer) Open(name string, size int64, lastType byte) error {
	if w.err != nil {
		return w.err
	}
	size = max(size, int64(len(Magic)))
	w.Name, w.Size, w.Boundary, w.Synced, w.Durable, w.LastType = name, size, size, size, size, lastType
	w.writeback = size
	if size == int64(len(Magic)) {
		return nil
	}
	s, err := OpenScanner(w.Path())
	if err != nil {
		return err
	}
	w.fd = s.FD
	s.Close()
	w.Tracker.Alg = w.fd.ChecksumAlg
	f, err := os.OpenFile(w.Path(), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if _, err := f.Seek(size, 0); err != nil {
		f.Close()
		return err
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, 1<<20)
	return nil
}

// FormatDescription is the active file's FORMAT_DESCRIPTION.
func (w *Writer) FormatDescription() FormatDescription { return w.fd }

// Err is the failure that stopped the writer, if any.
func (w *Writer) Err() error { return w.err }

// fail records the first write or fsync failure. After a failed write the
// file may hold part of what was written; after a failed fsync, Linux may
// report the next fsync as a success without the data on disk. Either way
// the writer must not vouch for any byte it did not vouch for before.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// Append writes one event that the source says belongs at the end of the
// active file, and reports whether a transaction boundary follows it.
func (w *Writer) Append(h Header, ev []byte) (bool, error) {
	if w.err != nil {
		return false, w.err
	}
	if w.f == nil {
		if h.Type != FormatDescriptionEvent || w.Size != int64(len(Magic)) {
			return false, w.corrupt(w.Size, fmt.Errorf("stream starts file %s with an event of type %d, not FORMAT_DESCRIPTION", w.Name, h.Type))
		}
		fd, err := ParseFormatDescription(ev)
		if err != nil {
			return false, w.corrupt(w.Size, err)
		}
		// Check the event before the file exists: a refused first event
		// must not leave a file behind.
		if err := checkEvent(h, ev, w.Size, fd.ChecksumAlg); err != nil {
			return false, w.corrupt(w.Size, err)
		}
		if err := w.create(); err != nil {
			return false, err
		}
		w.fd = fd
		w.Tracker.Alg = fd.ChecksumAlg
	}
	if err := checkEvent(h, ev, w.Size, w.fd.ChecksumAlg); err != nil {
		return false, w.corrupt(w.Size, err)
	}
	if h.Type == FormatDescriptionEvent && w.Size == int64(len(Magic)) {
		// The server clears the in-use flag when it sends the event; put
		// it back while the file is being written, as the source's own
		// file has it, so the two stay byte-identical. Complete clears it.
		ev[17] |= FlagInUse
	}
	if _, err := w.bw.Write(ev); err != nil {
		return false, w.fail(fsx.PathError("write", w.Path(), err))
	}
	w.Size += int64(len(ev))
	w.LastType = h.Type
	if w.Size-w.writeback >= fsx.WritebackStep {
		// What bufio has handed to the kernel goes to disk in the
		// background from now, so the pull does not stall on the disk
		// at the next fsync; a failure shows at that fsync.
		if inKernel := w.Size - int64(w.bw.Buffered()); inKernel > w.writeback {
			fsx.StartWriteback(w.f, w.writeback, inKernel-w.writeback)
			w.writeback = inKernel
		}
	}
	boundary := w.Tracker.Observe(h, ev)
	if boundary {
		w.Boundary = w.Size
	}
	return boundary, nil
}

func (w *Writer) create() error {
	f, err := os.OpenFile(w.Path(), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// Left over from a crash before its first event was durable
		// (Repair removes those); anything else is not ours to overwrite.
		return &CorruptError{Path: w.Path(), Pos: -1, Err: errors.New("file exists but the directory state does not know it")}
	}
	if err != nil {
		return w.fail(fsx.PathError("create", w.Path(), err))
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, 1<<20)
	if _, err := w.bw.WriteString(Magic); err != nil {
		return w.fail(fsx.PathError("write", w.Path(), err))
	}
	// The new name must survive a crash before the state records any of
	// its bytes (the state may name it already, at its start).
	return w.fail0(fsx.SyncDir(w.Dir))
}

func (w *Writer) fail0(err error) error {
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// Flush hands buffered bytes to the kernel, where readers of the file see them.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.bw == nil {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(fsx.PathError("write", w.Path(), err))
	}
	return nil
}

// Sync flushes and fsyncs the active file. Durable then reaches the last
// transaction boundary written.
func (w *Writer) Sync() error {
	if w.err != nil {
		return w.err
	}
	if w.f == nil || w.Synced == w.Size {
		w.Durable = w.Boundary
		return nil
	}
	boundary, size := w.Boundary, w.Size
	if err := w.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(fsx.PathError("fsync", w.Path(), err))
	}
	w.Synced, w.Durable = size, boundary
	return nil
}

// Complete finishes the active file and closes it, fsync'd. A file the
// source closed (it ends with ROTATE or STOP) gets its in-use flag
// cleared, as the source's own copy does; a file the source left by
// crashing keeps it, as the source's copy does too.
func (w *Writer) Complete() error {
	if w.err != nil {
		return w.err
	}
	if w.f == nil {
		return nil
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if w.LastType == RotateEvent || w.LastType == StopEvent {
		var flag [1]byte
		if _, err := w.f.ReadAt(flag[:], int64(InUseFlagOffset)); err != nil {
			return w.fail(fsx.PathError("read", w.Path(), err))
		}
		flag[0] &^= FlagInUse
		if _, err := w.f.WriteAt(flag[:], int64(InUseFlagOffset)); err != nil {
			return w.fail(fsx.PathError("write", w.Path(), err))
		}
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(fsx.PathError("fsync", w.Path(), err))
	}
	w.Synced, w.Durable = w.Size, w.Size
	err := w.f.Close()
	w.f, w.bw = nil, nil
	return w.fail0(err)
}

// Close stops writing the active file without completing it: it cuts off
// an unfinished transaction, so the file ends on a boundary, and fsyncs.
// After a failure it only cuts the file back to what is durable.
func (w *Writer) Close() error {
	if w.f == nil {
		return w.err
	}
	defer func() { w.f, w.bw = nil, nil }()
	if w.err != nil {
		// Best effort, for a tidy file: what was durable stays.
		w.f.Truncate(w.Durable)
		w.f.Close()
		return w.err
	}
	err := w.Flush()
	if err == nil && w.Size != w.Boundary {
		if err = w.f.Truncate(w.Boundary); err == nil {
			w.Size = w.Boundary
		} else {
			err = w.fail(fsx.PathError("truncate", w.Path(), err))
		}
	}
	if err == nil {
		if err = w.f.Sync(); err == nil {
			w.Synced, w.Durable = w.Size, w.Size
		} else {
			err = w.fail(fsx.PathError("fsync", w.Path(), err))
		}
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = w.fail(cerr)
	}
	return err
}

func (w *Writer) corrupt(pos int64, err error) error {
	return &CorruptError{Path: w.Path(), Pos: pos, Err: err}
}
