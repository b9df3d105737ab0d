package repo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/chunker"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

func smallRepo(t testing.TB, be backend.Backend) *repo.Repository {
	t.Helper()
	r, err := repo.Init(context.Background(), be, repo.Options{
		Chunker:  chunker.Params{Min: 4 << 10, Avg: 8 << 10, Max: 64 << 10},
		PackSize: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestBinlogNoOpAndConflict(t *testing.T) {
	ctx := context.Background()
	r := smallRepo(t, mem.New())
	a, b := randBytes(1, 100<<10), randBytes(2, 100<<10)
	added, _, err := r.PutBinlog(ctx, "bin.000001", bytes.NewReader(a), map[string]string{"k": "v"})
	if err != nil || !added {
		t.Fatalf("first put: added %v, %v", added, err)
	}
	added, _, err = r.PutBinlog(ctx, "bin.000001", bytes.NewReader(a), nil)
	if err != nil || added {
		t.Fatalf("same file again: added %v, %v", added, err)
	}
	_, _, err = r.PutBinlog(ctx, "bin.000001", bytes.NewReader(b), nil)
	if !errors.Is(err, repo.ErrConflict) {
		t.Fatalf("different file: %v, want ErrConflict", err)
	}
	m, err := r.LoadBinlog(ctx, "bin.000001")
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta["k"] != "v" || m.BLAKE3 != ids.Hash(a) {
		t.Fatalf("stored manifest changed: %+v", m.Meta)
	}
	var out bytes.Buffer
	if _, err := r.WriteStream(ctx, ids.ID{}, "binlog bin.000001", m, &out); err != nil || !bytes.Equal(out.Bytes(), a) {
		t.Fatalf("get back: %v", err)
	}
	list, broken, err := r.Binlogs(ctx)
	if err != nil || len(broken) != 0 || len(list) != 1 || list[0].Name != "bin.000001" {
		t.Fatalf("Binlogs: %v %v %v", list, broken, err)
	}
	if _, _, err := r.PutBinlog(ctx, "../x", bytes.NewReader(a), nil); err == nil {
		t.Fatal("a bad name was accepted")
	}
}

func TestResolveIDAndSnapshots(t *testing.T) {
	ctx := context.Background()
	r := smallRepo(t, mem.New())
	var put []ids.ID
	for i := range 3 {
		id, _, err := r.PutStream(ctx, bytes.NewReader(randBytes(uint64(i), 20<<10)), nil)
		if err != nil {
			t.Fatal(err)
		}
		put = append(put, id)
		time.Sleep(2 * time.Millisecond) // manifests' times are in ms
	}
	for _, id := range put {
		for _, s := range []string{id.String(), id.String()[:10], id.String()[:4]} {
			got, err := r.ResolveID(ctx, backend.Snapshot, s)
			if err != nil || got != id {
				t.Errorf("ResolveID(%s) = %s, %v", s, got, err)
			}
		}
	}
	for _, s := range []string{"ab", "ffffffff", ids.Hash([]byte("x")).String()} {
		if _, err := r.ResolveID(ctx, backend.Snapshot, s); !errors.Is(err, repo.ErrUnknownID) {
			t.Errorf("ResolveID(%s): %v, want ErrUnknownID", s, err)
		}
	}
	snaps, broken, err := r.Snapshots(ctx)
	if err != nil || len(broken) != 0 || len(snaps) != 3 {
		t.Fatalf("Snapshots: %d, %v, %v", len(snaps), broken, err)
	}
	for i, s := range snaps {
		if s.ID != put[i] {
			t.Errorf("snapshot %d is %s, want %s (oldest first)", i, s.ID.Short(), put[i].Short())
		}
	}
}

func TestTreeRoundTripAndValidation(t *testing.T) {
	ctx := context.Background()
	r := smallRepo(t, mem.New())
	u, err := r.NewUploader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(7, 50<<10)
	chunks, size, sum, err := u.Stream(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	tm := &repo.TreeManifest{Version: repo.ManifestVersion, Time: now, Entries: []repo.TreeEntry{
		{Path: ".", Type: repo.TreeDir, Mode: 0o755, MTime: now},
		{Path: "d", Type: repo.TreeDir, Mode: 0o700, MTime: now},
		{Path: "d/f", Type: repo.TreeFile, Mode: 0o640, MTime: now, Size: size, BLAKE3: sum, Chunks: chunks},
		{Path: "l", Type: repo.TreeSymlink, Mode: 0o777, Target: "d/f"},
	}}
	id, err := r.SaveTree(ctx, tm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.LoadTree(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 4 || got.Entries[2].BLAKE3 != sum {
		t.Fatalf("loaded %+v", got.Entries)
	}
	var out bytes.Buffer
	e := got.Entries[2]
	if _, err := r.WriteStream(ctx, id, "f", &repo.Manifest{Size: e.Size, BLAKE3: e.BLAKE3, Chunks: e.Chunks}, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("file back: %v", err)
	}
	rep, err := r.Check(ctx, true)
	if err != nil || rep.Manifests != 1 || rep.Chunks != len(chunks) {
		t.Fatalf("Check: %+v %v", rep, err)
	}

	bad := [][]repo.TreeEntry{
		{{Path: "../x", Type: repo.TreeFile}},
		{{Path: "/etc", Type: repo.TreeDir}},
		{{Path: ".", Type: repo.TreeDir}, {Path: "a/b", Type: repo.TreeFile}},
		{{Path: ".", Type: repo.TreeDir}, {Path: "a", Type: repo.TreeFile, Size: 3}},
		{{Path: ".", Type: repo.TreeDir}, {Path: "a", Type: "fifo"}},
		{{Path: ".", Type: repo.TreeDir}, {Path: "a", Type: repo.TreeSymlink}},
		{{Path: ".", Type: repo.TreeDir}, {Path: "a", Type: repo.TreeDir}, {Path: "a", Type: repo.TreeDir}},
	}
	for i, entries := range bad {
		b, _ := json.Marshal(repo.TreeManifest{Version: 1, Entries: entries})
		if _, err := repo.ParseTree(b, ids.Hash(b)); !repo.IsCorrupt(err) {
			t.Errorf("bad tree %d: %v, want corrupt", i, err)
		}
	}
}

func TestLocks(t *testing.T) {
	ctx := context.Background()
	r := smallRepo(t, mem.New())
	s1, err := r.Lock(ctx, false, "put")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.Lock(ctx, false, "put")
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	var le *repo.LockedError
	if _, err := r.Lock(ctx, true, "prune"); !errors.As(err, &le) || le.Holder.Exclusive {
		t.Fatalf("exclusive over shared: %v", err)
	}
	s1.Unlock(ctx)
	s2.Unlock(ctx)
	x, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatalf("exclusive on a free repository: %v", err)
	}
	if _, err := r.Lock(ctx, false, "put"); !errors.As(err, &le) || !le.Holder.Exclusive {
		t.Fatalf("shared over exclusive: %v", err)
	}
	x.Unlock(ctx)
	if locks, _ := r.Locks(ctx); len(locks) != 0 {
		t.Fatalf("locks left: %v", locks)
	}

	// Stale: too old, or of a dead process on this host.
	host, _ := os.Hostname()
	save := func(name string, li repo.LockInfo) {
		b, _ := json.Marshal(li)
		if err := r.Backend().Save(ctx, backend.Handle{Type: backend.Lock, Name: name}, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	save("exclusive-old", repo.LockInfo{Exclusive: true, Host: "elsewhere", PID: 1, Time: time.Now().Add(-2 * repo.LockStale)})
	save("exclusive-dead", repo.LockInfo{Exclusive: true, Host: host, PID: 1 << 30, Time: time.Now()})
	save("garbage", repo.LockInfo{})
	l, err := r.Lock(ctx, true, "prune")
	if err != nil {
		t.Fatalf("stale locks block: %v", err)
	}
	l.Unlock(ctx)
	if n, err := r.RemoveStaleLocks(ctx); n != 3 || err != nil {
		t.Fatalf("RemoveStaleLocks = %d, %v", n, err)
	}
	save("shared-live", repo.LockInfo{Host: "elsewhere", PID: 1, Time: time.Now()})
	if _, err := r.Lock(ctx, true, "prune"); !errors.As(err, &le) {
		t.Fatalf("a live lock of another host does not block: %v", err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	r := smallRepo(t, be)
	common := randBytes(100, 200<<10)
	streams := map[ids.ID][]byte{}
	var order []ids.ID
	for i := range 3 {
		data := append(append([]byte{}, common...), randBytes(uint64(i), 200<<10)...)
		id, _, err := r.PutStream(ctx, bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		streams[id] = data
		order = append(order, id)
	}
	if _, _, err := r.PutBinlog(ctx, "b.000001", bytes.NewReader(randBytes(9, 30<<10)), nil); err != nil {
		t.Fatal(err)
	}
	// An unindexed pack, as a put that died leaves.
	orphan := randBytes(10, 1000)
	pw := pack.NewWriter(64 << 10)
	if _, err := pw.Add(pack.DataBlob, ids.Hash(orphan), orphan); err != nil {
		t.Fatal(err)
	}
	f, err := pw.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := pack.Save(ctx, be, f); err != nil {
		t.Fatal(err)
	}
	countPacks := func() int {
		n := 0
		be.List(ctx, backend.Pack, func(backend.FileInfo) error { n++; return nil })
		return n
	}
	before := countPacks()

	plan := repo.PrunePlan{Snapshots: []ids.ID{order[0]}, Binlogs: []string{"b.000001"}}
	dry, err := r.Prune(ctx, plan, true)
	if err != nil {
		t.Fatal(err)
	}
	if countPacks() != before || dry.Packs < 2 || dry.Unindexed != 1 {
		t.Fatalf("dry run: %+v, packs %d -> %d", dry, before, countPacks())
	}
	rep, err := r.Prune(ctx, plan, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep != dry {
		t.Errorf("dry run said %+v, prune did %+v", dry, rep)
	}
	if got := countPacks(); got != before-rep.Packs {
		t.Errorf("packs: %d before, %d removed, %d left", before, rep.Packs, got)
	}
	for _, id := range order[1:] {
		if got := get(t, r, id); !bytes.Equal(got, streams[id]) {
			t.Errorf("kept snapshot %s changed", id.Short())
		}
	}
	if _, err := r.LoadManifest(ctx, order[0]); !backend.IsNotExist(err) {
		t.Errorf("pruned snapshot still there: %v", err)
	}
	if c, err := r.Check(ctx, true); err != nil || c.Unindexed != 0 {
		t.Fatalf("check after prune: %+v %v", c, err)
	}
	// A reopened repository agrees.
	r2, err := repo.Open(ctx, be)
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, r2, order[2]); !bytes.Equal(got, streams[order[2]]) {
		t.Error("reopened: kept snapshot changed")
	}
	again, err := r2.Prune(ctx, repo.PrunePlan{}, false)
	if err != nil || again.Packs != 0 {
		t.Fatalf("second prune: %+v %v", again, err)
	}
}

func TestConcurrentUploads(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	r := smallRepo(t, be)
	r.SetUploads(4)
	data := randBytes(42, 3<<20) // some 48 packs of 64 KiB
	id, st, err := r.PutStream(ctx, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packs < 10 {
		t.Fatalf("only %d packs", st.Packs)
	}
	if got := get(t, r, id); !bytes.Equal(got, data) {
		t.Fatal("stream changed")
	}
	if rep, err := r.Check(ctx, true); err != nil || rep.Unindexed != 0 || rep.Packs != st.Packs {
		t.Fatalf("check: %+v %v", rep, err)
	}
	// A failing backend: the put fails, and no index file lists a pack
	// that is not stored.
	fb := &failAfter{Backend: be, n: 5}
	r2, err := repo.Open(ctx, fb)
	if err != nil {
		t.Fatal(err)
	}
	r2.SetUploads(4)
	if _, _, err := r2.PutStream(ctx, bytes.NewReader(randBytes(43, 3<<20)), nil); err == nil {
		t.Fatal("put on a failing backend succeeded")
	}
	if rep, err := r.Check(ctx, false); err != nil {
		t.Fatalf("check after a failed put: %+v %v", rep, err)
	}
}

// failAfter fails every pack Save after the first n.
type failAfter struct {
	backend.Backend
	mu sync.Mutex
	n  int
}

func (f *failAfter) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) error {
	if h.Type == backend.Pack {
		f.mu.Lock()
		f.n--
		n := f.n
		f.mu.Unlock()
		if n < 0 {
			return errors.New("disk on fire")
		}
	}
	return f.Backend.Save(ctx, h, rd, size)
}

// A long-lived Repository (a put --binlogs that runs for days) sees a
// prune of another process: its next put must not answer from a
// removed index file or dedup against a removed pack.
func TestPutAfterAnotherPrune(t *testing.T) {
	ctx := context.Background()
	be := newLocal(t)
	r1 := smallRepo(t, be)
	a, b := randBytes(1, 300<<10), randBytes(2, 300<<10)
	ida, _, err := r1.PutStream(ctx, bytes.NewReader(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r1.PutStream(ctx, bytes.NewReader(b), nil); err != nil {
		t.Fatal(err)
	}
	r2, err := repo.Open(ctx, be) // holds both index files
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r1.Prune(ctx, repo.PrunePlan{Snapshots: []ids.ID{ida}}, false); err != nil {
		t.Fatal(err)
	}
	// a again, through r2: its chunks are gone and must be stored anew.
	id, st, err := r2.PutStream(ctx, bytes.NewReader(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.NewBytes != int64(len(a)) {
		t.Errorf("put after prune stored %d new bytes, want %d", st.NewBytes, len(a))
	}
	if got := get(t, r2, id); !bytes.Equal(got, a) {
		t.Fatal("stream changed")
	}
	if rep, err := r1.Check(ctx, true); err != nil {
		t.Fatalf("check: %+v %v", rep, err)
	}
}
