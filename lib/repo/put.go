package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dr-mysql/dr/lib/repo/chunker"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/index"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// PutStats says what a put did.
type PutStats struct {
	Bytes       int64 // bytes of the stream
	NewBytes    int64 // bytes of the chunks that were not stored yet
	StoredBytes int64 // bytes of the packs and index files saved
	Chunks      int   // chunks of the stream
	NewChunks   int   // chunks stored by this put
	Packs       int   // packs saved
	IndexFiles  int   // index files saved
}

// Batching the index lookups: up to this many chunks, or bytes of them,
// are held before their ids are looked up together, so that a remote
// index costs one walk per batch rather than one round trip per chunk.
const (
	batchChunks = 32
	batchBytes  = 48 << 20
)

// PutStream stores the stream rd and returns the id of its manifest. It
// cuts the stream into chunks, stores those the repository lacks in
// packs, saves the packs, then an index file listing them, then the
// manifest, last: if rd fails or ends early with an error, or anything
// else fails, no manifest is saved and the error says why. (The packs
// and index files already saved are harmless: prune removes what no
// manifest needs.)
func (r *Repository) PutStream(ctx context.Context, rd io.Reader, meta map[string]string) (ids.ID, PutStats, error) {
	m, stats, err := r.StoreStream(ctx, rd, meta)
	if err != nil {
		return ids.ID{}, stats, err
	}
	id, err := r.SaveSnapshot(ctx, m)
	if err != nil {
		return ids.ID{}, stats, fmt.Errorf("put to %s: %w", r.be.Location(), err)
	}
	return id, stats, nil
}

// StoreStream stores the chunks of rd and returns the manifest that
// lists them, not yet saved: the caller decides whether to save it
// (SaveSnapshot, SaveBinlog), for instance once it has seen the stream
// is whole.
//
// When rd is a chunker.Cutter, chunks are also cut where it says: dr-ship
// put cuts a snapshot stream around its members so that their chunks do
// not depend on their order (see the package doc).
func (r *Repository) StoreStream(ctx context.Context, rd io.Reader, meta map[string]string) (*Manifest, PutStats, error) {
	u, err := r.NewUploader(ctx)
	if err != nil {
		return nil, PutStats{}, fmt.Errorf("put to %s: %w", r.be.Location(), err)
	}
	chunks, size, whole, err := u.Stream(ctx, rd)
	if err == nil {
		err = u.Flush(ctx)
	}
	if err != nil {
		u.Abort(ctx)
		return nil, u.Stats(), fmt.Errorf("put to %s: %w", r.be.Location(), err)
	}
	m := &Manifest{Version: ManifestVersion, Meta: meta, Chunks: chunks, Size: size, BLAKE3: whole,
		Time: time.Now().UTC().Truncate(time.Millisecond)}
	return m, u.Stats(), nil
}

// Uploader stores the chunks of several streams (the files of a tree,
// say) in shared packs: Stream each, then Flush, then save whatever
// manifest names them. It is not safe for concurrent use.
type Uploader struct{ p *putter }

// NewUploader starts storing chunks, after a look at what other puts
// have indexed since Open, so as not to store their chunks again.
func (r *Repository) NewUploader(ctx context.Context) (*Uploader, error) {
	p := &putter{r: r, pw: pack.NewWriter(r.cfg.PackSize), iw: index.NewWriter()}
	p.pool.New = func() any { b := make([]byte, 0, r.cfg.Chunker.Max); return &b }
	if err := r.syncIndex(ctx); err != nil {
		return nil, err
	}
	p.idx = r.index()
	return &Uploader{p: p}, nil
}

// Stream cuts rd into chunks and stores those the repository lacks. It
// returns the chunks in order, the stream's size and its BLAKE3. The
// chunks are safe to name in a manifest only after Flush.
func (u *Uploader) Stream(ctx context.Context, rd io.Reader) ([]ChunkRef, int64, ids.ID, error) {
	before := u.p.stats.Bytes
	u.p.uctx = ctx
	chunks, whole, err := u.p.run(ctx, rd)
	return chunks, u.p.stats.Bytes - before, whole, err
}

// Flush saves the pack being built and the index file listing the packs
// saved, so that every chunk Stream returned is stored and indexed.
func (u *Uploader) Flush(ctx context.Context) error {
	if u.p.pw.Count() > 0 {
		if err := u.p.flushPack(ctx); err != nil {
			return err
		}
	}
	if u.p.iw.Len() > 0 {
		if err := u.p.flushIndex(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Abort is for an upload that failed: it indexes the packs already
// saved (not the one being built), so that a put retried after, say, a
// dropped connection does not send them again. Best effort.
func (u *Uploader) Abort(ctx context.Context) {
	u.p.wg.Wait()
	// After a failed upload the index Writer lists a pack that is not
	// stored: index nothing then (prune removes the saved packs).
	if u.p.iw.Len() > 0 && ctx.Err() == nil && u.p.uploadErr() == nil {
		u.p.flushIndex(ctx)
	}
	u.p.pw.Reset()
}

// Stats says what the uploader did so far.
func (u *Uploader) Stats() PutStats { return u.p.stats }

type putter struct {
	r     *Repository
	idx   *index.Index // as it was when the put began
	pw    *pack.Writer
	iw    *index.Writer
	stats PutStats  // Bytes and Chunks belong to cut until it returns
	pool  sync.Pool // of *[]byte: chunk buffers

	// Background pack uploads (Repository.SetUploads).
	uctx  context.Context // the caller's, outliving run's own
	sem   chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	upErr error // the first failed upload
}

type pending struct {
	id   ids.ID
	data []byte
}

func (p *putter) run(ctx context.Context, rd io.Reader) ([]ChunkRef, ids.ID, error) {
	chunks := []ChunkRef{}
	// Two stages, so that the two halves of the work use two cores:
	// cutting and hashing in cut, compressing and saving in store. The
	// channel holds one batch, so at most three batches of chunks are in
	// memory (3 × batchBytes at worst).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []pending, 1)
	var whole ids.ID
	var cutErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(batches)
		whole, cutErr = p.cut(ctx, rd, &chunks, batches)
	}()
	var storeErr error
	for batch := range batches {
		if storeErr == nil {
			if storeErr = p.store(ctx, batch); storeErr != nil {
				cancel() // stop the cutting; drain what it sent
			}
		}
		for _, c := range batch {
			b := c.data[:0]
			p.pool.Put(&b)
		}
	}
	<-done
	if storeErr != nil {
		return nil, ids.ID{}, storeErr
	}
	if cutErr != nil {
		return nil, ids.ID{}, cutErr
	}
	return chunks, whole, nil
}

// cut reads rd into chunks, hashes them, lists them in chunks and sends them
// to out in batches. It returns the BLAKE3 of the whole stream.
func (p *putter) cut(ctx context.Context, rd io.Reader, chunks *[]ChunkRef, out chan<- []pending) (ids.ID, error) {
	c := chunker.New(rd, p.r.cfg.Chunker)
	whole := ids.NewHasher()
	var batch []pending
	var held int
	send := func() error {
		select {
		case out <- batch:
			batch, held = nil, 0
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return ids.ID{}, err
		}
		bp := p.pool.Get().(*[]byte)
		ch, err := c.Next(*bp)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ids.ID{}, err
		}
		whole.Write(ch.Data)
		id := ids.Hash(ch.Data)
		*chunks = append(*chunks, ChunkRef{ID: id, Size: uint32(len(ch.Data))})
		p.stats.Bytes += int64(len(ch.Data))
		p.stats.Chunks++
		batch = append(batch, pending{id: id, data: ch.Data})
		held += len(ch.Data)
		if len(batch) >= batchChunks || held >= batchBytes {
			if err := send(); err != nil {
				return ids.ID{}, err
			}
		}
	}
	if len(batch) > 0 {
		if err := send(); err != nil {
			return ids.ID{}, err
		}
	}
	return whole.Sum(), nil
}

// store adds the chunks of batch that the repository lacks to packs.
func (p *putter) store(ctx context.Context, batch []pending) error {
	if len(batch) == 0 {
		return nil
	}
	want := make([]ids.ID, 0, len(batch))
	for _, c := range batch {
		if _, ok := p.iw.Lookup(c.id); !ok && !p.pw.Has(c.id) {
			want = append(want, c.id)
		}
	}
	found, err := p.idx.LookupBatch(ctx, want)
	if err != nil {
		return err
	}
	for _, c := range batch {
		if _, ok := found[c.id]; ok {
			continue
		}
		if _, ok := p.iw.Lookup(c.id); ok || p.pw.Has(c.id) {
			continue // stored earlier in this put
		}
		if _, err := p.pw.Add(pack.DataBlob, c.id, c.data); err != nil {
			return err
		}
		p.stats.NewChunks++
		p.stats.NewBytes += int64(len(c.data))
		if p.pw.Full() {
			if err := p.flushPack(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushPack lists the pack being built in the index file being built
// and saves it, in the background when the repository allows several
// uploads at once (SetUploads); the index file is saved only after
// every pack it lists (flushIndex waits for them), once it lists
// packsPerIndex packs.
func (p *putter) flushPack(ctx context.Context) error {
	if err := p.uploadErr(); err != nil {
		return err
	}
	f, err := p.pw.Finish()
	if err != nil {
		return err
	}
	if p.r.uploads > 1 {
		// f.Data belongs to the pack Writer until Reset.
		f = pack.Finished{ID: f.ID, Data: bytes.Clone(f.Data), Blobs: slices.Clone(f.Blobs)}
	}
	if err := p.iw.AddPack(f.ID, int64(len(f.Data)), f.Blobs); err != nil {
		return err
	}
	p.stats.Packs++
	p.stats.StoredBytes += int64(len(f.Data))
	if p.r.uploads <= 1 {
		err := pack.Save(ctx, p.r.be, f)
		p.pw.Reset()
		if err != nil {
			p.setUploadErr(fmt.Errorf("save pack %s: %w", f.ID, err))
			return p.uploadErr()
		}
	} else {
		p.pw.Reset()
		if p.sem == nil {
			p.sem = make(chan struct{}, p.r.uploads)
		}
		uctx := p.uctx
		if uctx == nil {
			uctx = ctx
		}
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-p.sem }()
			if err := pack.Save(uctx, p.r.be, f); err != nil {
				p.setUploadErr(fmt.Errorf("save pack %s: %w", f.ID, err))
			}
		}()
	}
	if p.iw.Packs() >= p.r.packsPerIndex {
		return p.flushIndex(ctx)
	}
	return nil
}

func (p *putter) setUploadErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.upErr == nil {
		p.upErr = err
	}
}

func (p *putter) uploadErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upErr
}

// flushIndex saves the index file being built and makes the repository's
// lookups see it, so the Writer's memory can be reused.
func (p *putter) flushIndex(ctx context.Context) error {
	// Packs first, then the index file that lists them.
	p.wg.Wait()
	if err := p.uploadErr(); err != nil {
		return err
	}
	id, size, err := p.iw.Save(ctx, p.r.be)
	if err != nil {
		return err
	}
	f, err := index.OpenFile(ctx, p.r.be, id, size)
	if err != nil {
		return err
	}
	p.idx.Add(f)
	p.stats.IndexFiles++
	p.stats.StoredBytes += size
	p.iw.Reset()
	return nil
}
