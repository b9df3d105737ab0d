package binlogdir

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// After a rotation the pull records the new file at its start before the
// source's first event of it arrives and the file is created. A reader that gets there must
// wait for the file (or end, without --follow), not call it missing.
func TestReaderRotatedFileNotCreatedYet(t *testing.T) {
	dir := t.TempDir()
	first := readTestdata(t, "mysql-bin.000001")
	if err := os.WriteFile(filepath.Join(dir, "mysql-bin.000001"), first, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteState(dir, &State{File: "mysql-bin.000002", Pos: uint64(len(Magic))}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	readAll := func(r *Reader) (last Event, err error) {
		for {
			ev, err := r.Next(ctx)
			if err != nil {
				return last, err
			}
			last = ev
		}
	}

	r, err := NewDirReader(dir, "mysql-bin.000001", false)
	if err != nil {
		t.Fatal(err)
	}
	last, err := readAll(r)
	r.Close()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("without follow: %v, want io.EOF", err)
	}
	if last.File != "mysql-bin.000001" || last.End() != int64(len(first)) {
		t.Fatalf("last event %s ending %d, want the end of mysql-bin.000001 (%d)", last.File, last.End(), len(first))
	}

	// Following, the reader waits, and goes on once the file appears and
	// its bytes are durable.
	second := readTestdata(t, "mysql-bin.000002")
	r, err = NewDirReader(dir, "mysql-bin.000001", true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.poll = time.Millisecond
	waits := 0
	r.Idle = func() error {
		switch waits++; waits {
		case 3:
			// Created, its first bytes still in the pull's buffer.
			return os.WriteFile(filepath.Join(dir, "mysql-bin.000002"), nil, 0o644)
		case 6:
			if err := os.WriteFile(filepath.Join(dir, "mysql-bin.000002"), second, 0o644); err != nil {
				return err
			}
			return WriteState(dir, &State{File: "mysql-bin.000002", Pos: uint64(len(second))})
		case 100:
			return errors.New("still waiting")
		}
		return nil
	}
	for {
		ev, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("following: %v", err)
		}
		if ev.File == "mysql-bin.000002" && ev.End() == int64(len(second)) {
			break
		}
	}

	// A state that has moved past a file that never appeared is a hole.
	os.Remove(filepath.Join(dir, "mysql-bin.000002"))
	if err := WriteState(dir, &State{File: "mysql-bin.000003", Pos: uint64(len(Magic))}); err != nil {
		t.Fatal(err)
	}
	r2, err := NewDirReader(dir, "mysql-bin.000001", false)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	_, err = readAll(r2)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != filepath.Join(dir, "mysql-bin.000002") {
		t.Fatalf("state past a missing file: %v, want a CorruptError naming mysql-bin.000002", err)
	}
}

// Starting right at a file the state names at its start, before the pull
// has created it: the replay after a rotation, or of a fresh directory.
func TestReaderStartsAtFileNotCreatedYet(t *testing.T) {
	dir := t.TempDir()
	if err := WriteState(dir, &State{File: "mysql-bin.000002", Pos: uint64(len(Magic))}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := NewDirReader(dir, "mysql-bin.000002", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("without follow: %v, want io.EOF", err)
	}

	second := readTestdata(t, "mysql-bin.000002")
	r, err = NewDirReader(dir, "mysql-bin.000002", true)
	if err != nil {
		t.Fatal(err)
	}
	r.poll = time.Millisecond
	waits := 0
	r.Idle = func() error {
		if waits++; waits == 3 {
			if err := os.WriteFile(filepath.Join(dir, "mysql-bin.000002"), second, 0o644); err != nil {
				return err
			}
			return WriteState(dir, &State{File: "mysql-bin.000002", Pos: uint64(len(second))})
		}
		if waits > 100 {
			return errors.New("still waiting")
		}
		return nil
	}
	ev, err := r.Next(ctx)
	if err != nil || ev.Header.Type != FormatDescriptionEvent || waits < 3 {
		t.Fatalf("following: event of type %d after %d waits, %v; want the FORMAT_DESCRIPTION once the file is there", ev.Header.Type, waits, err)
	}
	r.Close()
}

// Durable bytes in a file that is not there are lost, and a state file
// that disappears under a reader is an error, not a crash.
func TestReaderMissingDurableBytes(t *testing.T) {
	dir := t.TempDir()
	if err := WriteState(dir, &State{File: "mysql-bin.000002", Pos: 400}); err != nil {
		t.Fatal(err)
	}
	r, err := NewDirReader(dir, "mysql-bin.000002", true)
	if err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := r.Next(context.Background()); !errors.As(err, &ce) {
		t.Fatalf("durable end in a missing file: %v, want a CorruptError", err)
	}

	if err := WriteState(dir, &State{File: "mysql-bin.000002", Pos: uint64(len(Magic))}); err != nil {
		t.Fatal(err)
	}
	r, err = NewDirReader(dir, "mysql-bin.000002", true)
	if err != nil {
		t.Fatal(err)
	}
	r.poll = time.Millisecond
	r.Idle = func() error { return os.Remove(filepath.Join(dir, StateName)) }
	if _, err := r.Next(context.Background()); !errors.As(err, &ce) || ce.Path != filepath.Join(dir, StateName) {
		t.Fatalf("state file removed: %v, want a CorruptError naming it", err)
	}
}
