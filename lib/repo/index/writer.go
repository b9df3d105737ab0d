package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// Handle is the backend handle of index file id.
func Handle(id ids.ID) backend.Handle {
	return backend.Handle{Type: backend.Index, Name: id.String()}
}

// Writer collects the blobs of saved packs, in any order, and encodes
// them as one index file. It holds everything in memory (about 100 bytes
// a blob), so a put flushes one file every so many packs. It is not safe
// for concurrent use.
type Writer struct {
	packs   []packRef
	packNum map[ids.ID]uint32
	recs    []rec
	seen    map[ids.ID]int // id -> position in recs
}

type rec struct {
	blob pack.Blob
	pack uint32
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{packNum: map[ids.ID]uint32{}, seen: map[ids.ID]int{}}
}

// AddPack records the blobs of pack id, of size bytes, as Finish returned
// them. A blob already added (from another pack) is kept where it was
// first seen: one copy is enough, and prune drops the spare.
func (w *Writer) AddPack(id ids.ID, size int64, blobs []pack.Blob) error {
	if _, ok := w.packNum[id]; ok {
		return fmt.Errorf("index: add pack %s: already added", id)
	}
	if size < pack.TrailerSize || size > pack.MaxPackSize {
		return fmt.Errorf("index: add pack %s: impossible size %d", id, size)
	}
	if len(w.packs) >= MaxPacks {
		return fmt.Errorf("index: add pack %s: the file already lists %d packs", id, len(w.packs))
	}
	if len(w.recs)+len(blobs) > MaxRecords {
		return fmt.Errorf("index: add pack %s: the file would pass %d records", id, MaxRecords)
	}
	for _, b := range blobs {
		if b.Offset < 0 || b.Offset+int64(b.Length) > math.MaxUint32 || b.Offset+int64(b.Length) > size {
			return fmt.Errorf("index: add pack %s: blob %s at %d+%d does not fit", id, b.ID, b.Offset, b.Length)
		}
	}
	n := uint32(len(w.packs))
	w.packs = append(w.packs, packRef{id: id, size: size})
	w.packNum[id] = n
	for _, b := range blobs {
		if _, ok := w.seen[b.ID]; ok {
			continue
		}
		w.seen[b.ID] = len(w.recs)
		w.recs = append(w.recs, rec{blob: b, pack: n})
	}
	return nil
}

// Lookup finds a blob added to the Writer: the chunks a running put has
// stored are not in any saved index file yet.
func (w *Writer) Lookup(id ids.ID) (Entry, bool) {
	i, ok := w.seen[id]
	if !ok {
		return Entry{}, false
	}
	r := w.recs[i]
	return Entry{Pack: w.packs[r.pack].id, Blob: r.blob}, true
}

// Len returns the number of blobs added.
func (w *Writer) Len() int { return len(w.recs) }

// Packs returns the number of packs added.
func (w *Writer) Packs() int { return len(w.packs) }

// Encode returns the index file and its name. The Writer is left as it
// was; Reset it to start the next file.
func (w *Writer) Encode() (ids.ID, []byte) {
	// Sort a permutation rather than recs, so that seen stays valid and
	// Lookup keeps working after Encode.
	order := make([]int32, len(w.recs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return bytes.Compare(w.recs[a].blob.ID[:], w.recs[b].blob.ID[:])
	})
	t := trailer{n: len(w.recs), p: len(w.packs), f: fanoutBits(len(w.recs))}
	out := make([]byte, 0, t.size())
	fanout := make([]uint32, 1<<t.f)
	for _, r := range w.recs {
		fanout[prefix(r.blob.ID, t.f)]++
	}
	var sum uint32
	for _, c := range fanout {
		sum += c
		out = binary.LittleEndian.AppendUint32(out, sum)
	}
	for _, p := range w.packs {
		out = append(out, p.id[:]...)
		out = binary.LittleEndian.AppendUint64(out, uint64(p.size))
	}
	head := len(out)
	for _, i := range order {
		r := w.recs[i]
		out = append(out, r.blob.ID[:]...)
		out = binary.LittleEndian.AppendUint32(out, r.pack)
		out = binary.LittleEndian.AppendUint32(out, uint32(r.blob.Offset))
		out = binary.LittleEndian.AppendUint32(out, r.blob.Length)
		out = binary.LittleEndian.AppendUint32(out, r.blob.RawLength)
		out = append(out, byte(r.blob.Type), byte(r.blob.Compression), 0, 0)
	}
	// The head sum covers fanout ‖ packs, out[:head], which the records
	// separate from the trailer.
	out = appendTrailer(out, t, out[:head])
	return ids.Hash(out), out
}

// Save encodes the file and stores it under its name. A file of that
// name already stored is success: it holds the same bytes.
func (w *Writer) Save(ctx context.Context, be backend.Backend) (ids.ID, int64, error) {
	if len(w.recs) == 0 {
		return ids.ID{}, 0, fmt.Errorf("index: save: no blobs")
	}
	id, data := w.Encode()
	err := be.Save(ctx, Handle(id), bytes.NewReader(data), int64(len(data)))
	if err != nil && !backend.IsExists(err) {
		return ids.ID{}, 0, fmt.Errorf("save index file %s: %w", id, err)
	}
	return id, int64(len(data)), nil
}

// Reset empties the Writer for the next file.
func (w *Writer) Reset() {
	w.packs = w.packs[:0]
	clear(w.packNum)
	w.recs = w.recs[:0]
	clear(w.seen)
}
