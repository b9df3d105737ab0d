package binlogdir

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dr-mysql/dr/lib/position"
)

// appendEvents appends copies of evs and returns the end offsets Append
// reported as boundaries.
func appendEvents(t *testing.T, w *Writer, evs []rawEvent) []int64 {
	t.Helper()
	var boundaries []int64
	for _, ev := range evs {
		b := append([]byte(nil), ev.b...)
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		boundary, err := w.Append(h, b)
		if err != nil {
			t.Fatalf("Append of the event at %d: %v", ev.off, err)
		}
		if boundary {
			boundaries = append(boundaries, w.Size)
		}
	}
	return boundaries
}

// onlyInUseDiffers checks that got and want differ at most in the in-use
// flag, and that got has it set.
func checkInUse(t *testing.T, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("file is %d bytes, want %d", len(got), len(want))
	}
	if got[InUseFlagOffset]&FlagInUse == 0 {
		t.Error("in-use flag not set while the file is written")
	}
	for i := range got {
		if i == InUseFlagOffset {
			if got[i]&^FlagInUse != want[i]&^FlagInUse {
				t.Errorf("flags byte %02x, want %02x apart from the in-use flag", got[i], want[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Fatalf("byte %d is %02x, want %02x", i, got[i], want[i])
		}
	}
}

func TestWriterReproducesFiles(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			data := readTestdata(t, fi.name)
			// The events as a reader gets them: the FDE from OpenScanner's
			// first event, the rest from Next.
			s, err := OpenScanner(filepath.Join("testdata", fi.name))
			if err != nil {
				t.Fatal(err)
			}
			evs := []rawEvent{{4, append([]byte(nil), data[4:s.Offset()]...)}}
			if fd, err := ParseFormatDescription(evs[0].b); err != nil || fd != s.FD {
				t.Fatalf("FDE from the file's first event: %+v %v, scanner has %+v", fd, err, s.FD)
			}
			for {
				off := s.Offset()
				_, ev, err := s.Next()
				if err != nil {
					break
				}
				evs = append(evs, rawEvent{off, append([]byte(nil), ev...)})
			}
			s.Close()

			dir := t.TempDir()
			tr := NewTracker(position.NewSet(position.MariaDB))
			w := NewWriter(dir, tr)
			if err := w.Open(fi.name, 0, 0); err != nil {
				t.Fatal(err)
			}
			if w.IsOpen() {
				t.Error("IsOpen before the first event")
			}
			boundaries := appendEvents(t, w, evs)
			if !equalInt64s(boundaries, fi.boundaries) {
				t.Errorf("boundaries %v\nwant %v", boundaries, fi.boundaries)
			}
			if w.Size != fi.size || w.Boundary != fi.boundaries[len(fi.boundaries)-1] {
				t.Errorf("Size %d Boundary %d", w.Size, w.Boundary)
			}
			if w.FormatDescription() != evsFD(t, evs) {
				t.Errorf("FormatDescription() = %+v", w.FormatDescription())
			}
			if tr.Set.String() != fi.set || tr.Alg != fi.alg {
				t.Errorf("tracker set %q alg %d", tr.Set, tr.Alg)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(w.Path())
			if err != nil {
				t.Fatal(err)
			}
			checkInUse(t, got, data)
			if err := w.Sync(); err != nil || w.Synced != w.Size {
				t.Fatalf("Sync: %v, Synced %d", err, w.Synced)
			}
			closed := w.LastType == RotateEvent || w.LastType == StopEvent
			if err := w.Complete(); err != nil {
				t.Fatal(err)
			}
			if w.IsOpen() {
				t.Error("IsOpen after Complete")
			}
			got, _ = os.ReadFile(w.Path())
			want := append([]byte(nil), data...)
			if closed {
				// The source cleared the flag when it closed the file.
				want[InUseFlagOffset] &^= FlagInUse
			} else {
				// A file the source never closed keeps the flag, as the
				// source's copy does after a crash.
				want[InUseFlagOffset] |= FlagInUse
			}
			if !bytes.Equal(got, want) {
				t.Error("completed file is not byte-identical to the source's")
			}
			// A completed file reads back whole.
			if ends, err := scanAll(t, w.Path()); err != io.EOF || len(ends) == 0 || ends[len(ends)-1] != fi.size {
				t.Errorf("reading the completed file: %v %v", ends, err)
			}
			// Complete and Close on a finished writer do nothing.
			if err := w.Complete(); err != nil {
				t.Error(err)
			}
			if err := w.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

func evsFD(t *testing.T, evs []rawEvent) FormatDescription {
	fd, err := ParseFormatDescription(evs[0].b)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestWriterResume(t *testing.T) {
	fi := testFile("mysql-bin.000001")
	data := readTestdata(t, fi.name)
	evs := splitEvents(t, data)
	for _, at := range []int64{256, 285, 1452, 2152} {
		dir := t.TempDir()
		w := NewWriter(dir, NewTracker(position.NewSet(position.MariaDB)))
		if err := w.Open(fi.name, 0, 0); err != nil {
			t.Fatal(err)
		}
		var first, rest []rawEvent
		for _, ev := range evs {
			if ev.off < at {
				first = append(first, ev)
			} else {
				rest = append(rest, ev)
			}
		}
		appendEvents(t, w, first)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(w.Path())
		checkInUse(t, got, data[:at])

		w2 := NewWriter(dir, NewTracker(position.NewSet(position.MariaDB)))
		if err := w2.Open(fi.name, at, 0); err != nil {
			t.Fatalf("Open at %d: %v", at, err)
		}
		if !w2.IsOpen() || w2.Size != at || w2.Boundary != at || w2.Synced != at {
			t.Fatalf("Open at %d: %+v", at, w2)
		}
		if w2.FormatDescription().ChecksumAlg != ChecksumCRC32 || w2.Tracker.Alg != ChecksumCRC32 {
			t.Errorf("Open at %d: FD %+v", at, w2.FormatDescription())
		}
		appendEvents(t, w2, rest)
		if err := w2.Complete(); err != nil {
			t.Fatal(err)
		}
		got, _ = os.ReadFile(w2.Path())
		if !bytes.Equal(got, data) {
			t.Errorf("resumed at %d: completed file differs from the source's", at)
		}
	}
}

func TestWriterRefusesBadEvents(t *testing.T) {
	fi := testFile("mysql-bin.000001")
	data := readTestdata(t, fi.name)
	evs := splitEvents(t, data)
	start := func(t *testing.T) *Writer {
		w := NewWriter(t.TempDir(), NewTracker(position.NewSet(position.MariaDB)))
		if err := w.Open(fi.name, 0, 0); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, w, evs[:2]) // FDE, GTID_LIST: Size 285
		return w
	}
	refuse := func(t *testing.T, w *Writer, ev []byte) {
		t.Helper()
		size := w.Size
		h, err := ParseHeader(ev)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Append(h, append([]byte(nil), ev...))
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("Append: %v, want *CorruptError", err)
		}
		if ce.Pos != size || ce.Path != w.Path() {
			t.Errorf("CorruptError at %d in %q, want %d in %q", ce.Pos, ce.Path, size, w.Path())
		}
		if w.Size != size {
			t.Errorf("Size moved from %d to %d", size, w.Size)
		}
	}
	finish := func(t *testing.T, w *Writer) {
		t.Helper()
		appendEvents(t, w, evs[2:])
		if err := w.Complete(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(w.Path()); !bytes.Equal(got, data) {
			t.Error("after a refused event the file is not the source's")
		}
	}
	t.Run("gap", func(t *testing.T) {
		w := start(t)
		refuse(t, w, evs[3].b) // GTID at 328 while the file ends at 285
		finish(t, w)
	})
	t.Run("duplicate", func(t *testing.T) {
		w := start(t)
		refuse(t, w, evs[1].b) // GTID_LIST again
		finish(t, w)
	})
	t.Run("log_pos one off, checksum fixed", func(t *testing.T) {
		w := start(t)
		refuse(t, w, fixLogPos(evs[2].b, uint32(evs[2].end()+1), ChecksumCRC32))
		refuse(t, w, fixLogPos(evs[2].b, uint32(evs[2].end()-1), ChecksumCRC32))
		finish(t, w)
	})
	t.Run("bad checksum", func(t *testing.T) {
		w := start(t)
		bad := append([]byte(nil), evs[2].b...)
		bad[25] ^= 1
		refuse(t, w, bad)
		finish(t, w)
	})
	t.Run("second FDE", func(t *testing.T) {
		w := start(t)
		refuse(t, w, evs[0].b)
		finish(t, w)
	})
}

func TestWriterFirstEvent(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000001")
	evs := splitEvents(t, data)
	try := func(t *testing.T, ev []byte) (*Writer, error) {
		w := NewWriter(t.TempDir(), NewTracker(position.NewSet(position.MariaDB)))
		if err := w.Open("mysql-bin.000001", 0, 0); err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(ev)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Append(h, append([]byte(nil), ev...))
		return w, err
	}
	t.Run("not a FORMAT_DESCRIPTION", func(t *testing.T) {
		w, err := try(t, fixLogPos(evs[1].b, uint32(4+len(evs[1].b)), ChecksumCRC32))
		if !isCorrupt(err) || !strings.Contains(err.Error(), "not FORMAT_DESCRIPTION") {
			t.Fatalf("%v", err)
		}
		if _, err := os.Stat(w.Path()); err == nil {
			t.Error("file created for a refused first event")
		}
	})
	t.Run("FORMAT_DESCRIPTION that does not parse", func(t *testing.T) {
		bad := append([]byte(nil), evs[0].b...)
		bad[HeaderSize] = 3 // binlog version 3
		w, err := try(t, bad)
		if !isCorrupt(err) {
			t.Fatalf("%v", err)
		}
		if _, err := os.Stat(w.Path()); err == nil {
			t.Error("file created for a refused first event")
		}
	})
	t.Run("file already there", func(t *testing.T) {
		w := NewWriter(t.TempDir(), NewTracker(position.NewSet(position.MariaDB)))
		if err := os.WriteFile(filepath.Join(w.Dir, "mysql-bin.000001"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := w.Open("mysql-bin.000001", 0, 0); err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(evs[0].b)
		_, err := w.Append(h, append([]byte(nil), evs[0].b...))
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Pos != -1 {
			t.Fatalf("%v, want *CorruptError with Pos -1", err)
		}
		if b, _ := os.ReadFile(filepath.Join(w.Dir, "mysql-bin.000001")); string(b) != "mine" {
			t.Error("existing file overwritten")
		}
	})
	t.Run("FDE with the in-use flag, as a dump sends it from an active file", func(t *testing.T) {
		// Stored as it came, flag and all: the source's file has it.
		ev := append([]byte(nil), evs[0].b...)
		ev[17] |= FlagInUse
		w, err := try(t, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Complete(); err != nil {
			t.Fatal(err)
		}
		// No ROTATE or STOP: the file is completed as the source left it,
		// in-use flag and all.
		want := append([]byte(nil), data[:256]...)
		want[InUseFlagOffset] |= FlagInUse
		if b, _ := os.ReadFile(w.Path()); !bytes.Equal(b, want) {
			t.Error("completed file is not the source's first event")
		}
	})
}

func TestWriterCloseCutsUnfinishedTransaction(t *testing.T) {
	fi := testFile("mysql-bin.000001")
	data := readTestdata(t, fi.name)
	evs := splitEvents(t, data)
	for n := 1; n <= len(evs); n++ {
		w := NewWriter(t.TempDir(), NewTracker(position.NewSet(position.MariaDB)))
		if err := w.Open(fi.name, 0, 0); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, w, evs[:n])
		end := lastBoundary(fi, evs[n-1].end())
		if w.Boundary != end {
			t.Fatalf("%d events: Boundary %d, want %d", n, w.Boundary, end)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if w.IsOpen() || w.Size != end || w.Synced != end {
			t.Fatalf("%d events: after Close Size %d Synced %d, want %d", n, w.Size, w.Synced, end)
		}
		got, _ := os.ReadFile(w.Path())
		checkInUse(t, got, data[:end])
		// What is left is a file Repair accepts as it is.
		tail, err := Repair(w.Path(), 0, end, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil || tail.End != end || tail.Cut != 0 {
			t.Fatalf("%d events: Repair after Close: %+v %v", n, tail, err)
		}
	}
}

func TestWriterSyncAndFlush(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000002")
	evs := splitEvents(t, data)
	w := NewWriter(t.TempDir(), NewTracker(position.NewSet(position.MariaDB)))
	// Nothing open: all no-ops.
	if err := w.Flush(); err != nil {
		t.Error(err)
	}
	if err := w.Sync(); err != nil {
		t.Error(err)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	if err := w.Open("mysql-bin.000002", 0, 0); err != nil {
		t.Fatal(err)
	}
	if w.Size != 4 || w.Boundary != 4 || w.Synced != 4 {
		t.Fatalf("after Open(name, 0): %+v", w)
	}
	appendEvents(t, w, evs[:5])
	if w.Synced != 4 {
		t.Errorf("Synced %d before Sync", w.Synced)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if w.Synced != w.Size || w.Size != evs[4].end() {
		t.Errorf("after Sync: Size %d Synced %d", w.Size, w.Synced)
	}
	got, _ := os.ReadFile(w.Path())
	checkInUse(t, got, data[:w.Size])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A first FORMAT_DESCRIPTION refused for its end position is refused after
// the file was created (Writer.Append calls create before checkEvent). A
// puller that then stops leaves the magic number alone in the file; the
// next start must get past it.
func TestWriterRefusedFirstEventLeavesRepairableFile(t *testing.T) {
	data := readTestdata(t, "mysql-bin.000001")
	fde := splitEvents(t, data)[0].b
	bad := fixLogPos(fde, 257, ChecksumCRC32) // one past its real end, checksum fixed
	w := NewWriter(t.TempDir(), NewTracker(position.NewSet(position.MariaDB)))
	if err := w.Open("mysql-bin.000001", 0, 0); err != nil {
		t.Fatal(err)
	}
	h, _ := ParseHeader(bad)
	if _, err := w.Append(h, bad); !isCorrupt(err) {
		t.Fatalf("Append: %v, want *CorruptError", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(w.Path())
	if err != nil {
		return // nothing left behind: fine
	}
	tail, err := Repair(w.Path(), 0, 4, NewTracker(position.NewSet(position.MariaDB)))
	if err != nil {
		t.Fatalf("after a refused first FORMAT_DESCRIPTION and Close, %s holds %d bytes (the magic) and Repair(durable 4) fails with %q (see TestRepairMagicOnly)", w.Path(), fi.Size(), err)
	}
	if !tail.Empty {
		t.Errorf("Repair: %+v, want Empty", tail)
	}
}
