package binlogdir

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestScannerRealFiles(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			data := readTestdata(t, fi.name)
			if int64(len(data)) != fi.size {
				t.Fatalf("file is %d bytes, mariadb-binlog says %d", len(data), fi.size)
			}
			s, err := OpenScanner(filepath.Join("testdata", fi.name))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.FD.ChecksumAlg != fi.alg || s.FD.ServerVersion != "10.11.19-MariaDB-0+deb12u1-log" {
				t.Errorf("FD = %+v", s.FD)
			}
			if s.Offset() != 256 {
				t.Errorf("after the FDE Offset() = %d, want 256", s.Offset())
			}
			var starts []int64
			starts = append(starts, 4) // the FDE, read by OpenScanner
			for {
				start := s.Offset()
				h, ev, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("at %d: %v", start, err)
				}
				starts = append(starts, start)
				if int64(h.LogPos) != s.Offset() || int(h.Size) != len(ev) {
					t.Errorf("at %d: header %+v, len %d, offset now %d", start, h, len(ev), s.Offset())
				}
				if !bytes.Equal(ev, data[start:s.Offset()]) {
					t.Errorf("at %d: bytes differ from the file", start)
				}
			}
			if !equalInt64s(starts, fi.starts) {
				t.Errorf("event starts %v\nwant (mariadb-binlog) %v", starts, fi.starts)
			}
			if s.Offset() != fi.size {
				t.Errorf("ended at %d, want %d", s.Offset(), fi.size)
			}
			// EOF stays EOF.
			if _, _, err := s.Next(); err != io.EOF {
				t.Errorf("second Next at the end: %v", err)
			}
		})
	}
}

func equalInt64s(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// scanAll reads events until an error and returns the offsets reached and
// the error that stopped it.
func scanAll(t *testing.T, path string) (ends []int64, err error) {
	t.Helper()
	s, err := OpenScanner(path)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for {
		_, _, err := s.Next()
		if err != nil {
			return ends, err
		}
		ends = append(ends, s.Offset())
	}
}

func TestScannerTruncated(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			data := readTestdata(t, fi.name)
			dir := t.TempDir()
			path := filepath.Join(dir, fi.name)
			evs := splitEvents(t, data)
			for _, last := range []rawEvent{evs[len(evs)-1], evs[len(evs)/2]} {
				// Cut at every offset inside the event (its first byte
				// included, its end excluded).
				for cut := last.off + 1; cut < last.end(); cut++ {
					if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
						t.Fatal(err)
					}
					ends, err := scanAll(t, path)
					if !errors.Is(err, ErrShort) {
						t.Fatalf("cut at %d: %v, want ErrShort", cut, err)
					}
					if isCorrupt(err) {
						t.Fatalf("cut at %d: a torn tail is reported as corrupt: %v", cut, err)
					}
					if len(ends) == 0 || ends[len(ends)-1] != last.off {
						t.Fatalf("cut at %d: events up to %v, want the last to end at %d", cut, ends, last.off)
					}
				}
				// Cut exactly before the event: a clean end.
				if err := os.WriteFile(path, data[:last.off], 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := scanAll(t, path); err != io.EOF {
					t.Fatalf("cut at event start %d: %v, want io.EOF", last.off, err)
				}
			}
		})
	}
}

func TestScannerFlippedBodyByte(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000001")
	fi := testFile("mysql-bin.000001")
	dir := t.TempDir()
	path := filepath.Join(dir, "mysql-bin.000001")
	for _, ev := range splitEvents(t, data)[1:] {
		for i := int64(HeaderSize); i < int64(len(ev.b)); i++ {
			bad := append([]byte(nil), data...)
			bad[ev.off+i] ^= 0x55
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			ends, err := scanAll(t, path)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("byte %d of event at %d flipped: %v, want *CorruptError", i, ev.off, err)
			}
			if ce.Pos != ev.off || ce.Path != path {
				t.Fatalf("byte %d of event at %d flipped: Pos %d Path %q", i, ev.off, ce.Pos, ce.Path)
			}
			if errors.Is(err, ErrShort) {
				t.Fatalf("a flipped byte wraps ErrShort: %v", err)
			}
			if len(ends) > 0 && ends[len(ends)-1] != ev.off {
				t.Fatalf("events before the bad one end at %d, want %d", ends[len(ends)-1], ev.off)
			}
		}
	}
	_ = fi
}

func TestScannerBadHeaderFields(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000002")
	evs := splitEvents(t, data)
	target := evs[3] // the GTID at 342
	dir := t.TempDir()
	path := filepath.Join(dir, "f.000001")
	write := func(b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("log_pos off by one, checksum fixed", func(t *testing.T) {
		b := append([]byte(nil), data...)
		copy(b[target.off:], fixLogPos(target.b, uint32(target.end())+1, ChecksumCRC32))
		write(b)
		_, err := scanAll(t, path)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Pos != target.off {
			t.Fatalf("%v, want *CorruptError at %d", err, target.off)
		}
	})
	t.Run("size smaller than a header", func(t *testing.T) {
		b := append([]byte(nil), data...)
		b[target.off+9] = 5
		write(b)
		_, err := scanAll(t, path)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Pos != target.off {
			t.Fatalf("%v, want *CorruptError at %d", err, target.off)
		}
	})
	t.Run("size larger than the file", func(t *testing.T) {
		// A flipped high byte of the size reads as a torn tail; nothing
		// more can be told from the bytes.
		b := append([]byte(nil), data...)
		b[target.off+11] = 0x10
		write(b)
		_, err := scanAll(t, path)
		if !errors.Is(err, ErrShort) {
			t.Fatalf("%v, want ErrShort", err)
		}
	})
}

func TestOpenScannerHead(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000001")
	fde := splitEvents(t, data)[0]
	gl := splitEvents(t, data)[1]
	tests := []struct {
		name    string
		data    []byte
		short   bool // wraps ErrShort
		corrupt bool // *CorruptError
	}{
		{"empty", nil, true, true},
		{"3 bytes", data[:3], true, true},
		{"bad magic", append([]byte("\xfebim"), data[4:]...), false, true},
		{"magic and part of fde header", data[:4+10], true, false},
		{"magic and part of fde body", data[:200], true, false},
		{"fde checksum bad", func() []byte {
			b := append([]byte(nil), data...)
			b[100] ^= 1
			return b
		}(), false, true},
		{"first event not fde", append([]byte(Magic), fixLogPos(gl.b, uint32(4+len(gl.b)), ChecksumCRC32)...), false, true},
		{"fde binlog version 3", func() []byte {
			b := append([]byte(nil), data...)
			b[4+HeaderSize] = 3
			return b
		}(), false, true},
	}
	_ = fde
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "x.000001", tt.data)
			s, err := OpenScanner(path)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if tt.short != errors.Is(err, ErrShort) {
				t.Errorf("errors.Is(%v, ErrShort) = %v, want %v", err, !tt.short, tt.short)
			}
			if tt.corrupt != isCorrupt(err) {
				t.Errorf("isCorrupt(%v) = %v, want %v", err, !tt.corrupt, tt.corrupt)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := OpenScanner(filepath.Join(t.TempDir(), "nope.000001"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v", err)
		}
	})
}

// A file holding the magic number alone ends before its first event: that
// is a torn file like one cut inside its FORMAT_DESCRIPTION, and must not
// come out as a bare io.EOF (no path, no position, and indistinguishable
// from "no more events" to a caller that loops on Next).
func TestOpenScannerMagicOnly(t *testing.T) {
	path := writeTemp(t, "x.000001", []byte(Magic))
	s, err := OpenScanner(path)
	if err == nil {
		s.Close()
		t.Fatal("no error for a file holding only the magic number")
	}
	if err == io.EOF || !errors.Is(err, ErrShort) {
		t.Fatalf("OpenScanner on a file holding only the magic returns %q (bare io.EOF), want an error wrapping ErrShort like any file cut inside its FORMAT_DESCRIPTION (scan.go readHead: s.read() returns io.EOF when Peek finds 0 bytes)", err)
	}
}

func TestScannerSeekTo(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000001")
	s, err := OpenScanner(filepath.Join("testdata", "mysql-bin.000001"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Read a few, then jump back and forth between event starts.
	for range 5 {
		if _, _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	for _, off := range []int64{1452, 256, 2152, 859} {
		if err := s.SeekTo(off); err != nil {
			t.Fatal(err)
		}
		h, ev, err := s.Next()
		if err != nil {
			t.Fatalf("after SeekTo(%d): %v", off, err)
		}
		if !bytes.Equal(ev, data[off:off+int64(h.Size)]) {
			t.Errorf("after SeekTo(%d): wrong bytes", off)
		}
	}
}

// A header whose size field is garbage (a flipped high bit, stale bytes in
// a torn tail) must not make the scanner allocate what the field says
// before it finds out the file is shorter: 4 GiB for one bad byte.
func TestScannerHugeSizeDoesNotAllocate(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000002")
	evs := splitEvents(t, data)
	b := append([]byte(nil), data[:evs[1].off]...)
	hdr := append([]byte(nil), evs[1].b[:HeaderSize]...)
	hdr[9], hdr[10], hdr[11], hdr[12] = 0, 0, 0, 0x10 // 256 MiB (0xff here would be 4 GiB)
	b = append(b, hdr...)
	b = append(b, make([]byte, 100)...)
	path := writeTemp(t, "mysql-bin.000002", b)
	s, err := OpenScanner(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err = s.Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrShort) && !isCorrupt(err) {
		t.Fatalf("Next: %v, want ErrShort or *CorruptError", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Fatalf("Next on a %d-byte file whose next header claims 256 MiB allocated %d MiB before failing with %v (scan.go Scanner.read: make([]byte, h.Size) before checking the size against the file)", len(b), n>>20, err)
	}
}
