package binlogdir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dr-mysql/dr/lib/position"
)

func seedFiles(f testing.TB) [][]byte {
	var out [][]byte
	for _, fi := range testFiles {
		out = append(out, readTestdata(f, fi.name))
	}
	return out
}

func FuzzParseHeader(f *testing.F) {
	for _, data := range seedFiles(f) {
		for _, ev := range splitEvents(f, data) {
			f.Add(ev.b[:HeaderSize])
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, 19))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if len(b) < HeaderSize {
			if !errors.Is(err, ErrShort) {
				t.Fatalf("%d bytes: %v, want ErrShort", len(b), err)
			}
			return
		}
		if (err != nil) != (h.Size < HeaderSize) {
			t.Fatalf("Size %d, err %v", h.Size, err)
		}
		// The header re-encodes to the same bytes.
		var enc [HeaderSize]byte
		binary.LittleEndian.PutUint32(enc[0:], h.Timestamp)
		enc[4] = h.Type
		binary.LittleEndian.PutUint32(enc[5:], h.ServerID)
		binary.LittleEndian.PutUint32(enc[9:], h.Size)
		binary.LittleEndian.PutUint32(enc[13:], h.LogPos)
		binary.LittleEndian.PutUint16(enc[17:], h.Flags)
		if string(enc[:]) != string(b[:HeaderSize]) {
			t.Fatalf("%x decodes to %+v", b[:HeaderSize], h)
		}
		_ = h.Artificial()
	})
}

func FuzzParseFormatDescription(f *testing.F) {
	for _, data := range seedFiles(f) {
		f.Add(splitEvents(f, data)[0].b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ev []byte) {
		fd, err := ParseFormatDescription(ev)
		_ = VerifyChecksum(ev, ChecksumCRC32)
		if err != nil {
			return
		}
		if len(ev) < HeaderSize+57+5 {
			t.Fatalf("accepted %d bytes", len(ev))
		}
		if fd.BinlogVersion != 4 || (fd.ChecksumAlg != ChecksumOff && fd.ChecksumAlg != ChecksumCRC32) {
			t.Fatalf("accepted %+v", fd)
		}
		if len(fd.ServerVersion) > 50 || strings.IndexByte(fd.ServerVersion, 0) >= 0 {
			t.Fatalf("server version %q", fd.ServerVersion)
		}
	})
}

// maxOverrun bounds how far past the end of the input an event's size
// field may point before FuzzScanner stops calling Next: the scanner
// allocates what the size field says before it reads (see
// TestScannerHugeSizeDoesNotAllocate), and gigabytes per input would stall
// the fuzzer rather than find anything new.
const maxOverrun = 1 << 16

func declaredTooBig(data []byte, off int64) bool {
	if off+HeaderSize > int64(len(data)) {
		return false
	}
	n := int64(binary.LittleEndian.Uint32(data[off+9:]))
	return n > int64(len(data))-off+maxOverrun
}

func FuzzScanner(f *testing.F) {
	for _, data := range seedFiles(f) {
		f.Add(data)
		f.Add(data[:len(data)-7])
	}
	f.Add([]byte(Magic))
	f.Add([]byte{})
	dir := f.TempDir()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, fmt.Sprintf("f.%06d", n.Add(1)))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		if declaredTooBig(data, 4) {
			return
		}
		s, err := OpenScanner(path)
		if err != nil {
			if len(data) == len(Magic) && string(data) == Magic && err == io.EOF {
				return // known: TestOpenScannerMagicOnly
			}
			if !errors.Is(err, ErrShort) && !isCorrupt(err) {
				t.Fatalf("OpenScanner: %v (%T), want ErrShort or *CorruptError", err, err)
			}
			return
		}
		defer s.Close()
		if s.Offset() <= int64(len(Magic)) || s.Offset() > int64(len(data)) {
			t.Fatalf("Offset %d after the FDE of a %d-byte file", s.Offset(), len(data))
		}
		for i := 0; ; i++ {
			start := s.Offset()
			if declaredTooBig(data, start) {
				return
			}
			h, ev, err := s.Next()
			if err == io.EOF {
				if start != int64(len(data)) {
					t.Fatalf("io.EOF at %d of %d", start, len(data))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrShort) && !isCorrupt(err) {
					t.Fatalf("Next at %d: %v (%T), want ErrShort or *CorruptError", start, err, err)
				}
				var ce *CorruptError
				if errors.As(err, &ce) && ce.Pos != start {
					t.Fatalf("CorruptError at %d for the event at %d", ce.Pos, start)
				}
				return
			}
			end := start + int64(len(ev))
			if int(h.Size) != len(ev) || s.Offset() != end || end > int64(len(data)) || int64(h.LogPos) != end {
				t.Fatalf("event at %d: %+v, %d bytes, offset now %d", start, h, len(ev), s.Offset())
			}
			if string(ev) != string(data[start:end]) {
				t.Fatalf("event at %d: bytes differ from the input", start)
			}
			if err := VerifyChecksum(ev, s.FD.ChecksumAlg); err != nil {
				t.Fatalf("event at %d returned with a bad checksum: %v", start, err)
			}
			if i > len(data) {
				t.Fatal("more events than bytes")
			}
		}
	})
}

// FuzzTrxObserve feeds arbitrary event sequences to a Tracker. The input
// is a list of events, each [type][flavor bit][body length][body]; the
// first byte picks the checksum algorithm and the set's flavor.
func FuzzTrxObserve(f *testing.F) {
	// Seeds: the real files, re-encoded.
	for _, data := range seedFiles(f) {
		evs := splitEvents(f, data)
		alg := data[len(evs[0].b)+4-5]
		seed := []byte{alg}
		for _, ev := range evs {
			body := Body(ev.b, alg)
			if len(body) > 255 {
				body = body[:255]
			}
			seed = append(seed, ev.b[4], byte(len(body)))
			seed = append(seed, body...)
		}
		f.Add(seed)
	}
	f.Add([]byte{0x81, GTIDEvent, 25})
	f.Add([]byte{0, PreviousGTIDsEvent, 8, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		alg := data[0] & 1
		flavor := position.MariaDB
		if data[0]&0x80 != 0 {
			flavor = position.MySQL
		}
		tr := NewTracker(position.NewSet(flavor))
		tr.Alg = alg
		var trx Trx
		pos := uint32(4)
		for p := 1; p+2 <= len(data); {
			typ, n := data[p], int(data[p+1])
			p += 2
			body := data[p:min(p+n, len(data))]
			p += len(body)
			ev := mkEvent(typ, 7, 0, 0, body, alg)
			pos += uint32(len(ev))
			binary.LittleEndian.PutUint32(ev[13:], pos)
			h, err := ParseHeader(ev)
			if err != nil {
				t.Fatal(err)
			}
			boundary := tr.Observe(h, ev)
			if boundary && tr.InTransaction() {
				t.Fatalf("boundary reported inside a transaction after type %d", typ)
			}
			// A bare Trx agrees with the Tracker about boundaries (the
			// Tracker only adds GTID bookkeeping), as long as the
			// algorithm does not change under it.
			if typ != FormatDescriptionEvent {
				b2, ended := trx.Observe(h, ev, tr.Alg)
				if b2 != boundary {
					t.Fatalf("Trx and Tracker disagree on type %d", typ)
				}
				if ended && !b2 {
					t.Fatal("ended without a boundary")
				}
			} else {
				trx = tr.Trx
			}
		}
		_ = tr.Set.String()
	})
}
