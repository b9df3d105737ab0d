package pack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// sqlish returns n bytes that compress like a dump's INSERT statements.
func sqlish(seed string, n int) []byte {
	r := backendtest.Data(seed, n/4+16)
	var b bytes.Buffer
	b.WriteString("INSERT INTO `articles` VALUES ")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "(%d,'title %x','2026-11-%02d 09:%02d:00',%d),", 100000+i, r[i%len(r):min(len(r), i%len(r)+6)], 1+int(r[i%len(r)])%28, int(r[(i+1)%len(r)])%60, r[(i+2)%len(r)])
	}
	return b.Bytes()[:n]
}

type added struct {
	t    BlobType
	data []byte
}

// build makes a pack of the given blobs and returns it with what went in.
func build(t testing.TB, target int, datas ...added) (Finished, map[ids.ID][]byte) {
	t.Helper()
	w := NewWriter(target)
	in := map[ids.ID][]byte{}
	for _, a := range datas {
		id := ids.Hash(a.data)
		if _, err := w.Add(a.t, id, a.data); err != nil {
			t.Fatal(err)
		}
		in[id] = a.data
	}
	f, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return f, in
}

func mixed() []added {
	return []added{
		{DataBlob, backendtest.Data("incompressible", 700_000)},
		{DataBlob, sqlish("text", 1<<20)},
		{DataBlob, make([]byte, 3<<20)},
		{TreeBlob, []byte(`{"name":"uploads","mode":493}`)},
		{DataBlob, nil},
		{DataBlob, backendtest.Data("small", 17)},
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	f, in := build(t, 0, mixed()...)
	if f.ID != ids.Hash(f.Data) {
		t.Fatalf("pack named %s, its hash is %s", f.ID, ids.Hash(f.Data))
	}
	comp := map[ids.ID]Compression{}
	for _, b := range f.Blobs {
		comp[b.ID] = b.Compression
	}
	if comp[ids.Hash(backendtest.Data("incompressible", 700_000))] != None {
		t.Errorf("incompressible data was not stored raw")
	}
	if comp[ids.Hash(sqlish("text", 1<<20))] != Zstd {
		t.Errorf("text was not compressed")
	}
	be := mem.New()
	if err := Save(ctx, be, f); err != nil {
		t.Fatal(err)
	}
	if err := Save(ctx, be, f); err != nil {
		t.Fatalf("saving the same pack again: %v, want success", err)
	}
	r, err := NewReader(ctx, be, f.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Blobs()) != fmt.Sprint(f.Blobs) {
		t.Fatalf("header read back:\n%v\nwritten:\n%v", r.Blobs(), f.Blobs)
	}
	var buf []byte
	for _, b := range r.Blobs() {
		out, err := r.LoadBlob(ctx, b, buf)
		if err != nil {
			t.Fatalf("LoadBlob %v: %v", b, err)
		}
		if !bytes.Equal(out, in[b.ID]) {
			t.Fatalf("blob %s: wrong content", b.ID)
		}
		buf = out
	}
	if err := Verify(ctx, be, f.ID, -1); err != nil {
		t.Fatalf("Verify of a sound pack: %v", err)
	}
	blobs, err := ParseHeader(f.Data, int64(len(f.Data)))
	if err != nil || len(blobs) != len(f.Blobs) {
		t.Fatalf("ParseHeader of the whole pack: %d blobs, %v", len(blobs), err)
	}
	t.Logf("pack of %d bytes holds %d bytes of data", len(f.Data), func() (n int) {
		for _, d := range in {
			n += len(d)
		}
		return
	}())
}

// The header of a pack with few blobs comes in one load, a big one in two.
func TestHeaderLoads(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, headGuess, headGuess + 1, 1000} {
		var datas []added
		for i := range n {
			datas = append(datas, added{DataBlob, backendtest.Data(fmt.Sprint("blob ", i), 100+i)})
		}
		f, _ := build(t, 0, datas...)
		be := mem.New()
		if err := Save(ctx, be, f); err != nil {
			t.Fatal(err)
		}
		blobs, err := ReadHeader(ctx, be, f.ID, int64(len(f.Data)))
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if n > headGuess {
			want = 2
		}
		if len(blobs) != n || be.Loads() != want {
			t.Errorf("%d blobs: read %d blobs in %d loads, want %d loads", n, len(blobs), be.Loads(), want)
		}
	}
}

// Every single changed byte is detected: by the header checksum, a blob's
// hash, or the pack's name.
func TestCorruptByteAnywhere(t *testing.T) {
	ctx := context.Background()
	f, _ := build(t, 0,
		added{DataBlob, backendtest.Data("a", 3000)},
		added{DataBlob, sqlish("b", 5000)},
		added{TreeBlob, []byte("tree")},
		added{DataBlob, bytes.Repeat([]byte("z"), 2000)},
	)
	be := mem.New()
	h := Handle(f.ID)
	benign := 0
	defer func() { t.Logf("%d of %d changed bytes left every blob's content intact", benign, len(f.Data)) }()
	for i := range f.Data {
		bad := bytes.Clone(f.Data)
		bad[i] ^= 1 << (i % 8)
		be.Put(h, bad)
		err := Verify(ctx, be, f.ID, -1)
		if !IsCorrupt(err) {
			t.Fatalf("byte %d of %d changed: Verify = %v, want a corrupt pack", i, len(f.Data), err)
		}
		// Without Verify, reading every blob through the header must fail too.
		r, err := NewReader(ctx, be, f.ID, -1)
		if err != nil {
			if !IsCorrupt(err) {
				t.Fatalf("byte %d: NewReader = %v, want a corrupt pack", i, err)
			}
			continue
		}
		failed := false
		for _, b := range r.Blobs() {
			if _, err := r.LoadBlob(ctx, b, nil); err != nil {
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Blob != b.ID || ce.Pack != f.ID {
					t.Fatalf("byte %d: LoadBlob = %v, want a *CorruptError naming blob and pack", i, err)
				}
				if i < int(b.Offset) || i >= int(b.Offset)+int(b.Length) {
					t.Fatalf("byte %d changed, blob at [%d, %d) reported", i, b.Offset, b.Offset+int64(b.Length))
				}
				failed = true
			}
		}
		if !failed {
			// Only a bit zstd ignores (an unused flag of a frame header)
			// leaves every blob's content intact; Verify caught it above
			// through the pack's name.
			inZstd := false
			for _, b := range r.Blobs() {
				inZstd = inZstd || b.Compression == Zstd && int64(i) >= b.Offset && int64(i) < b.Offset+int64(b.Length)
			}
			if !inZstd {
				t.Fatalf("byte %d changed and every blob reads back fine", i)
			}
			benign++
		}
	}
}

func TestCorruptBlobErrorNamesBlobAndPack(t *testing.T) {
	ctx := context.Background()
	data := sqlish("named", 100_000)
	f, _ := build(t, 0, added{DataBlob, data})
	be := mem.New()
	bad := bytes.Clone(f.Data)
	bad[10] ^= 0xff
	be.Put(Handle(f.ID), bad)
	_, err := LoadBlob(ctx, be, f.ID, f.Blobs[0], nil)
	if err == nil || !strings.Contains(err.Error(), f.ID.String()) || !strings.Contains(err.Error(), ids.Hash(data).String()) {
		t.Fatalf("error %q does not name the pack %s and the blob %s", err, f.ID, ids.Hash(data))
	}
	t.Logf("error: %v", err)
}

func TestTruncated(t *testing.T) {
	ctx := context.Background()
	f, _ := build(t, 0, added{DataBlob, backendtest.Data("t1", 10000)}, added{DataBlob, sqlish("t2", 10000)})
	be := mem.New()
	for _, n := range []int{0, 1, TrailerSize - 1, TrailerSize, len(f.Data) / 2, len(f.Data) - TrailerSize, len(f.Data) - 1} {
		be.Put(Handle(f.ID), bytes.Clone(f.Data[:n]))
		_, err := NewReader(ctx, be, f.ID, -1)
		if !IsCorrupt(err) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("pack cut to %d bytes: %v, want a corrupt, truncated pack", n, err)
		}
		// Reading with the size the index remembers.
		_, err = NewReader(ctx, be, f.ID, int64(len(f.Data)))
		if !IsCorrupt(err) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("pack cut to %d bytes, read with its full size: %v, want a corrupt, truncated pack", n, err)
		}
		// A blob read through the index lies past the end.
		last := f.Blobs[len(f.Blobs)-1]
		if n < int(last.Offset+int64(last.Length)) {
			_, err = LoadBlob(ctx, be, f.ID, last, nil)
			if !IsCorrupt(err) || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("pack cut to %d bytes: LoadBlob = %v, want a corrupt, truncated pack", n, err)
			}
		}
		if err := Verify(ctx, be, f.ID, -1); !IsCorrupt(err) {
			t.Errorf("pack cut to %d bytes: Verify = %v", n, err)
		}
	}
	t.Logf("example: %v", func() error { be.Put(Handle(f.ID), f.Data[:100]); _, err := NewReader(ctx, be, f.ID, -1); return err }())
}

func TestMissingPack(t *testing.T) {
	_, err := NewReader(context.Background(), mem.New(), ids.Hash([]byte("none")), -1)
	if !backend.IsNotExist(err) || IsCorrupt(err) {
		t.Fatalf("missing pack: %v, want not exist", err)
	}
}

func TestWriter(t *testing.T) {
	w := NewWriter(1 << 20)
	if _, err := w.Finish(); err == nil {
		t.Errorf("Finish of an empty pack: no error")
	}
	w = NewWriter(1 << 20)
	d := backendtest.Data("w", 600_000)
	id := ids.Hash(d)
	if _, err := w.Add(DataBlob, id, d); err != nil {
		t.Fatal(err)
	}
	if w.Full() || !w.Has(id) || w.Count() != 1 {
		t.Errorf("after one blob: Full %v, Has %v, Count %d", w.Full(), w.Has(id), w.Count())
	}
	if _, err := w.Add(DataBlob, id, d); err == nil {
		t.Errorf("the same blob twice: no error")
	}
	if _, err := w.Add(7, ids.Hash(nil), nil); err == nil {
		t.Errorf("unknown blob type: no error")
	}
	d2 := backendtest.Data("w2", 600_000)
	w.Add(DataBlob, ids.Hash(d2), d2)
	if !w.Full() {
		t.Errorf("1.2 MB in a 1 MB pack is not Full")
	}
	f, err := w.Finish()
	if err != nil || len(f.Data) != w.Size() {
		t.Fatalf("Finish: %d bytes, Size said %d, %v", len(f.Data), w.Size(), err)
	}
	if _, err := w.Add(DataBlob, ids.Hash([]byte("x")), []byte("x")); err == nil {
		t.Errorf("Add after Finish: no error")
	}
	first := bytes.Clone(f.Data)
	w.Reset()
	if w.Count() != 0 || w.Has(id) || w.Size() != TrailerSize {
		t.Errorf("after Reset: Count %d, Has %v, Size %d", w.Count(), w.Has(id), w.Size())
	}
	w.Add(DataBlob, id, d)
	w.Add(DataBlob, ids.Hash(d2), d2)
	f2, _ := w.Finish()
	if !bytes.Equal(first, f2.Data) {
		t.Errorf("the same blobs after Reset give another pack")
	}
	if _, err := NewWriter(0).Add(DataBlob, ids.ID{}, make([]byte, MaxBlobSize+1)); err == nil {
		t.Errorf("a blob above MaxBlobSize: no error")
	}
}

// An index entry that lies (as a corrupt index might) is refused before
// any allocation it asks for.
func TestLoadBlobBadEntry(t *testing.T) {
	ctx := context.Background()
	f, _ := build(t, 0, added{DataBlob, sqlish("e", 50_000)})
	be := mem.New()
	Save(ctx, be, f)
	b := f.Blobs[0]
	for name, bad := range map[string]Blob{
		"raw length":  {ID: b.ID, Type: b.Type, Compression: b.Compression, Offset: b.Offset, Length: b.Length, RawLength: MaxBlobSize + 1},
		"compression": {ID: b.ID, Type: b.Type, Compression: 9, Offset: b.Offset, Length: b.Length, RawLength: b.RawLength},
		"offset":      {ID: b.ID, Type: b.Type, Compression: b.Compression, Offset: -5, Length: b.Length, RawLength: b.RawLength},
		"short raw":   {ID: b.ID, Type: b.Type, Compression: b.Compression, Offset: b.Offset, Length: b.Length, RawLength: b.RawLength - 1},
		"long raw":    {ID: b.ID, Type: b.Type, Compression: b.Compression, Offset: b.Offset, Length: b.Length, RawLength: b.RawLength + 1},
		"none":        {ID: b.ID, Type: b.Type, Compression: None, Offset: b.Offset, Length: b.Length, RawLength: b.Length},
	} {
		if _, err := LoadBlob(ctx, be, f.ID, bad, nil); !IsCorrupt(err) {
			t.Errorf("%s: %v, want corrupt", name, err)
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	for _, kind := range []string{"sql", "random"} {
		b.Run(kind, func(b *testing.B) {
			var chunks [][]byte
			for i := range 16 {
				if kind == "sql" {
					chunks = append(chunks, sqlish(fmt.Sprint(i), 1<<20))
				} else {
					chunks = append(chunks, backendtest.Data(fmt.Sprint(i), 1<<20))
				}
			}
			idl := make([]ids.ID, len(chunks))
			for i, c := range chunks {
				idl[i] = ids.Hash(c)
			}
			w := NewWriter(0)
			b.SetBytes(16 << 20)
			var size int
			for b.Loop() {
				w.Reset()
				for i, c := range chunks {
					if _, err := w.Add(DataBlob, idl[i], c); err != nil {
						b.Fatal(err)
					}
				}
				f, err := w.Finish()
				if err != nil {
					b.Fatal(err)
				}
				size = len(f.Data)
			}
			b.ReportMetric(float64(size)/float64(16<<20), "ratio")
		})
	}
}

func BenchmarkLoadBlob(b *testing.B) {
	for _, kind := range []string{"sql", "random"} {
		b.Run(kind, func(b *testing.B) {
			data := sqlish("load", 1<<20)
			if kind == "random" {
				data = backendtest.Data("load", 1<<20)
			}
			f, _ := build(b, 0, added{DataBlob, data})
			be := mem.New()
			Save(context.Background(), be, f)
			buf := make([]byte, 0, 1<<20)
			b.SetBytes(1 << 20)
			for b.Loop() {
				if _, err := LoadBlob(context.Background(), be, f.ID, f.Blobs[0], buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
