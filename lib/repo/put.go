package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	p := &putter{r: r, pw: pack.NewWriter(r.cfg.PackSize), iw: index.NewWriter()}
	p.pool.New = func() any { b := make([]byte, 0, r.cfg.Chunker.Max); return &b }
	id, err := p.run(ctx, rd, meta)
	if err != nil {
		// Index the packs already saved (not the one being built), so
		// that a put retried after, say, a dropped connection does not
		// send them again. Best effort: the put has failed anyway.
		if p.iw.Len() > 0 && ctx.Err() == nil {
			p.flushIndex(ctx)
		}
		return ids.ID{}, p.stats, fmt.Errorf("put to %s: %w", r.be.Location(), err)
	}
	return id, p.stats, nil
}

type putter struct {
	r     *Repository
	pw    *pack.Writer
	iw    *index.Writer
	stats PutStats  // Bytes and Chunks belong to cut until it returns
	pool  sync.Pool // of *[]byte: chunk buffers
}

type pending struct {
	id   ids.ID
	data []byte
}

func (p *putter) run(ctx context.Context, rd io.Reader, meta map[string]string) (ids.ID, error) {
	// See what other puts have indexed since Open, so as not to store
	// their chunks again.
	if err := p.r.idx.Refresh(ctx); err != nil {
		return ids.ID{}, err
	}
	m := &Manifest{Version: ManifestVersion, Meta: meta, Chunks: []ChunkRef{}}
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
		whole, cutErr = p.cut(ctx, rd, m, batches)
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
		return ids.ID{}, storeErr
	}
	if cutErr != nil {
		return ids.ID{}, cutErr
	}
	if p.pw.Count() > 0 {
		if err := p.flushPack(ctx); err != nil {
			return ids.ID{}, err
		}
	}
	if p.iw.Len() > 0 {
		if err := p.flushIndex(ctx); err != nil {
			return ids.ID{}, err
		}
	}
	m.Size = p.stats.Bytes
	m.BLAKE3 = whole
	m.Time = time.Now().UTC().Truncate(time.Millisecond)
	id, err := p.r.saveManifest(ctx, m)
	if err != nil {
		return ids.ID{}, err
	}
	return id, nil
}

// cut reads rd into chunks, hashes them, lists them in m and sends them
// to out in batches. It returns the BLAKE3 of the whole stream.
func (p *putter) cut(ctx context.Context, rd io.Reader, m *Manifest, out chan<- []pending) (ids.ID, error) {
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
		m.Chunks = append(m.Chunks, ChunkRef{ID: id, Size: uint32(len(ch.Data))})
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
	found, err := p.r.idx.LookupBatch(ctx, want)
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

// flushPack saves the pack being built and lists it in the index file
// being built, which it saves when it lists packsPerIndex packs.
func (p *putter) flushPack(ctx context.Context) error {
	f, err := p.pw.Finish()
	if err != nil {
		return err
	}
	if err := pack.Save(ctx, p.r.be, f); err != nil {
		return fmt.Errorf("save pack %s: %w", f.ID, err)
	}
	if err := p.iw.AddPack(f.ID, int64(len(f.Data)), f.Blobs); err != nil {
		return err
	}
	p.stats.Packs++
	p.stats.StoredBytes += int64(len(f.Data))
	p.pw.Reset()
	if p.iw.Packs() >= p.r.packsPerIndex {
		return p.flushIndex(ctx)
	}
	return nil
}

// flushIndex saves the index file being built and makes the repository's
// lookups see it, so the Writer's memory can be reused.
func (p *putter) flushIndex(ctx context.Context) error {
	id, size, err := p.iw.Save(ctx, p.r.be)
	if err != nil {
		return err
	}
	f, err := index.OpenFile(ctx, p.r.be, id, size)
	if err != nil {
		return err
	}
	p.r.idx.Add(f)
	p.stats.IndexFiles++
	p.stats.StoredBytes += size
	p.iw.Reset()
	return nil
}
