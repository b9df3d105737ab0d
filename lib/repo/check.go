package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/index"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// CheckReport says what Check looked at and what it found wrong.
type CheckReport struct {
	IndexFiles int
	Packs      int // packs stored
	Unindexed  int // packs no index file lists: left by a put that died; prune removes them
	Manifests  int
	Chunks     int // chunk references of all manifests
	ReadBytes  int64
	Problems   []error // each names the object at fault
}

// Check verifies the repository's structure: every index file whole
// (checksums and name), every pack an index lists stored with the size
// the index says, every chunk of every manifest in the index and in a
// stored pack. With readData it also reads every pack and checks every
// byte (pack.Verify). Memory is bounded by the number of packs, never by
// the number of chunks. The error is nil when no problem was found, else
// the problems joined.
func (r *Repository) Check(ctx context.Context, readData bool) (CheckReport, error) {
	var rep CheckReport
	problem := func(err error) { rep.Problems = append(rep.Problems, err) }

	stored := map[ids.ID]int64{} // pack -> size
	err := r.be.List(ctx, backend.Pack, func(fi backend.FileInfo) error {
		id, err := ids.Parse(fi.Name)
		if err != nil {
			problem(fmt.Errorf("pack with a bad name: %w", err))
			return nil
		}
		stored[id] = fi.Size
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("check %s: list packs: %w", r.be.Location(), err)
	}
	rep.Packs = len(stored)

	// Index files: read each whole, note the packs they list.
	if err := r.syncIndex(ctx); err != nil {
		problem(err)
	}
	for _, err := range r.index().Broken() {
		rep.IndexFiles++
		problem(err)
	}
	indexed := map[ids.ID]bool{}
	for _, f := range r.index().Files() {
		rep.IndexFiles++
		if err := index.Verify(ctx, r.be, f.ID(), f.Size(), nil); err != nil {
			if !index.IsCorrupt(err) {
				return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
			}
			problem(err)
			continue
		}
		for _, p := range f.Packs() {
			indexed[p.ID] = true
			size, ok := stored[p.ID]
			switch {
			case !ok:
				problem(fmt.Errorf("pack %s listed by index file %s is missing", p.ID, f.ID()))
			case size != p.Size:
				problem(&pack.CorruptError{Pack: p.ID, Err: fmt.Errorf("%d bytes, index file %s says %d", size, f.ID(), p.Size)})
			}
		}
	}
	for id := range stored {
		if !indexed[id] {
			rep.Unindexed++
		}
	}

	// Manifests: every chunk indexed, in a stored pack.
	checkChunks := func(mid ids.ID, name string, chunks []ChunkRef) error {
		rep.Chunks += len(chunks)
		var off int64
		for start := 0; start < len(chunks); start += 256 {
			refs := chunks[start:min(start+256, len(chunks))]
			want := make([]ids.ID, len(refs))
			for i, c := range refs {
				want[i] = c.ID
			}
			found, err := r.index().LookupBatch(ctx, want)
			if err != nil {
				if !index.IsCorrupt(err) {
					return fmt.Errorf("check %s: %w", r.be.Location(), err)
				}
				problem(fmt.Errorf("%s: %w", (&CorruptError{Manifest: mid, Name: name}).what(), err))
				return nil
			}
			for _, c := range refs {
				e, ok := found[c.ID]
				switch {
				case !ok:
					problem(&CorruptError{Manifest: mid, Name: name, Chunk: c.ID, Offset: off, Err: errors.New("not in the index")})
				case e.Blob.RawLength != c.Size:
					problem(&CorruptError{Manifest: mid, Name: name, Chunk: c.ID, Offset: off, Err: fmt.Errorf("the index says %d bytes, the manifest %d", e.Blob.RawLength, c.Size)})
				default:
					if _, ok := stored[e.Pack]; !ok {
						problem(&CorruptError{Manifest: mid, Name: name, Chunk: c.ID, Offset: off, Err: fmt.Errorf("pack %s is missing", e.Pack)})
					}
				}
				off += int64(c.Size)
			}
		}
		return nil
	}
	names, err := r.List(ctx, backend.Snapshot)
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
	}
	for _, name := range names {
		rep.Manifests++
		mid, err := ids.Parse(name)
		if err != nil {
			problem(fmt.Errorf("manifest with a bad name: %w", err))
			continue
		}
		m, err := r.LoadManifest(ctx, mid)
		if err != nil {
			if !IsCorrupt(err) {
				return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
			}
			problem(err)
			continue
		}
		if err := checkChunks(mid, "", m.Chunks); err != nil {
			return rep, err
		}
	}
	names, err = r.List(ctx, backend.Binlog)
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
	}
	for _, name := range names {
		rep.Manifests++
		m, err := r.LoadBinlog(ctx, name)
		if err != nil {
			if !IsCorrupt(err) {
				return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
			}
			problem(err)
			continue
		}
		if err := checkChunks(ids.ID{}, "binlog "+name, m.Chunks); err != nil {
			return rep, err
		}
	}
	names, err = r.List(ctx, backend.Tree)
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
	}
	for _, name := range names {
		rep.Manifests++
		tid, err := ids.Parse(name)
		if err != nil {
			problem(fmt.Errorf("tree with a bad name: %w", err))
			continue
		}
		t, err := r.LoadTree(ctx, tid)
		if err != nil {
			if !IsCorrupt(err) {
				return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
			}
			problem(err)
			continue
		}
		for _, e := range t.Entries {
			if err := checkChunks(tid, "tree "+name+" file "+e.Path, e.Chunks); err != nil {
				return rep, err
			}
		}
	}

	if readData {
		for id, size := range stored {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			if err := pack.Verify(ctx, r.be, id, size); err != nil {
				if !pack.IsCorrupt(err) {
					return rep, fmt.Errorf("check %s: %w", r.be.Location(), err)
				}
				problem(err)
			}
			rep.ReadBytes += size
		}
	}
	return rep, errors.Join(rep.Problems...)
}
