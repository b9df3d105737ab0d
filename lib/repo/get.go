package repo

import (
	"context"
	"fmt"
	"io"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// GetStream writes the stream of manifest id to w, byte-identical to
// what was put. Every chunk is checked against its BLAKE3 before it is
// written and the whole stream against the manifest's at the end; a
// mismatch is a *CorruptError naming the manifest and the chunk. w may
// have received part of the stream when an error is returned, so a
// caller writing a file writes it under a temporary name.
func (r *Repository) GetStream(ctx context.Context, id ids.ID, w io.Writer) (int64, error) {
	m, err := r.LoadManifest(ctx, id)
	if err != nil {
		return 0, err
	}
	return r.WriteStream(ctx, id, "", m, w)
}

// WriteStream writes the stream m lists to w, checking every chunk and
// the whole as GetStream does. id and name say what m is in errors:
// the id of a snapshot manifest, or the name of a binlog or of a file in
// a tree (id zero).
func (r *Repository) WriteStream(ctx context.Context, id ids.ID, name string, m *Manifest, w io.Writer) (int64, error) {
	label := name
	if label == "" {
		label = id.String()
	}
	whole := ids.NewHasher()
	var off int64
	var buf []byte
	for start := 0; start < len(m.Chunks); start += batchChunks {
		refs := m.Chunks[start:min(start+batchChunks, len(m.Chunks))]
		want := make([]ids.ID, len(refs))
		for i, c := range refs {
			want[i] = c.ID
		}
		found, err := r.index().LookupBatch(ctx, want)
		if err != nil {
			return off, fmt.Errorf("get %s: %w", label, err)
		}
		for _, c := range refs {
			if err := ctx.Err(); err != nil {
				return off, err
			}
			corrupt := func(err error) error {
				return &CorruptError{Manifest: id, Name: name, Chunk: c.ID, Offset: off, Err: err}
			}
			e, ok := found[c.ID]
			if !ok {
				return off, corrupt(fmt.Errorf("not in the index"))
			}
			if e.Blob.RawLength != c.Size {
				return off, corrupt(fmt.Errorf("the index says %d bytes, the manifest %d", e.Blob.RawLength, c.Size))
			}
			data, err := pack.LoadBlob(ctx, r.be, e.Pack, e.Blob, buf)
			if err != nil {
				if pack.IsCorrupt(err) {
					return off, corrupt(err)
				}
				if backend.IsNotExist(err) {
					// The index names a pack that is not there: damage,
					// not a wrong id given by the user.
					return off, corrupt(fmt.Errorf("pack %s is missing: %w", e.Pack, err))
				}
				return off, fmt.Errorf("get %s: chunk %s: %w", label, c.ID, err)
			}
			if cap(data) > cap(buf) {
				buf = data[:0]
			}
			whole.Write(data)
			if _, err := w.Write(data); err != nil {
				return off, fmt.Errorf("get %s: write: %w", label, err)
			}
			off += int64(len(data))
		}
	}
	if got := whole.Sum(); got != m.BLAKE3 || off != m.Size {
		return off, &CorruptError{Manifest: id, Name: name, Err: fmt.Errorf("the stream (%d bytes) hashes to %s, the manifest says %s (%d bytes)", off, got, m.BLAKE3, m.Size)}
	}
	return off, nil
}
