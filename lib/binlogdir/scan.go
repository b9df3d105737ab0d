package binlogdir

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dr-mysql/dr/lib/fsx"
)

// Scanner reads whole, verified events from a binlog file: each event's
// size, end position and checksum are checked, so a reader never acts on
// a torn or flipped event.
type Scanner struct {
	Path string
	FD   FormatDescription
	// FDEvent is the whole FORMAT_DESCRIPTION event, for a decoder that
	// must see it before the events it describes.
	FDEvent []byte
	f       *os.File
	r       *bufio.Reader
	off     int64
	size    int64 // of the file when last looked at
	buf     []byte
}

// OpenScanner opens a binlog file and reads its magic and
// FORMAT_DESCRIPTION event; Next returns the events after it.
func OpenScanner(path string) (*Scanner, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &Scanner{Path: path, f: f, r: bufio.NewReaderSize(f, 1<<20)}
	if err := s.readHead(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *Scanner) readHead() error {
	var m [len(Magic)]byte
	if _, err := io.ReadFull(s.r, m[:]); err != nil {
		return s.corrupt(0, fmt.Errorf("no binlog header: %w", ErrShort))
	}
	if string(m[:]) != Magic {
		return s.corrupt(0, errors.New("not a binlog file (bad magic number)"))
	}
	s.off = int64(len(Magic))
	h, ev, err := s.read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: no format description event: %w", s.Path, ErrShort)
	}
	if err != nil {
		return err
	}
	if h.Type != FormatDescriptionEvent {
		return s.corrupt(int64(len(Magic)), fmt.Errorf("first event is of type %d, not FORMAT_DESCRIPTION", h.Type))
	}
	fd, err := ParseFormatDescription(ev)
	if err != nil {
		return s.corrupt(int64(len(Magic)), err)
	}
	if err := VerifyChecksum(ev, fd.ChecksumAlg); err != nil {
		return s.corrupt(int64(len(Magic)), err)
	}
	s.FD = fd
	s.FDEvent = append([]byte(nil), ev...)
	return nil
}

// Offset is the file position of the next event.
func (s *Scanner) Offset() int64 { return s.off }

// Seek moves to off, which must be the start of an event.
func (s *Scanner) SeekTo(off int64) error {
	if _, err := s.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	s.r.Reset(s.f)
	s.off = off
	return nil
}

// Close closes the file.
func (s *Scanner) Close() error { return s.f.Close() }

// Next returns the next event. At the end of the file it returns io.EOF;
// when the file ends inside an event, an error wrapping ErrShort; a bad
// event is a *CorruptError. The returned slice is valid until the next call.
func (s *Scanner) Next() (Header, []byte, error) {
	start := s.off
	h, ev, err := s.read()
	if err != nil {
		return h, nil, err
	}
	if err := checkEvent(h, ev, start, s.FD.ChecksumAlg); err != nil {
		return h, nil, s.corrupt(start, err)
	}
	return h, ev, nil
}

func (s *Scanner) read() (Header, []byte, error) {
	hb, err := s.r.Peek(HeaderSize)
	if len(hb) == 0 && errors.Is(err, io.EOF) {
		return Header{}, nil, io.EOF
	}
	if err != nil {
		return Header{}, nil, fmt.Errorf("%s at %d: %w", s.Path, s.off, ErrShort)
	}
	h, err := ParseHeader(hb)
	if err != nil {
		return h, nil, s.corrupt(s.off, err)
	}
	if s.off+int64(h.Size) > s.size {
		// Do not trust a size field before the bytes are there: a torn
		// header could ask for gigabytes. The file may have grown since
		// it was last looked at.
		if fi, err := s.f.Stat(); err == nil {
			s.size = fi.Size()
		}
		if s.off+int64(h.Size) > s.size {
			return h, nil, fmt.Errorf("%s at %d: %w", s.Path, s.off, ErrShort)
		}
	}
	if cap(s.buf) < int(h.Size) {
		s.buf = make([]byte, h.Size)
	}
	ev := s.buf[:h.Size]
	if _, err := io.ReadFull(s.r, ev); err != nil {
		return h, nil, fmt.Errorf("%s at %d: %w", s.Path, s.off, ErrShort)
	}
	s.off += int64(h.Size)
	return h, ev, nil
}

func (s *Scanner) corrupt(pos int64, err error) error {
	return &CorruptError{Path: s.Path, Pos: pos, Err: err}
}

// checkEvent verifies what can be verified of an event that starts at
// off in its file: its end position and its checksum.
func checkEvent(h Header, ev []byte, off int64, alg byte) error {
	if h.LogPos != uint32(off+int64(h.Size)) {
		return fmt.Errorf("event claims to end at %d but ends at %d", h.LogPos, uint32(off+int64(h.Size)))
	}
	return VerifyChecksum(ev, alg)
}

// Tail is what Repair found at the end of the active file.
type Tail struct {
	End      int64  // the file now ends here, after its last whole transaction
	Cut      int64  // bytes cut off
	LastType byte   // type of the last event kept
	Rotated  string // the next file's name when the file ends with a ROTATE event
	Stopped  bool   // the file ends with a STOP event: the source shut down and will start the next file
	Empty    bool   // the file did not even hold its FORMAT_DESCRIPTION and was removed
}

// Repair makes the active file end on a transaction boundary. It reads
// from from (a boundary, normally the state's durable position) to the
// end, cuts off a partial trailing event or an unfinished transaction,
// and fsyncs. Events that end at or before durable were fsync'd before the
// state pointed at them: a bad one there is corruption, not a torn write,
// and is reported instead of cut. tr follows the events read, so its GTID
// set ends as of the new end of the file.
func Repair(path string, from, durable int64, tr *Tracker) (Tail, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Tail{}, err
	}
	if fi.Size() < durable && durable > int64(len(Magic)) {
		return Tail{}, &CorruptError{Path: path, Pos: -1, Err: fmt.Errorf("file is %d bytes but %d are recorded as durable", fi.Size(), durable)}
	}
	s, err := OpenScanner(path)
	if err != nil {
		if durable <= int64(len(Magic)) && (errors.Is(err, ErrShort) || isCorrupt(err)) {
			// Created but its first event never made it to disk: the
			// file holds nothing durable and is fetched again whole.
			if err := os.Remove(path); err != nil {
				return Tail{}, err
			}
			return Tail{Empty: true, Cut: fi.Size()}, nil
		}
		return Tail{}, err
	}
	defer s.Close()
	if from < s.Offset() {
		from = s.Offset()
	} else if err := s.SeekTo(from); err != nil {
		return Tail{}, err
	}
	tr.Alg = s.FD.ChecksumAlg
	end := from
	lastType := byte(FormatDescriptionEvent)
	var rotated string
	for {
		start := s.Offset()
		h, ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if start < durable {
				return Tail{}, err
			}
			break // a torn or unflushed tail: cut it
		}
		if tr.Observe(h, ev) {
			end = s.Offset()
			lastType = h.Type
			rotated = ""
			if h.Type == RotateEvent {
				rotated, _, _ = ParseRotate(Body(ev, s.FD.ChecksumAlg))
			}
		}
	}
	if end < durable {
		return Tail{}, &CorruptError{Path: path, Pos: end, Err: fmt.Errorf("durable position %d is not at a transaction boundary", durable)}
	}
	tail := Tail{End: end, Cut: fi.Size() - end, LastType: lastType, Rotated: rotated, Stopped: lastType == StopEvent}
	// Always fsync, even with nothing cut: what a killed writer left may
	// be whole but only in the page cache, and the caller is about to
	// record it as durable.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return Tail{}, err
	}
	defer f.Close()
	if tail.Cut > 0 {
		if err := f.Truncate(end); err != nil {
			return Tail{}, fmt.Errorf("truncate %s to %d: %w", path, end, err)
		}
	}
	if err := f.Sync(); err != nil {
		return Tail{}, fsx.PathError("fsync", path, err)
	}
	return tail, nil
}

func isCorrupt(err error) bool {
	var c *CorruptError
	return errors.As(err, &c)
}
