package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/local"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// fakePacks returns np packs of per blobs each, with random ids; the
// blobs tile each pack as pack.Writer would lay them out.
func fakePacks(rng *rand.Rand, np, per int) (packs []ids.ID, sizes []int64, blobs [][]pack.Blob) {
	for range np {
		var pid ids.ID
		fill(rng, pid[:])
		var bs []pack.Blob
		var off int64
		for range per {
			var id ids.ID
			fill(rng, id[:])
			raw := uint32(1 + rng.IntN(1<<20))
			b := pack.Blob{ID: id, Type: pack.DataBlob, Compression: pack.Zstd, Offset: off, Length: raw / 2, RawLength: raw}
			if rng.IntN(4) == 0 {
				b.Compression, b.Length = pack.None, raw
			}
			off += int64(b.Length)
			bs = append(bs, b)
		}
		packs = append(packs, pid)
		sizes = append(sizes, off+int64(per)*pack.EntrySize+pack.TrailerSize)
		blobs = append(blobs, bs)
	}
	return
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func writer(t testing.TB, rng *rand.Rand, np, per int) (*Writer, map[ids.ID]Entry) {
	t.Helper()
	packs, sizes, blobs := fakePacks(rng, np, per)
	w := NewWriter()
	want := map[ids.ID]Entry{}
	for _, i := range rng.Perm(np) {
		if err := w.AddPack(packs[i], sizes[i], blobs[i]); err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs[i] {
			want[b.ID] = Entry{Pack: packs[i], Blob: b}
		}
	}
	return w, want
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		np, per int
		f       int
	}{
		{"one", 1, 1, 8},
		{"small", 30, 20, 8},
		{"big", 700, 100, 16}, // 70,000 records: F=16
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.np)))
			be := mem.New()
			w, want := writer(t, rng, tc.np, tc.per)
			id, size, err := w.Save(ctx, be)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids.Hash(be.Bytes(Handle(id))); got != id || int64(len(be.Bytes(Handle(id)))) != size {
				t.Fatalf("saved under %s, hashes to %s", id, got)
			}
			loads := be.Loads()
			x, err := Open(ctx, be)
			if err != nil {
				t.Fatal(err)
			}
			if n := be.Loads() - loads; n != 2 {
				t.Errorf("open cost %d loads, want 2 (trailer, head)", n)
			}
			f := x.Files()[0]
			if f.t.f != tc.f || f.Len() != len(want) {
				t.Fatalf("F=%d N=%d, want F=%d N=%d", f.t.f, f.Len(), tc.f, len(want))
			}
			// Every id is found with one load; a record range is small.
			n := 0
			for id, e := range want {
				if n++; n > 300 {
					break
				}
				loads := be.Loads()
				got, ok, err := x.Lookup(ctx, id)
				if err != nil || !ok || got != e {
					t.Fatalf("lookup %s: %v %v %v, want %v", id, got, ok, err, e)
				}
				if d := be.Loads() - loads; d != 1 {
					t.Fatalf("lookup cost %d loads", d)
				}
			}
			// Absent ids: found nowhere, at most one load.
			for range 100 {
				var id ids.ID
				fill(rng, id[:])
				loads := be.Loads()
				if _, ok, err := x.Lookup(ctx, id); ok || err != nil {
					t.Fatalf("absent %s: %v %v", id, ok, err)
				}
				if d := be.Loads() - loads; d > 1 {
					t.Fatalf("lookup of an absent id cost %d loads", d)
				}
			}
			// Verify walks every record in order.
			var prev ids.ID
			count := 0
			err = Verify(ctx, be, id, -1, func(e Entry) error {
				if count > 0 && bytes.Compare(prev[:], e.Blob.ID[:]) >= 0 {
					t.Fatalf("out of order at %d", count)
				}
				if want[e.Blob.ID] != e {
					t.Fatalf("entry %v, want %v", e, want[e.Blob.ID])
				}
				prev = e.Blob.ID
				count++
				return nil
			})
			if err != nil || count != len(want) {
				t.Fatalf("verify: %d entries, %v", count, err)
			}
		})
	}
}

// TestBatch checks that a batch of lookups walks each file once: loads
// are bounded by the number of files times the merged ranges, not by the
// number of ids.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(2, 2))
	be := mem.New()
	all := map[ids.ID]Entry{}
	const files = 5
	for range files {
		w, want := writer(t, rng, 50, 20) // 1000 records: F=8, ~4 a bucket
		if _, _, err := w.Save(ctx, be); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			all[k] = v
		}
	}
	x, err := Open(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	var batch []ids.ID
	for id := range all {
		if len(batch) == 400 {
			break
		}
		batch = append(batch, id)
	}
	for range 100 {
		var id ids.ID
		fill(rng, id[:])
		batch = append(batch, id)
	}
	loads := be.Loads()
	found, err := x.LookupBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 400 {
		t.Fatalf("found %d of 400", len(found))
	}
	for id, e := range found {
		if all[id] != e {
			t.Fatalf("%s: %v, want %v", id, e, all[id])
		}
	}
	// Each file is 1000 × 52 bytes = 51 KiB of records; the 500 ids touch
	// most buckets, which merge into a few loads per file.
	if d := be.Loads() - loads; d > files*4 {
		t.Errorf("batch of %d ids over %d files cost %d loads", len(batch), files, d)
	} else {
		t.Logf("batch of %d ids over %d files: %d loads", len(batch), files, d)
	}
}

// TestDuplicates: a blob in two packs of one file is listed once; the
// same blob in two files is found.
func TestDuplicates(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 3))
	packs, sizes, blobs := fakePacks(rng, 2, 3)
	blobs[1][1].ID = blobs[0][2].ID
	w := NewWriter()
	for i := range packs {
		if err := w.AddPack(packs[i], sizes[i], blobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if w.Len() != 5 {
		t.Fatalf("%d records, want 5", w.Len())
	}
	if err := w.AddPack(packs[0], sizes[0], blobs[0]); err == nil {
		t.Fatal("a pack added twice was accepted")
	}
	if e, ok := w.Lookup(blobs[0][2].ID); !ok || e.Pack != packs[0] {
		t.Fatalf("writer lookup: %v %v", e, ok)
	}
	be := mem.New()
	id, _, err := w.Save(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if id2, _, err := w.Save(ctx, be); err != nil || id2 != id {
		t.Fatalf("saving the same file again: %s %v", id2, err)
	}
	if err := Verify(ctx, be, id, -1, nil); err != nil {
		t.Fatal(err)
	}
}

// TestCorrupt flips bytes in every part of a file: opening or verifying
// must say corrupt, never accept it or panic.
func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 4))
	w, _ := writer(t, rng, 10, 10)
	id, data := w.Encode()
	t.Run("every byte", func(t *testing.T) {
		for i := range data {
			bad := bytes.Clone(data)
			bad[i] ^= 0x40
			if err := Parse(bad, nil); !IsCorrupt(err) {
				t.Fatalf("byte %d flipped: Parse says %v", i, err)
			}
		}
	})
	t.Run("open", func(t *testing.T) {
		t0 := trailerOf(t, data)
		for _, off := range []int64{0, 5, t0.fanoutLen() + 3, t0.headLen() - 1, int64(len(data)) - 70, int64(len(data)) - 1} {
			be := mem.New()
			bad := bytes.Clone(data)
			bad[off] ^= 1
			be.Put(Handle(id), bad)
			_, err := OpenFile(ctx, be, id, -1)
			if off >= int64(len(data))-32 { // the file sum is not read by Open
				if err != nil {
					t.Errorf("byte %d: open: %v", off, err)
				}
			} else if !IsCorrupt(err) {
				t.Errorf("byte %d flipped: open says %v", off, err)
			}
			if err := Verify(ctx, be, id, -1, nil); !IsCorrupt(err) {
				t.Errorf("byte %d flipped: verify says %v", off, err)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 1, TrailerSize - 1, TrailerSize, len(data) / 2, len(data) - 1} {
			be := mem.New()
			be.Put(Handle(id), data[len(data)-n:])
			if _, err := OpenFile(ctx, be, id, -1); !IsCorrupt(err) {
				t.Errorf("%d bytes: open says %v", n, err)
			}
			be.Put(Handle(id), data[:n])
			if err := Verify(ctx, be, id, -1, nil); !IsCorrupt(err) {
				t.Errorf("%d bytes: verify says %v", n, err)
			}
		}
	})
	t.Run("record in lookup", func(t *testing.T) {
		// A record made out of order (the head still checks out) is found
		// by the lookup that reads it.
		be := mem.New()
		bad := bytes.Clone(data)
		t0 := trailerOf(t, data)
		r := bad[t0.headLen():]
		copy(r[:32], r[RecordSize:RecordSize+32])
		be.Put(Handle(id), bad)
		x, err := Open(ctx, be)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := x.Lookup(ctx, ids.ID(data[t0.headLen():][:32])); !IsCorrupt(err) {
			t.Fatalf("lookup in a damaged bucket: %v", err)
		}
	})
}

func trailerOf(t *testing.T, data []byte) trailer {
	t.Helper()
	tr, err := parseTrailer(data[len(data)-TrailerSize:], int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestFormatPinned(t *testing.T) {
	// One blob in one pack: the bytes of the format, spelled out.
	var pid, bid ids.ID
	pid[0], bid[0] = 0xaa, 0x03
	w := NewWriter()
	b := pack.Blob{ID: bid, Type: pack.DataBlob, Compression: pack.Zstd, Offset: 0, Length: 7, RawLength: 9}
	if err := w.AddPack(pid, 7+pack.EntrySize+pack.TrailerSize, []pack.Blob{b}); err != nil {
		t.Fatal(err)
	}
	_, data := w.Encode()
	if len(data) != 256*4+40+52+80 {
		t.Fatalf("%d bytes", len(data))
	}
	if binary.LittleEndian.Uint32(data[2*4:]) != 0 || binary.LittleEndian.Uint32(data[3*4:]) != 1 || binary.LittleEndian.Uint32(data[255*4:]) != 1 {
		t.Error("fan-out")
	}
	p := data[1024:]
	if p[0] != 0xaa || binary.LittleEndian.Uint64(p[32:]) != 107 {
		t.Error("pack table")
	}
	r := data[1064:]
	if r[0] != 3 || binary.LittleEndian.Uint32(r[32:]) != 0 || binary.LittleEndian.Uint32(r[40:]) != 7 ||
		binary.LittleEndian.Uint32(r[44:]) != 9 || r[48] != 1 || r[49] != 1 {
		t.Error("record")
	}
	tr := data[1116:]
	if binary.LittleEndian.Uint32(tr) != 1 || binary.LittleEndian.Uint32(tr[4:]) != 1 || tr[8] != 8 ||
		binary.LittleEndian.Uint16(tr[10:]) != 1 || string(tr[12:16]) != "DRIX" {
		t.Error("trailer")
	}
	if ids.Hash(data[:len(data)-32]) != ids.ID(tr[48:]) {
		t.Error("file sum")
	}
	h := ids.NewHasher()
	h.Write(data[:1064])
	h.Write(tr[:16])
	if h.Sum() != ids.ID(tr[16:48]) {
		t.Error("head sum")
	}
}

func TestLocal(t *testing.T) {
	ctx := context.Background()
	be, err := local.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	all := map[ids.ID]Entry{}
	for range 3 {
		w, want := writer(t, rng, 20, 16)
		if _, _, err := w.Save(ctx, be); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			all[k] = v
		}
	}
	x, err := Open(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Files()) != 3 {
		t.Fatalf("%d files", len(x.Files()))
	}
	var batch []ids.ID
	for id := range all {
		batch = append(batch, id)
	}
	found, err := x.LookupBatch(ctx, batch)
	if err != nil || len(found) != len(all) {
		t.Fatalf("found %d of %d: %v", len(found), len(all), err)
	}
	for _, f := range x.Files() {
		if err := Verify(ctx, be, f.ID(), -1, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A file saved after Open is seen after Refresh.
	w, want := writer(t, rng, 1, 1)
	if _, _, err := w.Save(ctx, be); err != nil {
		t.Fatal(err)
	}
	var one ids.ID
	for id := range want {
		one = id
	}
	if _, ok, _ := x.Lookup(ctx, one); ok {
		t.Fatal("found before Refresh")
	}
	if err := x.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := x.Lookup(ctx, one); !ok || err != nil {
		t.Fatalf("not found after Refresh: %v", err)
	}
	_ = backend.Index
}

// TestOpenBroken: a damaged file does not stop Open; it is listed by
// Broken and lookups go on in the others.
func TestOpenBroken(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(6, 6))
	be := mem.New()
	good, want := writer(t, rng, 3, 3)
	if _, _, err := good.Save(ctx, be); err != nil {
		t.Fatal(err)
	}
	bad, _ := writer(t, rng, 3, 3)
	id, _, err := bad.Save(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	be.Bytes(Handle(id))[0] ^= 1
	x, err := Open(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if b := x.Broken(); len(b) != 1 || !IsCorrupt(b[id]) || len(x.Files()) != 1 {
		t.Fatalf("broken %v, %d files", b, len(x.Files()))
	}
	for k, e := range want {
		if got, ok, err := x.Lookup(ctx, k); !ok || err != nil || got != e {
			t.Fatalf("lookup beside a broken file: %v %v %v", got, ok, err)
		}
	}
}
