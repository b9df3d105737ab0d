package repo

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/index"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// PrunePlan says what Prune removes: manifests chosen by the caller's
// policy. Everything else follows: the packs no remaining manifest
// needs a chunk of.
type PrunePlan struct {
	Snapshots []ids.ID
	Binlogs   []string
	Trees     []ids.ID
}

// PruneReport says what Prune removed (or, dry, would remove).
type PruneReport struct {
	Snapshots, Binlogs, Trees int // manifests removed
	Packs                     int // packs removed: no chunk of theirs is needed
	PackBytes                 int64
	Unindexed                 int // of them, packs no index file listed (left by a put that died)
	KeptPacks                 int // packs kept, some wholly, some because one chunk is needed
	UnusedBytes               int64
	IndexFiles                int // index files rewritten without the removed packs
}

// Prune removes the manifests of plan, then every pack that holds no
// chunk a remaining manifest (snapshot, binlog or tree) needs, and
// rewrites the index files that listed those packs. It holds an
// exclusive lock (see Lock) for its whole run, so no put runs at the
// same time; the caller has it take the lock by passing lock true.
//
// Packs that hold some needed chunks are kept whole (no repacking): the
// unneeded bytes in them are reported as UnusedBytes. Order of writes:
// manifests removed first (a crash leaves fewer snapshots, each whole),
// then new index files saved, then the old index files removed, then the
// packs; a crash at any point leaves at worst unindexed packs, which the
// next prune removes.
//
// Memory: the set of needed chunk ids (32 bytes each) and one index
// file's entries at a time.
func (r *Repository) Prune(ctx context.Context, plan PrunePlan, dryRun bool) (PruneReport, error) {
	var rep PruneReport
	loc := r.be.Location()
	if err := r.syncIndex(ctx); err != nil {
		return rep, fmt.Errorf("prune %s: %w", loc, err)
	}
	if broken := r.index().Broken(); len(broken) > 0 {
		for id, err := range broken {
			return rep, &CorruptError{Name: "index file " + id.String(), Err: fmt.Errorf("prune refuses to run on a damaged index (run dr-ship check): %w", err)}
		}
	}
	gone := map[string]bool{}
	for _, id := range plan.Snapshots {
		gone["s"+id.String()] = true
	}
	for _, n := range plan.Binlogs {
		gone["b"+n] = true
	}
	for _, id := range plan.Trees {
		gone["t"+id.String()] = true
	}

	// Chunks needed by what stays. A manifest that cannot be read stops
	// the prune: its chunks would be taken for garbage.
	need := map[ids.ID]struct{}{}
	add := func(cs []ChunkRef) {
		for _, c := range cs {
			need[c.ID] = struct{}{}
		}
	}
	snaps, broken, err := r.Snapshots(ctx)
	if err != nil {
		return rep, fmt.Errorf("prune %s: %w", loc, err)
	}
	for name, err := range broken {
		if !gone["s"+name] {
			return rep, fmt.Errorf("prune %s: snapshot %s cannot be read, so its chunks cannot be told from garbage: %w", loc, name, err)
		}
	}
	for _, s := range snaps {
		if !gone["s"+s.ID.String()] {
			add(s.Manifest.Chunks)
		}
	}
	bls, broken, err := r.Binlogs(ctx)
	if err != nil {
		return rep, fmt.Errorf("prune %s: %w", loc, err)
	}
	for name, err := range broken {
		if !gone["b"+name] {
			return rep, fmt.Errorf("prune %s: binlog %s cannot be read, so its chunks cannot be told from garbage: %w", loc, name, err)
		}
	}
	for _, b := range bls {
		if !gone["b"+b.Name] {
			add(b.Manifest.Chunks)
		}
	}
	trees, err := r.List(ctx, backend.Tree)
	if err != nil {
		return rep, fmt.Errorf("prune %s: %w", loc, err)
	}
	for _, name := range trees {
		if gone["t"+name] {
			continue
		}
		id, err := ids.Parse(name)
		if err != nil {
			return rep, fmt.Errorf("prune %s: tree with a bad name %q", loc, name)
		}
		t, err := r.LoadTree(ctx, id)
		if err != nil {
			return rep, fmt.Errorf("prune %s: tree %s cannot be read, so its chunks cannot be told from garbage: %w", loc, name, err)
		}
		for _, e := range t.Entries {
			add(e.Chunks)
		}
	}

	// Which packs hold a needed chunk.
	stored := map[ids.ID]int64{}
	if err := r.be.List(ctx, backend.Pack, func(fi backend.FileInfo) error {
		if id, err := ids.Parse(fi.Name); err == nil {
			stored[id] = fi.Size
		}
		return nil
	}); err != nil {
		return rep, fmt.Errorf("prune %s: list packs: %w", loc, err)
	}
	used := map[ids.ID]bool{}    // pack -> holds a needed chunk
	indexed := map[ids.ID]bool{} // pack -> listed by some index file
	unused := map[ids.ID]int64{} // pack -> bytes of unneeded blobs
	for _, f := range r.index().Files() {
		err := index.Verify(ctx, r.be, f.ID(), f.Size(), func(e index.Entry) error {
			indexed[e.Pack] = true
			if _, ok := need[e.Blob.ID]; ok {
				used[e.Pack] = true
			} else {
				unused[e.Pack] += int64(e.Blob.Length)
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("prune %s: %w", loc, err)
		}
	}
	// Every needed chunk must be found, else a manifest is already
	// damaged and removing anything could make it worse.
	found, err := r.index().LookupBatch(ctx, slices.Collect(maps.Keys(need)))
	if err != nil {
		return rep, fmt.Errorf("prune %s: %w", loc, err)
	}
	if len(found) != len(need) {
		return rep, &CorruptError{Name: "repository " + loc, Err: fmt.Errorf("%d chunks that manifests need are not in the index; prune refuses (run dr-ship check)", len(need)-len(found))}
	}

	var drop []ids.ID
	for id, size := range stored {
		if used[id] {
			rep.KeptPacks++
			rep.UnusedBytes += unused[id]
			continue
		}
		drop = append(drop, id)
		rep.Packs++
		rep.PackBytes += size
		if !indexed[id] {
			rep.Unindexed++
		}
	}
	dropSet := map[ids.ID]bool{}
	for _, id := range drop {
		dropSet[id] = true
	}
	var rewrite []*index.File
	for _, f := range r.index().Files() {
		for _, p := range f.Packs() {
			if dropSet[p.ID] {
				rewrite = append(rewrite, f)
				break
			}
		}
	}
	rep.Snapshots, rep.Binlogs, rep.Trees = len(plan.Snapshots), len(plan.Binlogs), len(plan.Trees)
	rep.IndexFiles = len(rewrite)
	if dryRun {
		return rep, nil
	}

	for _, id := range plan.Snapshots {
		if err := r.be.Remove(ctx, manifestHandle(id)); err != nil && !backend.IsNotExist(err) {
			return rep, fmt.Errorf("prune %s: remove snapshot %s: %w", loc, id, err)
		}
	}
	for _, n := range plan.Binlogs {
		if err := r.be.Remove(ctx, binlogHandle(n)); err != nil && !backend.IsNotExist(err) {
			return rep, fmt.Errorf("prune %s: remove binlog %s: %w", loc, n, err)
		}
	}
	for _, id := range plan.Trees {
		if err := r.be.Remove(ctx, treeHandle(id)); err != nil && !backend.IsNotExist(err) {
			return rep, fmt.Errorf("prune %s: remove tree %s: %w", loc, id, err)
		}
	}
	for _, f := range rewrite {
		byPack := map[ids.ID][]pack.Blob{}
		sizes := map[ids.ID]int64{}
		for _, p := range f.Packs() {
			sizes[p.ID] = p.Size
		}
		err := index.Verify(ctx, r.be, f.ID(), f.Size(), func(e index.Entry) error {
			if used[e.Pack] {
				byPack[e.Pack] = append(byPack[e.Pack], e.Blob)
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("prune %s: %w", loc, err)
		}
		if len(byPack) > 0 {
			w := index.NewWriter()
			for _, p := range f.Packs() { // in the file's order
				if blobs, ok := byPack[p.ID]; ok {
					if err := w.AddPack(p.ID, sizes[p.ID], blobs); err != nil {
						return rep, fmt.Errorf("prune %s: %w", loc, err)
					}
				}
			}
			if _, _, err := w.Save(ctx, r.be); err != nil && !backend.IsExists(err) {
				return rep, fmt.Errorf("prune %s: save index: %w", loc, err)
			}
		}
		if err := r.be.Remove(ctx, index.Handle(f.ID())); err != nil && !backend.IsNotExist(err) {
			return rep, fmt.Errorf("prune %s: remove index file %s: %w", loc, f.ID(), err)
		}
	}
	for _, id := range drop {
		if err := r.be.Remove(ctx, pack.Handle(id)); err != nil && !backend.IsNotExist(err) {
			return rep, fmt.Errorf("prune %s: remove pack %s: %w", loc, id, err)
		}
	}
	// Start over from what is stored now.
	idx, err := index.Open(ctx, r.be)
	if err != nil {
		return rep, fmt.Errorf("prune %s: %w", loc, err)
	}
	r.setIndex(idx)
	return rep, nil
}
