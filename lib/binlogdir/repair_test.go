package binlogdir

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dr-mysql/dr/lib/position"
)

// lastBoundary is the last transaction boundary at or before cut, or 0
// when the FORMAT_DESCRIPTION is not whole.
func lastBoundary(fi fileInfo, cut int64) int64 {
	var b int64
	for _, x := range fi.boundaries {
		if x <= cut {
			b = x
		}
	}
	return b
}

// setAt is the GTID set a tracker holds after the events of data that end
// at or before end.
func setAt(t *testing.T, data []byte, end int64) string {
	tr := NewTracker(position.NewSet(position.MariaDB))
	for _, ev := range splitEvents(t, data) {
		if ev.end() > end {
			break
		}
		h, _ := ParseHeader(ev.b)
		tr.Observe(h, ev.b)
	}
	return tr.Set.String()
}

func TestRepairEveryCut(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			t.Parallel()
			data := readTestdata(t, fi.name)
			dir := t.TempDir()
			path := filepath.Join(dir, fi.name)
			for cut := int64(4); cut <= int64(len(data)); cut++ {
				if cut == 4 {
					continue // TestRepairMagicOnly
				}
				if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
					t.Fatal(err)
				}
				tr := NewTracker(position.NewSet(position.MariaDB))
				tail, err := Repair(path, 0, 4, tr)
				if err != nil {
					t.Fatalf("cut at %d: %v", cut, err)
				}
				want := lastBoundary(fi, cut)
				if want == 0 {
					// Not even the FORMAT_DESCRIPTION: the file goes.
					if !tail.Empty || tail.Cut != cut {
						t.Fatalf("cut at %d: %+v, want Empty with Cut %d", cut, tail, cut)
					}
					if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("cut at %d: file not removed: %v", cut, err)
					}
					continue
				}
				if tail.Empty || tail.End != want || tail.Cut != cut-want {
					t.Fatalf("cut at %d: %+v, want End %d Cut %d", cut, tail, want, cut-want)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data[:want]) {
					t.Fatalf("cut at %d: repaired file (%d bytes) is not the original's first %d bytes", cut, len(got), want)
				}
				wantRot := ""
				if want == int64(len(data)) {
					wantRot = fi.rotated
				}
				if tail.Rotated != wantRot {
					t.Fatalf("cut at %d: Rotated %q, want %q", cut, tail.Rotated, wantRot)
				}
				if tr.Alg != fi.alg {
					t.Fatalf("cut at %d: tracker Alg %d", cut, tr.Alg)
				}
				if s := setAt(t, data, want); tr.Set.String() != s {
					t.Fatalf("cut at %d: tracker set %q, want %q", cut, tr.Set, s)
				}
				if cut%61 != 0 && cut != int64(len(data)) {
					continue
				}
				// Repairing again changes nothing.
				tail2, err := Repair(path, 0, want, NewTracker(position.NewSet(position.MariaDB)))
				if err != nil || tail2.End != want || tail2.Cut != 0 {
					t.Fatalf("cut at %d: second repair %+v %v", cut, tail2, err)
				}
			}
		})
	}
}

// Created but only its magic number reached the disk: nothing durable is
// in it, so Repair removes it as it does a file cut inside its
// FORMAT_DESCRIPTION.
func TestRepairMagicOnly(t *testing.T) {
	for _, durable := range []int64{0, 4} {
		path := writeTemp(t, "mysql-bin.000001", []byte(Magic))
		tail, err := Repair(path, 0, durable, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil {
			t.Fatalf("Repair of a file holding only the 4-byte magic with durable=%d returns %q, want Tail{Empty: true, Cut: 4} and the file removed (scan.go Repair: OpenScanner returns a bare io.EOF here, which is neither ErrShort nor *CorruptError)", durable, err)
		}
		if !tail.Empty || tail.Cut != 4 {
			t.Errorf("durable %d: %+v, want Empty with Cut 4", durable, tail)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("durable %d: file not removed", durable)
		}
	}
}

// A file cut before the end of its magic number, with durable 4 (the
// smallest position a state file holds: ReadState refuses less, and
// dr-binlog-pull's checkpoint writes max(pos, 4)). The state names the next
// file at 4 as soon as the previous one is complete, before the new file
// exists; Writer.create makes the name durable (SyncDir) while the magic
// and FORMAT_DESCRIPTION are still in its buffer. A crash or power loss
// then leaves a 0-byte file under a state that says 4.
func TestRepairShorterThanMagic(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		data := readTestdata(t, "mysql-bin.000001")[:n]
		// With durable 0 it works.
		path := writeTemp(t, "mysql-bin.000001", data)
		tail, err := Repair(path, 0, 0, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil || !tail.Empty || tail.Cut != int64(n) {
			t.Errorf("%d bytes, durable 0: %+v %v", n, tail, err)
		}
		path = writeTemp(t, "mysql-bin.000001", data)
		tail, err = Repair(path, 0, 4, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil {
			t.Fatalf("Repair of a %d-byte file with durable=4 returns %q, want Tail{Empty: true} and the file removed: 4 is the state's \"nothing durable yet\" position, which dr-binlog-pull records before the file even exists (scan.go Repair: the check fi.Size() < durable runs before the Empty case)", n, err)
		}
		if !tail.Empty || tail.Cut != int64(n) {
			t.Errorf("%d bytes, durable 4: %+v", n, tail)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%d bytes, durable 4: not removed", n)
		}
	}
}

func TestRepairEmptyFile(t *testing.T) {
	for _, n := range []int{5, 10, 23, 100, 255} {
		data := readTestdata(t, "mysql-bin.000001")[:n]
		path := writeTemp(t, "mysql-bin.000001", data)
		tail, err := Repair(path, 0, 4, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil || !tail.Empty || tail.Cut != int64(n) {
			t.Errorf("%d bytes: %+v %v", n, tail, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%d bytes: not removed", n)
		}
	}
	// A file whose FORMAT_DESCRIPTION is recorded as durable is never
	// removed, whatever is wrong with it.
	data := append([]byte(nil), readTestdata(t, "mysql-bin.000001")...)
	data[100] ^= 1
	path := writeTemp(t, "mysql-bin.000001", data)
	if _, err := Repair(path, 0, 256, NewTracker(position.NewSet(position.MariaDB))); !isCorrupt(err) {
		t.Errorf("bad FDE, durable 256: %v, want *CorruptError", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
		t.Error("file changed")
	}
}

func TestRepairDurableBeyondCut(t *testing.T) {
	fi := testFile("mysql-bin.000001")
	data := readTestdata(t, fi.name)
	for _, cut := range []int64{4, 100, 256, 300, 1000, 1452, 2198} {
		path := writeTemp(t, fi.name, data[:cut])
		for _, durable := range []int64{cut + 1, cut + 100, 2199} {
			_, err := Repair(path, 0, durable, NewTracker(position.NewSet(position.MariaDB)))
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "recorded as durable") {
				t.Errorf("cut %d durable %d: %v, want *CorruptError", cut, durable, err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, data[:cut]) {
				t.Fatalf("cut %d durable %d: file changed", cut, durable)
			}
		}
	}
}

func TestRepairDurable(t *testing.T) {
	fi := testFile("mysql-bin.000001")
	data := readTestdata(t, fi.name)
	tests := []struct {
		name          string
		cut, durable  int64
		from          int64
		wantEnd       int64
		wantErr       bool
		wantUnchanged bool
	}{
		{"durable at the end", 2199, 2199, 0, 2199, false, false},
		{"durable at a boundary, tail torn", 2000, 1909, 0, 1909, false, false},
		{"durable at a boundary, from there", 2000, 1909, 1909, 1909, false, false},
		{"from a boundary before durable", 2190, 1452, 859, 2152, false, false},
		// The state never records a position inside a transaction; one
		// that is, with the rest of the transaction gone, is corrupt.
		{"durable inside a cut transaction", 1440, 1000, 0, 0, true, true},
		{"durable inside a torn event", 1440, 1430, 0, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, fi.name, data[:tt.cut])
			tail, err := Repair(path, tt.from, tt.durable, NewTracker(position.NewSet(position.MariaDB)))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("%+v, want an error", tail)
				}
			} else if err != nil || tail.End != tt.wantEnd {
				t.Fatalf("%+v %v, want End %d", tail, err, tt.wantEnd)
			}
			b, _ := os.ReadFile(path)
			if tt.wantUnchanged && !bytes.Equal(b, data[:tt.cut]) {
				t.Error("file changed")
			}
			if !tt.wantUnchanged && !bytes.Equal(b, data[:tt.wantEnd]) {
				t.Errorf("file is %d bytes, want the first %d", len(b), tt.wantEnd)
			}
		})
	}
}

func TestRepairFlippedByte(t *testing.T) {
	fi := testFile("mysql-bin.000001")
	data := readTestdata(t, fi.name)
	flip := func(off int64) []byte {
		b := append([]byte(nil), data...)
		b[off] ^= 0x40
		return b
	}
	// In the XID at 1421, the end of transaction 0-7-4.
	bad := flip(1430)
	t.Run("before durable: corruption, reported, file kept", func(t *testing.T) {
		path := writeTemp(t, fi.name, bad)
		_, err := Repair(path, 0, 1745, NewTracker(position.NewSet(position.MariaDB)))
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Pos != 1421 {
			t.Fatalf("%v, want *CorruptError at 1421", err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, bad) {
			t.Error("file changed")
		}
	})
	t.Run("after durable: a torn tail, cut", func(t *testing.T) {
		path := writeTemp(t, fi.name, bad)
		tail, err := Repair(path, 0, 859, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil || tail.End != 859 || tail.Cut != 2199-859 {
			t.Fatalf("%+v %v, want End 859", tail, err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, data[:859]) {
			t.Error("file is not the original's first 859 bytes")
		}
	})
	t.Run("from skips the flipped byte", func(t *testing.T) {
		// Repair reads from from on: what lies before is not checked.
		path := writeTemp(t, fi.name, bad)
		tail, err := Repair(path, 1452, 1452, NewTracker(position.NewSet(position.MariaDB)))
		if err != nil || tail.End != 2199 || tail.Rotated != "mysql-bin.000002" {
			t.Fatalf("%+v %v", tail, err)
		}
	})
}

func TestRepairMissingFile(t *testing.T) {
	_, err := Repair(filepath.Join(t.TempDir(), "mysql-bin.000001"), 0, 4, NewTracker(position.NewSet(position.MariaDB)))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}
