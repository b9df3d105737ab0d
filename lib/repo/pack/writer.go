package pack

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/dr-mysql/dr/lib/repo/backend"

	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/klauspost/compress/zstd"
)

// DefaultTargetSize is the pack size a Writer aims for: big enough that a
// terabyte is some 60,000 objects, small enough that a pack is built in
// memory and uploaded in one request.
const DefaultTargetSize = 16 << 20

// A blob is stored raw unless zstd makes it at least 1/rawThreshold
// smaller: a few percent is not worth decompressing on every get.
const rawThreshold = 32

var encoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	// The fastest level keeps up with the chunker; BLAKE3 ids make zstd's
	// own checksum redundant.
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false))
})

// Writer builds one pack in memory. It is not safe for concurrent use;
// run one Writer per goroutine to compress in parallel.
type Writer struct {
	target int
	buf    []byte
	blobs  []Blob
	seen   map[ids.ID]bool
	done   bool // Finish was called: Reset before adding again
}

// NewWriter returns a Writer aiming for packs of target bytes
// (DefaultTargetSize when target <= 0).
func NewWriter(target int) *Writer {
	if target <= 0 {
		target = DefaultTargetSize
	}
	target = min(target, MaxPackSize)
	return &Writer{target: target, seen: map[ids.ID]bool{}}
}

// Add compresses data and appends it as a blob of type t. id must be
// ids.Hash(data): the caller has it already, from deciding whether the
// chunk is new, and hashing again would cost as much as the chunking. A
// wrong id is caught when the blob is read, as corruption.
//
// Add does not refuse a blob that takes the pack past its target: call
// Full after each Add and Finish when it says so.
func (w *Writer) Add(t BlobType, id ids.ID, data []byte) (Blob, error) {
	if w.done {
		return Blob{}, fmt.Errorf("pack: add blob %s: pack already finished", id)
	}
	if t != DataBlob && t != TreeBlob {
		return Blob{}, fmt.Errorf("pack: add blob %s: unknown type %d", id, t)
	}
	if len(data) > MaxBlobSize {
		return Blob{}, fmt.Errorf("pack: add blob %s: %d bytes is above the %d limit", id, len(data), MaxBlobSize)
	}
	if len(w.blobs) >= MaxBlobs {
		return Blob{}, fmt.Errorf("pack: add blob %s: pack already holds %d blobs", id, len(w.blobs))
	}
	if w.Size()+EntrySize+len(data) > MaxPackSize {
		return Blob{}, fmt.Errorf("pack: add blob %s: pack would pass %d bytes", id, MaxPackSize)
	}
	if w.seen[id] {
		return Blob{}, fmt.Errorf("pack: add blob %s: already in this pack", id)
	}
	enc, err := encoder()
	if err != nil {
		return Blob{}, fmt.Errorf("pack: zstd: %w", err)
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, w.target+w.target/8)
	}
	start := len(w.buf)
	b := Blob{ID: id, Type: t, Compression: Zstd, Offset: int64(start), RawLength: uint32(len(data))}
	// Compress straight into the pack; take it back if it did not help.
	w.buf = enc.EncodeAll(data, w.buf)
	if n := len(w.buf) - start; len(data) == 0 || n > len(data)-len(data)/rawThreshold {
		w.buf = append(w.buf[:start], data...)
		b.Compression = None
	}
	b.Length = uint32(len(w.buf) - start)
	w.blobs = append(w.blobs, b)
	w.seen[id] = true
	return b, nil
}

// Has reports whether the pack being built holds id.
func (w *Writer) Has(id ids.ID) bool { return w.seen[id] }

// Count returns the number of blobs added.
func (w *Writer) Count() int { return len(w.blobs) }

// Size returns the size the pack would have if finished now.
func (w *Writer) Size() int {
	if w.done {
		return len(w.buf)
	}
	return len(w.buf) + EntrySize*len(w.blobs) + TrailerSize
}

// Full reports whether the pack has reached its target size.
func (w *Writer) Full() bool { return w.Size() >= w.target }

// Finished is a complete pack, ready to Save under Handle(ID).
type Finished struct {
	ID    ids.ID // BLAKE3 of Data: the pack's name
	Data  []byte // the whole pack; owned by the Writer until Reset
	Blobs []Blob // its header, for the index
}

// Finish appends the header and trailer and names the pack. The Writer
// must not be used again until Reset. Finishing an empty Writer is an
// error: an empty pack is never worth an object.
func (w *Writer) Finish() (Finished, error) {
	if w.done {
		return Finished{}, fmt.Errorf("pack: finish: already finished")
	}
	if len(w.blobs) == 0 {
		return Finished{}, fmt.Errorf("pack: finish: no blobs")
	}
	w.done = true
	hstart := len(w.buf)
	for _, b := range w.blobs {
		w.buf = appendEntry(w.buf, b)
	}
	w.buf = appendTrailer(w.buf, w.buf[hstart:], len(w.blobs))
	return Finished{ID: ids.Hash(w.buf), Data: w.buf, Blobs: w.blobs}, nil
}

// Reset empties the Writer to build another pack in the same memory. The
// Data and Blobs of the last Finished are overwritten.
func (w *Writer) Reset() {
	w.buf = w.buf[:0]
	w.blobs = w.blobs[:0]
	clear(w.seen)
	w.done = false
}

// Save stores f under its name. A pack of that name already stored is
// success: the name is the hash of the bytes, so it holds the same ones
// (two puts that built the same pack, or a put retried after a crash).
func Save(ctx context.Context, be backend.Backend, f Finished) error {
	err := be.Save(ctx, Handle(f.ID), bytes.NewReader(f.Data), int64(len(f.Data)))
	if backend.IsExists(err) {
		return nil
	}
	return err
}
