// Package backendtest is the test suite every backend must pass: the
// file backend now, ssh and S3 later. A backend's test calls
//
//	backendtest.Run(t, func(t *testing.T) backend.Backend { ... })
//
// with a function that returns a new, empty repository for each subtest.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/zeebo/blake3"
)

// Run runs the suite. open must return an empty repository; the suite
// closes it.
func Run(t *testing.T, open func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"SaveLoad", testSaveLoad},
		{"RangeLoad", testRangeLoad},
		{"StatListRemove", testStatListRemove},
		{"NotExist", testNotExist},
		{"RefuseOverwrite", testRefuseOverwrite},
		{"LockOverwrite", testLockOverwrite},
		{"FailingReaderLeavesNothing", testFailingReader},
		{"WrongSizeLeavesNothing", testWrongSize},
		{"CanceledSaveLeavesNothing", testCanceledSave},
		{"ConcurrentSaves", testConcurrentSaves},
		{"ConcurrentSameName", testConcurrentSameName},
		{"LoadCallbackError", testLoadCallbackError},
		{"InvalidHandles", testInvalidHandles},
		{"EmptyObject", testEmptyObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t)
			defer func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tt.fn(t, b)
		})
	}
}

// Data returns n bytes that depend on seed.
func Data(seed string, n int) []byte {
	h := blake3.New()
	h.WriteString(seed)
	b := make([]byte, n)
	io.ReadFull(h.Digest(), b)
	return b
}

// packHandle names data the way a repository names a pack.
func packHandle(data []byte) backend.Handle {
	return backend.Handle{Type: backend.Pack, Name: ids.Hash(data).String()}
}

func save(t *testing.T, b backend.Backend, h backend.Handle, data []byte) {
	t.Helper()
	if err := b.Save(context.Background(), h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Save %v: %v", h, err)
	}
}

func load(t *testing.T, b backend.Backend, h backend.Handle, length int, offset int64) []byte {
	t.Helper()
	var got []byte
	err := b.Load(context.Background(), h, length, offset, func(rd io.Reader) error {
		var err error
		got, err = io.ReadAll(rd)
		return err
	})
	if err != nil {
		t.Fatalf("Load %v (%d bytes at %d): %v", h, length, offset, err)
	}
	return got
}

func list(t *testing.T, b backend.Backend, ft backend.FileType) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := b.List(context.Background(), ft, func(fi backend.FileInfo) error {
		if _, dup := m[fi.Name]; dup {
			t.Errorf("List %s: %s twice", ft, fi.Name)
		}
		m[fi.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", ft, err)
	}
	return m
}

func exists(t *testing.T, b backend.Backend, h backend.Handle) bool {
	t.Helper()
	_, err := b.Stat(context.Background(), h)
	if err != nil && !backend.IsNotExist(err) {
		t.Fatalf("Stat %v: %v", h, err)
	}
	return err == nil
}

func testSaveLoad(t *testing.T, b backend.Backend) {
	for _, ft := range backend.Types {
		data := Data("save load "+string(ft), 100_000+len(ft))
		h := backend.Handle{Type: ft, Name: "obj-" + string(ft) + ".json"}
		switch ft {
		case backend.Pack:
			h = packHandle(data)
		case backend.Config:
			h = backend.ConfigHandle
		}
		save(t, b, h, data)
		if got := load(t, b, h, 0, 0); !bytes.Equal(got, data) {
			t.Errorf("%v: loaded %d bytes, not the %d saved", h, len(got), len(data))
		}
	}
	// A pack of several MiB, the size the repository writes.
	big := Data("big pack", 17<<20+3)
	h := packHandle(big)
	save(t, b, h, big)
	if got := load(t, b, h, 0, 0); !bytes.Equal(got, big) {
		t.Errorf("big pack: loaded %d bytes, not the %d saved", len(got), len(big))
	}
}

func testRangeLoad(t *testing.T, b backend.Backend) {
	data := Data("range", 1<<20)
	h := packHandle(data)
	save(t, b, h, data)
	for _, r := range []struct {
		length int
		offset int64
	}{
		{0, 0}, {1, 0}, {100, 0}, {100, 5000}, {0, 5000}, {1, 1<<20 - 1},
		{0, 1 << 20}, {48, 1<<20 - 48}, {1 << 20, 0}, {300_000, 700_000},
	} {
		want := data[r.offset:]
		if r.length > 0 {
			want = want[:r.length]
		}
		if got := load(t, b, h, r.length, r.offset); !bytes.Equal(got, want) {
			t.Errorf("%d bytes at %d: got %d bytes, wrong", r.length, r.offset, len(got))
		}
	}
	for _, r := range []struct {
		length int
		offset int64
	}{
		{1, 1 << 20}, {0, 1<<20 + 1}, {2, 1<<20 - 1}, {-1, 0}, {0, -1},
	} {
		called := false
		err := b.Load(context.Background(), h, r.length, r.offset, func(io.Reader) error { called = true; return nil })
		if err == nil {
			t.Errorf("%d bytes at %d of a %d-byte object: no error", r.length, r.offset, len(data))
		}
		if called {
			t.Errorf("%d bytes at %d: fn called for a bad range", r.length, r.offset)
		}
		if r.length >= 0 && r.offset >= 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d bytes at %d: error %v does not match io.ErrUnexpectedEOF", r.length, r.offset, err)
		}
	}
}

func testStatListRemove(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	want := map[string]int64{}
	for i := 0; i < 40; i++ {
		data := Data(fmt.Sprint("list ", i), 1000+i)
		h := packHandle(data)
		save(t, b, h, data)
		want[h.Name] = int64(len(data))
		fi, err := b.Stat(ctx, h)
		if err != nil || fi.Size != int64(len(data)) {
			t.Fatalf("Stat %v = %+v, %v; want size %d", h, fi, err, len(data))
		}
	}
	snap := backend.Handle{Type: backend.Snapshot, Name: "snap1"}
	save(t, b, snap, []byte("{}"))
	if got := list(t, b, backend.Pack); !maps(got, want) {
		t.Fatalf("List pack = %v\nwant %v", got, want)
	}
	if got := list(t, b, backend.Snapshot); !maps(got, map[string]int64{"snap1": 2}) {
		t.Fatalf("List snapshot = %v", got)
	}
	for _, ft := range []backend.FileType{backend.Index, backend.Binlog, backend.Tree, backend.Lock, backend.Config} {
		if got := list(t, b, ft); len(got) != 0 {
			t.Fatalf("List %s of an empty type = %v", ft, got)
		}
	}

	// An error from fn stops the listing and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := b.List(ctx, backend.Pack, func(backend.FileInfo) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("List with a failing fn: %v after %d calls, want %v after 1", err, n, stop)
	}

	names := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names[:20] {
		h := backend.Handle{Type: backend.Pack, Name: name}
		if err := b.Remove(ctx, h); err != nil {
			t.Fatalf("Remove %v: %v", h, err)
		}
		delete(want, name)
		if exists(t, b, h) {
			t.Fatalf("%v still there after Remove", h)
		}
	}
	if got := list(t, b, backend.Pack); !maps(got, want) {
		t.Fatalf("List after Remove = %v\nwant %v", got, want)
	}
}

func maps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testNotExist(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for _, h := range []backend.Handle{
		{Type: backend.Pack, Name: ids.Hash([]byte("nothing")).String()},
		{Type: backend.Snapshot, Name: "nothing"},
		backend.ConfigHandle,
	} {
		if _, err := b.Stat(ctx, h); !backend.IsNotExist(err) {
			t.Errorf("Stat %v: %v, want not exist", h, err)
		}
		err := b.Load(ctx, h, 0, 0, func(io.Reader) error { t.Errorf("fn called for a missing object"); return nil })
		if !backend.IsNotExist(err) {
			t.Errorf("Load %v: %v, want not exist", h, err)
		}
		if err := b.Remove(ctx, h); !backend.IsNotExist(err) {
			t.Errorf("Remove %v: %v, want not exist", h, err)
		}
	}
}

func testRefuseOverwrite(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for _, ft := range []backend.FileType{backend.Pack, backend.Index, backend.Snapshot, backend.Binlog, backend.Tree, backend.Config} {
		first := Data("first "+string(ft), 5000)
		h := backend.Handle{Type: ft, Name: "mysql-bin.000042"}
		switch ft {
		case backend.Pack:
			h = packHandle(first)
		case backend.Config:
			h = backend.ConfigHandle
		}
		save(t, b, h, first)
		second := Data("second "+string(ft), 7000)
		err := b.Save(ctx, h, bytes.NewReader(second), int64(len(second)))
		if !backend.IsExists(err) {
			t.Errorf("second Save of %v: %v, want an error matching ErrExists", h, err)
		}
		if got := load(t, b, h, 0, 0); !bytes.Equal(got, first) {
			t.Errorf("%v changed after a refused Save", h)
		}
	}
}

func testLockOverwrite(t *testing.T, b backend.Backend) {
	h := backend.Handle{Type: backend.Lock, Name: "prune"}
	save(t, b, h, []byte("one"))
	save(t, b, h, []byte("refreshed"))
	if got := load(t, b, h, 0, 0); string(got) != "refreshed" {
		t.Fatalf("lock holds %q after a refresh", got)
	}
	if got := list(t, b, backend.Lock); !maps(got, map[string]int64{"prune": 9}) {
		t.Fatalf("List lock = %v", got)
	}
}

// failingReader returns n bytes of data, then an error.
type failingReader struct {
	data []byte
	n    int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := copy(p, r.data[:min(len(p), r.n)])
	r.data, r.n = r.data[k:], r.n-k
	return k, nil
}

func noObjects(t *testing.T, b backend.Backend, h backend.Handle) {
	t.Helper()
	if exists(t, b, h) {
		t.Errorf("%v exists after a failed Save", h)
	}
	if got := list(t, b, h.Type); len(got) != 0 {
		t.Errorf("List %s after a failed Save = %v", h.Type, got)
	}
}

func testFailingReader(t *testing.T, b backend.Backend) {
	boom := errors.New("network went away")
	data := Data("half", 3<<20)
	for _, ft := range []backend.FileType{backend.Pack, backend.Snapshot, backend.Lock} {
		h := backend.Handle{Type: ft, Name: "half"}
		if ft == backend.Pack {
			h = packHandle(data)
		}
		err := b.Save(context.Background(), h, &failingReader{data: data, n: len(data) / 2, err: boom}, int64(len(data)))
		if !errors.Is(err, boom) {
			t.Errorf("Save %v with a reader failing half-way: %v, want it to wrap the reader's error", h, err)
		}
		noObjects(t, b, h)
	}
}

func testWrongSize(t *testing.T, b backend.Backend) {
	data := Data("size", 10000)
	h := packHandle(data)
	if err := b.Save(context.Background(), h, bytes.NewReader(data[:9999]), 10000); err == nil {
		t.Errorf("Save of 9999 bytes announced as 10000: no error")
	}
	noObjects(t, b, h)
	if err := b.Save(context.Background(), h, bytes.NewReader(data), 9999); err == nil {
		t.Errorf("Save of 10000 bytes announced as 9999: no error")
	}
	noObjects(t, b, h)
}

// ctxCancelReader cancels its context after the first read.
type ctxCancelReader struct {
	r      io.Reader
	cancel func()
}

func (r *ctxCancelReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p[:min(len(p), 4096)])
	r.cancel()
	return n, err
}

func testCanceledSave(t *testing.T, b backend.Backend) {
	data := Data("cancel", 1<<20)
	h := packHandle(data)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := b.Save(ctx, h, &ctxCancelReader{r: bytes.NewReader(data), cancel: cancel}, int64(len(data)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Save canceled half-way: %v, want context.Canceled", err)
	}
	noObjects(t, b, h)
}

func testConcurrentSaves(t *testing.T, b backend.Backend) {
	const n = 32
	var wg sync.WaitGroup
	handles := make([]backend.Handle, n)
	datas := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		datas[i] = Data(fmt.Sprint("concurrent ", i), 200_000+i*1000)
		handles[i] = packHandle(datas[i])
		if i%4 == 3 {
			handles[i] = backend.Handle{Type: backend.Index, Name: handles[i].Name}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Save(context.Background(), handles[i], bytes.NewReader(datas[i]), int64(len(datas[i])))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Save %v: %v", handles[i], errs[i])
		}
	}
	for i := range n {
		if got := load(t, b, handles[i], 0, 0); !bytes.Equal(got, datas[i]) {
			t.Errorf("%v: wrong content after concurrent saves", handles[i])
		}
	}
	if got := list(t, b, backend.Pack); len(got) != n-n/4 {
		t.Errorf("List pack: %d objects, want %d", len(got), n-n/4)
	}
}

// testConcurrentSameName saves one name from many goroutines at once:
// exactly one wins and the object is whole (two puts racing to store the
// same new chunk, or two pullers the same binlog manifest).
func testConcurrentSameName(t *testing.T, b backend.Backend) {
	const n = 8
	h := backend.Handle{Type: backend.Binlog, Name: "mysql-bin.000001"}
	datas := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		datas[i] = Data(fmt.Sprint("same name ", i), 500_000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Save(context.Background(), h, bytes.NewReader(datas[i]), int64(len(datas[i])))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("two Saves of %v both succeeded", h)
		case err == nil:
			won = i
		case !backend.IsExists(err):
			t.Fatalf("racing Save of %v: %v, want success or ErrExists", h, err)
		}
	}
	if won < 0 {
		t.Fatalf("no Save of %v succeeded", h)
	}
	if got := load(t, b, h, 0, 0); !bytes.Equal(got, datas[won]) {
		t.Fatalf("%v does not hold the bytes of the Save that succeeded", h)
	}
	if got := list(t, b, backend.Binlog); len(got) != 1 {
		t.Fatalf("List binlog after racing saves = %v", got)
	}
}

func testLoadCallbackError(t *testing.T, b backend.Backend) {
	data := Data("callback", 1000)
	h := packHandle(data)
	save(t, b, h, data)
	mine := errors.New("mine")
	if err := b.Load(context.Background(), h, 0, 0, func(io.Reader) error { return mine }); err != mine {
		t.Fatalf("Load returned %v, want fn's error unchanged", err)
	}
}

func testInvalidHandles(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for _, h := range []backend.Handle{
		{Type: "bogus", Name: "x"},
		{Type: backend.Snapshot, Name: ""},
		{Type: backend.Snapshot, Name: "../config"},
		{Type: backend.Snapshot, Name: "a/b"},
		{Type: backend.Snapshot, Name: ".hidden"},
		{Type: backend.Snapshot, Name: strings.Repeat("x", 201)},
		{Type: backend.Pack, Name: "zz"},
		{Type: backend.Pack, Name: "A0"},
		{Type: backend.Config, Name: "other"},
	} {
		if err := b.Save(ctx, h, strings.NewReader("x"), 1); err == nil {
			t.Errorf("Save %q: no error", h)
		}
		if _, err := b.Stat(ctx, h); err == nil || backend.IsNotExist(err) {
			t.Errorf("Stat %q: %v, want an invalid-name error", h, err)
		}
	}
	if err := b.List(ctx, "bogus", func(backend.FileInfo) error { return nil }); err == nil {
		t.Errorf("List of an unknown type: no error")
	}
}

func testEmptyObject(t *testing.T, b backend.Backend) {
	h := backend.Handle{Type: backend.Tree, Name: "empty"}
	save(t, b, h, nil)
	if got := load(t, b, h, 0, 0); len(got) != 0 {
		t.Fatalf("empty object loads as %d bytes", len(got))
	}
	if fi, err := b.Stat(context.Background(), h); err != nil || fi.Size != 0 {
		t.Fatalf("Stat empty = %+v, %v", fi, err)
	}
}
