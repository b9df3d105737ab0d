package index

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// File is one open index file. It keeps the fan-out table and the pack
// table (4 × 2^F + 40 × P bytes), never the records. It is safe for
// concurrent use.
type File struct {
	be     backend.Backend
	id     ids.ID
	t      trailer
	fanout []uint32
	packs  []packRef
}

// OpenFile reads the trailer, fan-out and pack table of index file id of
// size bytes (size < 0: ask the backend): two range loads.
func OpenFile(ctx context.Context, be backend.Backend, id ids.ID, size int64) (*File, error) {
	if size < 0 {
		fi, err := be.Stat(ctx, Handle(id))
		if err != nil {
			return nil, fmt.Errorf("open index file %s: %w", id, err)
		}
		size = fi.Size
	}
	if size < TrailerSize {
		return nil, &CorruptError{File: id, Err: fmt.Errorf("truncated: %d bytes, shorter than the %d-byte trailer", size, TrailerSize)}
	}
	tb, err := loadRange(ctx, be, id, size-TrailerSize, TrailerSize)
	if err != nil {
		return nil, err
	}
	t, err := parseTrailer(tb, size)
	if err != nil {
		return nil, &CorruptError{File: id, Err: err}
	}
	head, err := loadRange(ctx, be, id, 0, int(t.headLen()))
	if err != nil {
		return nil, err
	}
	fanout, packs, err := parseHead(head, tb, t)
	if err != nil {
		return nil, &CorruptError{File: id, Err: err}
	}
	return &File{be: be, id: id, t: t, fanout: fanout, packs: packs}, nil
}

// ID returns the file's name.
func (f *File) ID() ids.ID { return f.id }

// Len returns the number of records.
func (f *File) Len() int { return f.t.n }

// Size returns the file's size in bytes.
func (f *File) Size() int64 { return f.t.size() }

// PackInfo is an entry of a file's pack table.
type PackInfo struct {
	ID   ids.ID
	Size int64
}

// Packs returns the packs the file lists, with their sizes.
func (f *File) Packs() []PackInfo {
	out := make([]PackInfo, len(f.packs))
	for i, p := range f.packs {
		out[i] = PackInfo{ID: p.id, Size: p.size}
	}
	return out
}

// bucket returns the records [lo, hi) that may hold ids of prefix p.
func (f *File) bucket(p int) (lo, hi int) {
	if p > 0 {
		lo = int(f.fanout[p-1])
	}
	return lo, int(f.fanout[p])
}

// Lookup finds id in the file with at most one range load.
func (f *File) Lookup(ctx context.Context, id ids.ID) (Entry, bool, error) {
	found, err := f.LookupBatch(ctx, []ids.ID{id})
	if err != nil {
		return Entry{}, false, err
	}
	e, ok := found[id]
	return e, ok, nil
}

// maxGap is how many unwanted record bytes a batched lookup reads rather
// than make a second round trip: on S3 a request costs far more than 16 KiB.
const maxGap = 16 << 10

// LookupBatch finds many ids with one walk over the file: the buckets
// the ids fall in are sorted and read with one range load each, adjacent
// ones (closer than maxGap) merged into one load. ids need not be sorted
// and may repeat. The map holds the ids found.
func (f *File) LookupBatch(ctx context.Context, want []ids.ID) (map[ids.ID]Entry, error) {
	return f.lookup(ctx, want, nil)
}

func (f *File) lookup(ctx context.Context, want []ids.ID, found map[ids.ID]Entry) (map[ids.ID]Entry, error) {
	if found == nil {
		found = map[ids.ID]Entry{}
	}
	if f.t.n == 0 || len(want) == 0 {
		return found, nil
	}
	sorted := slices.Clone(want)
	slices.SortFunc(sorted, func(a, b ids.ID) int { return bytes.Compare(a[:], b[:]) })
	sorted = slices.Compact(sorted)
	for len(sorted) > 0 {
		// A run of ids whose buckets are close enough to load at once.
		lo, hi := f.bucket(prefix(sorted[0], f.t.f))
		k := 1
		for ; k < len(sorted); k++ {
			l2, h2 := f.bucket(prefix(sorted[k], f.t.f))
			if int64(l2-hi)*RecordSize > maxGap {
				break
			}
			hi = max(hi, h2)
		}
		run := sorted[:k]
		sorted = sorted[k:]
		if lo == hi {
			continue // empty bucket(s): not here, no load
		}
		recs, err := loadRange(ctx, f.be, f.id, f.t.headLen()+int64(lo)*RecordSize, (hi-lo)*RecordSize)
		if err != nil {
			return found, err
		}
		if err := f.search(recs, lo, run, found); err != nil {
			return found, &CorruptError{File: f.id, Err: err}
		}
	}
	return found, nil
}

// search finds the sorted ids of run in recs, the records from number
// lo on, which must be sorted too.
func (f *File) search(recs []byte, lo int, run []ids.ID, found map[ids.ID]Entry) error {
	n := len(recs) / RecordSize
	at := func(i int) []byte { return recs[i*RecordSize : (i+1)*RecordSize] }
	// Check the order and buckets of all loaded records, not only the
	// ones found: a damaged record must not turn into a silent "absent".
	for i := 0; i < n; i++ {
		if i > 0 && bytes.Compare(at(i - 1)[:32], at(i)[:32]) >= 0 {
			return fmt.Errorf("records %d and %d are out of order", lo+i-1, lo+i)
		}
		if b0, b1 := f.bucket(prefix(ids.ID(at(i)[:32]), f.t.f)); lo+i < b0 || lo+i >= b1 {
			return fmt.Errorf("record %d is outside its fan-out bucket [%d, %d)", lo+i, b0, b1)
		}
	}
	for _, id := range run {
		j := sort.Search(n, func(i int) bool { return bytes.Compare(at(i)[:32], id[:]) >= 0 })
		if j < n && ids.ID(at(j)[:32]) == id {
			e, err := parseRecord(at(j), lo+j, f.packs, f.fanout, f.t.f)
			if err != nil {
				return err
			}
			found[id] = e
		}
	}
	return nil
}

// loadRange reads length bytes of index file id at offset. A range past
// the end means the file is shorter than its trailer says: corrupt.
func loadRange(ctx context.Context, be backend.Backend, id ids.ID, offset int64, length int) ([]byte, error) {
	b, err := backend.ReadRange(ctx, be, Handle(id), offset, length)
	if errors.Is(err, backend.ErrShortObject) {
		return nil, &CorruptError{File: id, Err: fmt.Errorf("truncated: %w", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("read index file %s: %w", id, err)
	}
	return b, nil
}

// Index answers lookups over all the index files of a repository. It
// keeps one File per index file. It is safe for concurrent use.
type Index struct {
	be     backend.Backend
	mu     sync.RWMutex
	files  map[ids.ID]*File
	order  []*File          // the files, in the order they were opened
	broken map[ids.ID]error // files found corrupt when opened
}

// Open opens every index file of the repository.
func Open(ctx context.Context, be backend.Backend) (*Index, error) {
	x := &Index{be: be, files: map[ids.ID]*File{}, broken: map[ids.ID]error{}}
	if err := x.Refresh(ctx); err != nil {
		return nil, err
	}
	return x, nil
}

// Refresh opens the index files saved since Open or the last Refresh,
// by other puts for instance.
func (x *Index) Refresh(ctx context.Context) error {
	var infos []backend.FileInfo
	err := x.be.List(ctx, backend.Index, func(fi backend.FileInfo) error {
		infos = append(infos, fi)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list index files: %w", err)
	}
	for _, fi := range infos {
		id, err := ids.Parse(fi.Name)
		if err != nil {
			return &CorruptError{Err: fmt.Errorf("index file with a bad name: %w", err)}
		}
		if x.has(id) {
			continue
		}
		f, err := OpenFile(ctx, x.be, id, fi.Size)
		if IsCorrupt(err) {
			// One damaged file must not stop every put and get, nor the
			// check that reports it: lookups go without it (a put then
			// stores its chunks again) and Broken lists it.
			x.mu.Lock()
			x.broken[id] = err
			x.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		x.Add(f)
	}
	return nil
}

func (x *Index) has(id ids.ID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.files[id] != nil || x.broken[id] != nil
}

// Broken returns the index files that could not be opened because they
// are corrupt, with the reason.
func (x *Index) Broken() map[ids.ID]error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return maps.Clone(x.broken)
}

// Add makes lookups see f, a file just saved, without listing the backend.
func (x *Index) Add(f *File) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.broken, f.id) // saved again after the damaged copy was removed
	if x.files[f.id] == nil {
		x.files[f.id] = f
		x.order = append(x.order, f)
	}
}

// Files returns the open index files.
func (x *Index) Files() []*File {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(x.order)
}

// Lookup finds id: at most one range load per index file whose bucket
// for id is not empty.
func (x *Index) Lookup(ctx context.Context, id ids.ID) (Entry, bool, error) {
	found, err := x.LookupBatch(ctx, []ids.ID{id})
	if err != nil {
		return Entry{}, false, err
	}
	e, ok := found[id]
	return e, ok, nil
}

// LookupBatch finds many ids, walking each index file once; see
// File.LookupBatch. An id in several files is reported from one of them.
func (x *Index) LookupBatch(ctx context.Context, want []ids.ID) (map[ids.ID]Entry, error) {
	found := map[ids.ID]Entry{}
	left := slices.Clone(want)
	for _, f := range x.Files() {
		if len(left) == 0 {
			break
		}
		if _, err := f.lookup(ctx, left, found); err != nil {
			return nil, err
		}
		left = slices.DeleteFunc(left, func(id ids.ID) bool { _, ok := found[id]; return ok })
	}
	return found, nil
}

// Verify reads all of index file id (size < 0: ask the backend) in one
// pass and checks everything: trailer, head, every record, the file sum
// and the name. fn, when not nil, is called for each entry in id order;
// its error stops the walk and is returned. Memory is the head and a
// read buffer, whatever the file's size.
func Verify(ctx context.Context, be backend.Backend, id ids.ID, size int64, fn func(Entry) error) error {
	if size < 0 {
		fi, err := be.Stat(ctx, Handle(id))
		if err != nil {
			return fmt.Errorf("verify index file %s: %w", id, err)
		}
		size = fi.Size
	}
	if size < TrailerSize {
		return &CorruptError{File: id, Err: fmt.Errorf("truncated: %d bytes, shorter than the %d-byte trailer", size, TrailerSize)}
	}
	tb, err := loadRange(ctx, be, id, size-TrailerSize, TrailerSize)
	if err != nil {
		return err
	}
	var fnErr error
	called := false
	err = be.Load(ctx, Handle(id), 0, 0, func(rd io.Reader) error {
		called = true
		h := ids.NewHasher()
		err := walk(io.TeeReader(rd, h), size, tb, func(e Entry) error {
			if fn == nil {
				return nil
			}
			if err := fn(e); err != nil {
				fnErr = err
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		if got := h.Sum(); got != id {
			return &CorruptError{File: id, Err: fmt.Errorf("content does not match its name (it hashes to %s)", got)}
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return err
	case IsCorrupt(err):
		var ce *CorruptError
		errors.As(err, &ce)
		if ce.File.IsZero() {
			ce.File = id
		}
		return err
	case !called && errors.Is(err, io.ErrUnexpectedEOF):
		return &CorruptError{File: id, Err: fmt.Errorf("truncated: %w", err)}
	}
	return fmt.Errorf("read index file %s: %w", id, err)
}

// Parse checks a whole index file held in data, as Verify does except
// for the name, and calls fn (when not nil) for each entry.
func Parse(data []byte, fn func(Entry) error) error {
	if len(data) < TrailerSize {
		return &CorruptError{Err: fmt.Errorf("truncated: %d bytes, shorter than the %d-byte trailer", len(data), TrailerSize)}
	}
	if fn == nil {
		fn = func(Entry) error { return nil }
	}
	return walk(bytes.NewReader(data), int64(len(data)), data[len(data)-TrailerSize:], fn)
}

// walk reads a whole file of size bytes from r, whose trailer is tb
// (already read on its own so the head can be sized), checking all of it.
// Format errors are *CorruptError without the file's name.
func walk(r io.Reader, size int64, tb []byte, fn func(Entry) error) error {
	corrupt := func(err error) error { return &CorruptError{Err: err} }
	t, err := parseTrailer(tb, size)
	if err != nil {
		return corrupt(err)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	sum := ids.NewHasher()
	head := make([]byte, t.headLen())
	if _, err := io.ReadFull(br, head); err != nil {
		return readErr(err)
	}
	sum.Write(head)
	fanout, packs, err := parseHead(head, tb, t)
	if err != nil {
		return corrupt(err)
	}
	var prev, rec [RecordSize]byte
	for i := 0; i < t.n; i++ {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			return readErr(err)
		}
		sum.Write(rec[:])
		if i > 0 && bytes.Compare(prev[:32], rec[:32]) >= 0 {
			return corrupt(fmt.Errorf("records %d and %d are out of order", i-1, i))
		}
		e, err := parseRecord(rec[:], i, packs, fanout, t.f)
		if err != nil {
			return corrupt(err)
		}
		if err := fn(e); err != nil {
			return err
		}
		prev = rec
	}
	var tail [TrailerSize]byte
	if _, err := io.ReadFull(br, tail[:]); err != nil {
		return readErr(err)
	}
	if !bytes.Equal(tail[:], tb) {
		return corrupt(fmt.Errorf("trailer changed while reading"))
	}
	sum.Write(tail[:48])
	if sum.Sum() != ids.ID(tail[48:]) {
		return corrupt(fmt.Errorf("file checksum mismatch"))
	}
	if n, _ := io.Copy(io.Discard, br); n > 0 {
		return corrupt(fmt.Errorf("%d bytes after the trailer", n))
	}
	return nil
}

// readErr turns a short read into corruption (the file is shorter than
// its trailer says) and leaves I/O errors alone.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &CorruptError{Err: fmt.Errorf("truncated: %w", io.ErrUnexpectedEOF)}
	}
	return err
}
