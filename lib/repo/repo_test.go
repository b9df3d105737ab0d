package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/backend/local"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/index"
)

func newLocal(t testing.TB) backend.Backend {
	be, err := local.Create(filepath.Join(t.TempDir(), "repo"))
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func initRepo(t testing.TB, be backend.Backend) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), be, repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func get(t testing.TB, r *repo.Repository, id ids.ID) []byte {
	t.Helper()
	var out bytes.Buffer
	n, err := r.GetStream(context.Background(), id, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) {
		t.Fatalf("GetStream says %d bytes, wrote %d", n, out.Len())
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, bk := range []struct {
		name string
		new  func(testing.TB) backend.Backend
	}{
		{"mem", func(testing.TB) backend.Backend { return mem.New() }},
		{"local", newLocal},
	} {
		t.Run(bk.name, func(t *testing.T) {
			be := bk.new(t)
			r := initRepo(t, be)
			streams := map[string][]byte{
				"random": backendtest.Data("round trip", 33<<20+12345),
				"sql":    dump(34 << 20),
				"empty":  {},
				"tiny":   []byte("x"),
			}
			var want []string
			for name, data := range streams {
				id, st, err := r.PutStream(ctx, bytes.NewReader(data), map[string]string{"name": name})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if st.Bytes != int64(len(data)) || st.NewBytes > st.Bytes {
					t.Fatalf("%s: stats %+v for %d bytes", name, st, len(data))
				}
				t.Logf("%s: %+v", name, st)
				want = append(want, id.String())
				// Through a repository opened afresh, as another process would.
				r2, err := repo.Open(ctx, be)
				if err != nil {
					t.Fatal(err)
				}
				if got := get(t, r2, id); !bytes.Equal(got, data) {
					t.Fatalf("%s: got %d bytes back, not the %d put", name, len(got), len(data))
				}
				m, err := r2.LoadManifest(ctx, id)
				if err != nil || m.Meta["name"] != name || m.Size != int64(len(data)) || m.BLAKE3 != ids.Hash(data) {
					t.Fatalf("%s: manifest %+v, %v", name, m, err)
				}
			}
			got, err := r.List(ctx, backend.Snapshot)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(sortedCopy(want)) != fmt.Sprint(got) {
				t.Fatalf("List: %v, want %v", got, want)
			}
			rep, err := r.Check(ctx, true)
			if err != nil || rep.Unindexed != 0 || rep.Manifests != 4 {
				t.Fatalf("check: %+v, %v", rep, err)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// TestDedup puts a SQL-like stream, changes 1% of it in a few places and
// puts it again: the second put must store only a few percent.
func TestDedup(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := initRepo(t, be)
	data := dump(128 << 20)
	id1, st1, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Putting the same stream again stores nothing.
	_, st, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil || st.NewChunks != 0 || st.Packs != 0 {
		t.Fatalf("second put of the same stream: %+v, %v", st, err)
	}
	// 1% of the bytes, in 4 places: rows updated in place (same length,
	// as an UPDATE of a status column), and a few rows inserted.
	changed := bytes.Clone(data)
	per := len(data) / 100 / 4
	for k := range 4 {
		at := (k*2 + 1) * len(changed) / 9
		region := changed[at : at+per]
		for i := range region {
			if region[i] >= 'a' && region[i] <= 'z' {
				region[i] = 'a' + (region[i]-'a'+1)%26
			}
		}
	}
	ins := []byte("(999999,'abcdef0123','2026-11-30 10:00:00',7,'draft'),")
	changed = append(changed[:len(changed)/2], append(bytes.Repeat(ins, 50), changed[len(changed)/2:]...)...)
	id2, st2, err := r.PutStream(ctx, bytes.NewReader(changed), nil)
	if err != nil {
		t.Fatal(err)
	}
	frac := float64(st2.NewBytes) / float64(st2.Bytes)
	stored := float64(st2.StoredBytes) / float64(st2.Bytes)
	t.Logf("first put: %d bytes, %d stored; second put: %d chunks, %d new; new raw bytes %.2f%%, stored bytes %.2f%% of the stream",
		st1.Bytes, st1.StoredBytes, st2.Chunks, st2.NewChunks, 100*frac, 100*stored)
	if stored > 0.05 {
		t.Errorf("second put stored %.2f%% of the stream, want <= 5%%", 100*stored)
	}
	if !bytes.Equal(get(t, r, id1), data) || !bytes.Equal(get(t, r, id2), changed) {
		t.Fatal("round trip after dedup")
	}
}

// TestCorruptPack flips one stored byte: GetStream fails naming the
// chunk and the manifest, Check with readData finds it, without does not
// read data.
func TestCorruptPack(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := initRepo(t, be)
	data := backendtest.Data("corrupt", 6<<20)
	id, _, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	packs, _ := r.List(ctx, backend.Pack)
	if len(packs) != 1 {
		t.Fatalf("%d packs", len(packs))
	}
	h := backend.Handle{Type: backend.Pack, Name: packs[0]}
	be.Bytes(h)[100] ^= 1 // in the first blob: the first chunk

	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.GetStream(ctx, id, io.Discard)
	var ce *repo.CorruptError
	if !errors.As(err, &ce) || ce.Manifest != id || ce.Chunk != m.Chunks[0].ID || !repo.IsCorrupt(err) {
		t.Fatalf("GetStream of a corrupt chunk: %v", err)
	}
	if !strings.Contains(err.Error(), id.String()) || !strings.Contains(err.Error(), m.Chunks[0].ID.String()) {
		t.Fatalf("error does not name manifest and chunk: %v", err)
	}
	t.Logf("get: %v", err)
	if _, err := r.Check(ctx, false); err != nil {
		t.Fatalf("structure check: %v", err)
	}
	rep, err := r.Check(ctx, true)
	if err == nil || len(rep.Problems) != 1 || !strings.Contains(err.Error(), m.Chunks[0].ID.String()) {
		t.Fatalf("check --read-data: %+v, %v", rep, err)
	}
	t.Logf("check: %v", err)
}

// TestMissing: a manifest whose chunk is not indexed, and one whose pack
// is gone, are found by Check and GetStream.
func TestMissing(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := initRepo(t, be)
	id, _, err := r.PutStream(ctx, bytes.NewReader(backendtest.Data("missing", 3<<20)), nil)
	if err != nil {
		t.Fatal(err)
	}
	packs, _ := r.List(ctx, backend.Pack)
	for _, p := range packs {
		be.Remove(ctx, backend.Handle{Type: backend.Pack, Name: p})
	}
	if _, err := r.GetStream(ctx, id, io.Discard); !repo.IsCorrupt(err) {
		t.Fatalf("get with the pack gone: %v", err)
	}
	if _, err := r.Check(ctx, false); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("check with the pack gone: %v", err)
	}
	var unknown ids.ID
	if _, err := r.GetStream(ctx, unknown, io.Discard); !backend.IsNotExist(err) {
		t.Fatalf("get of an unknown id: %v", err)
	}
}

// failing reads n bytes of data, then fails.
type failing struct {
	r   io.Reader
	n   int64
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= int64(k)
	return k, err
}

// TestFailedInput: an input that fails half-way leaves no manifest, and
// the repository still checks out.
func TestFailedInput(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := initRepo(t, be)
	data := backendtest.Data("failed", 80<<20)
	for _, cause := range []error{io.ErrUnexpectedEOF, errors.New("connection reset")} {
		_, st, err := r.PutStream(ctx, &failing{r: bytes.NewReader(data), n: 60 << 20, err: cause}, nil)
		if !errors.Is(err, cause) {
			t.Fatalf("put of a failing reader: %v", err)
		}
		t.Logf("%v (%+v)", err, st)
	}
	if names, _ := r.List(ctx, backend.Snapshot); len(names) != 0 {
		t.Fatalf("manifests after failed puts: %v", names)
	}
	if _, err := r.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
	// The chunks of the packs the failed puts saved are reused.
	id, st, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first failed put saved one full pack and indexed it.
	if st.NewBytes >= st.Bytes-16<<20 {
		t.Errorf("after failed puts: %d of %d bytes new", st.NewBytes, st.Bytes)
	}
	if !bytes.Equal(get(t, r, id), data) {
		t.Fatal("round trip")
	}
}

// TestConcurrentPuts: two puts at once, from two Repository values as two
// processes would, sharing much of their content: both succeed.
func TestConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	initRepo(t, be)
	common := dump(24 << 20)
	streams := [][]byte{
		append(bytes.Clone(common), backendtest.Data("a", 5<<20)...),
		append(backendtest.Data("b", 5<<20), common...),
	}
	ids := make([]ids.ID, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := repo.Open(ctx, be)
			if err != nil {
				errs[i] = err
				return
			}
			ids[i], _, errs[i] = r.PutStream(ctx, bytes.NewReader(streams[i]), nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	for i := range streams {
		if !bytes.Equal(get(t, r, ids[i]), streams[i]) {
			t.Fatalf("stream %d", i)
		}
	}
	if _, err := r.Check(ctx, true); err != nil {
		t.Fatal(err)
	}
}

func TestInitOpen(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	if _, err := repo.Open(ctx, be); !backend.IsNotExist(err) {
		t.Fatalf("open of no repository: %v", err)
	}
	r := initRepo(t, be)
	if _, err := repo.Init(ctx, be, repo.Options{}); !backend.IsExists(err) {
		t.Fatalf("second init: %v", err)
	}
	cfg := string(be.Bytes(backend.ConfigHandle))
	for _, s := range []string{`"version": 1`, `"min": 524288`, `"avg": 1048576`, `"max": 8388608`, `"normalization": 2`, `"pack_size": 16777216`, r.Config().ID} {
		if !strings.Contains(cfg, s) {
			t.Errorf("config lacks %s:\n%s", s, cfg)
		}
	}
	be.Put(backend.ConfigHandle, []byte(strings.Replace(cfg, `"version": 1`, `"version": 9`, 1)))
	if _, err := repo.Open(ctx, be); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("open of a newer format: %v", err)
	}
}

// TestLookupRoundTrips: a put against a repository of many index files
// costs a bounded number of index loads per batch of chunks.
func TestLookupRoundTrips(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := initRepo(t, be)
	for i := range 8 {
		if _, _, err := r.PutStream(ctx, bytes.NewReader(backendtest.Data(fmt.Sprint("s", i), 4<<20)), nil); err != nil {
			t.Fatal(err)
		}
	}
	x, err := index.Open(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	files := len(x.Files())
	before := be.Loads()
	data := backendtest.Data("new", 64<<20)
	_, st, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	loads := be.Loads() - before
	batches := (st.Chunks + 31) / 32
	// Per batch at most one load per index file; plus opening the new index file.
	if limit := batches*files + 2*st.IndexFiles; loads > limit {
		t.Fatalf("%d loads for %d chunks over %d index files, want <= %d", loads, st.Chunks, files, limit)
	}
	t.Logf("%d chunks, %d index files: %d loads", st.Chunks, files, loads)
}

// BenchmarkPutStream puts 256 MiB of SQL-like data into a new directory
// repository each round, so every chunk is new.
func BenchmarkPutStream(b *testing.B) {
	data := dump(256 << 20)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	var stored int64
	for b.Loop() {
		b.StopTimer()
		r := initRepo(b, newLocal(b))
		b.StartTimer()
		_, st, err := r.PutStream(ctx, bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		stored = st.StoredBytes
	}
	b.ReportMetric(float64(stored)/float64(len(data)), "ratio")
}

// BenchmarkGetStream reads 256 MiB of SQL-like data back from a directory
// repository, verifying every chunk.
func BenchmarkGetStream(b *testing.B) {
	data := dump(256 << 20)
	ctx := context.Background()
	r := initRepo(b, newLocal(b))
	id, _, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.GetStream(ctx, id, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCorruptIndex: a damaged index file does not stop Open; Check names
// it, GetStream says the chunks are not indexed; once it is removed, a
// new put stores them again and the stream is whole once more.
func TestCorruptIndex(t *testing.T) {
	ctx := context.Background()
	be := mem.New()
	r := initRepo(t, be)
	data := backendtest.Data("corrupt index", 3<<20)
	id, _, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := r.List(ctx, backend.Index)
	if len(names) != 1 {
		t.Fatalf("%d index files", len(names))
	}
	be.Bytes(backend.Handle{Type: backend.Index, Name: names[0]})[10] ^= 1 // in the fan-out
	r2, err := repo.Open(ctx, be)
	if err != nil {
		t.Fatalf("open with a corrupt index file: %v", err)
	}
	rep, err := r2.Check(ctx, false)
	if err == nil || !strings.Contains(err.Error(), names[0]) || !index.IsCorrupt(err) {
		t.Fatalf("check: %+v, %v", rep, err)
	}
	if _, err := r2.GetStream(ctx, id, io.Discard); !repo.IsCorrupt(err) || !strings.Contains(err.Error(), "not in the index") {
		t.Fatalf("get: %v", err)
	}
	// Putting the same stream again builds the same index file, whose name
	// is taken by the damaged copy: the put fails, naming it, until the
	// damaged file is removed (what a repair will do).
	ih := backend.Handle{Type: backend.Index, Name: names[0]}
	if _, _, err := r2.PutStream(ctx, bytes.NewReader(data), nil); !index.IsCorrupt(err) || !strings.Contains(err.Error(), names[0]) {
		t.Fatalf("put over a damaged index file of the same name: %v", err)
	}
	if err := be.Remove(ctx, ih); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r2.PutStream(ctx, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(get(t, r2, id), data) {
		t.Fatal("round trip after re-put")
	}
}
