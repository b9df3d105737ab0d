package pack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/klauspost/compress/zstd"
)

var decoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	// The cap limit makes DecodeAll stop at the raw length the header
	// promises, so a hostile frame cannot make us allocate more.
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(MaxBlobSize))
})

// scratch holds stored (compressed) blob bytes between the load and the
// decompression.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// Handle is the backend handle of pack id.
func Handle(id ids.ID) backend.Handle {
	return backend.Handle{Type: backend.Pack, Name: id.String()}
}

// headGuess is how many header entries the first load fetches along with
// the trailer: a 16 MiB pack of 1 MiB chunks has 10 to 40 blobs, so one
// load usually suffices and a bigger header takes a second one.
const headGuess = 64

// Reader reads blobs of one pack.
type Reader struct {
	be    backend.Backend
	id    ids.ID
	size  int64
	blobs []Blob
}

// NewReader reads the header of pack id, which has size bytes (size < 0:
// ask the backend). It costs one or two range loads.
func NewReader(ctx context.Context, be backend.Backend, id ids.ID, size int64) (*Reader, error) {
	if size < 0 {
		fi, err := be.Stat(ctx, Handle(id))
		if err != nil {
			return nil, err
		}
		size = fi.Size
	}
	blobs, err := ReadHeader(ctx, be, id, size)
	if err != nil {
		return nil, err
	}
	return &Reader{be: be, id: id, size: size, blobs: blobs}, nil
}

// ID returns the pack's name.
func (r *Reader) ID() ids.ID { return r.id }

// Size returns the pack's size in bytes.
func (r *Reader) Size() int64 { return r.size }

// Blobs returns the pack's header, in blob order.
func (r *Reader) Blobs() []Blob { return r.blobs }

// LoadBlob loads, decompresses and verifies one blob; see LoadBlob.
func (r *Reader) LoadBlob(ctx context.Context, b Blob, buf []byte) ([]byte, error) {
	return LoadBlob(ctx, r.be, r.id, b, buf)
}

// ReadHeader returns the blobs of pack id of size bytes, from the end of
// the pack: the trailer and up to headGuess entries in one range load,
// the rest of a bigger header in a second.
func ReadHeader(ctx context.Context, be backend.Backend, id ids.ID, size int64) ([]Blob, error) {
	n := min(size, TrailerSize+headGuess*EntrySize)
	if n <= 0 {
		return nil, &CorruptError{Pack: id, Err: fmt.Errorf("truncated: %d bytes, shorter than the %d-byte trailer", size, TrailerSize)}
	}
	tail, err := loadRange(ctx, be, id, size-n, int(n))
	if err != nil {
		return nil, err
	}
	hlen, err := headerLength(tail, size)
	if err != nil {
		return nil, &CorruptError{Pack: id, Err: err}
	}
	if need := hlen + TrailerSize; need > len(tail) {
		if tail, err = loadRange(ctx, be, id, size-int64(need), need); err != nil {
			return nil, err
		}
	}
	blobs, err := parseHeader(tail, size)
	if err != nil {
		return nil, &CorruptError{Pack: id, Err: err}
	}
	return blobs, nil
}

// loadRange reads length bytes at offset. A range past the end means the
// pack is shorter than its header or index says: corrupt, not an I/O
// failure a retry would cure.
func loadRange(ctx context.Context, be backend.Backend, id ids.ID, offset int64, length int) ([]byte, error) {
	b, err := backend.ReadRange(ctx, be, Handle(id), offset, length)
	if errors.Is(err, backend.ErrShortObject) {
		return nil, &CorruptError{Pack: id, Err: fmt.Errorf("truncated: %w", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("read pack %s: %w", id, err)
	}
	return b, nil
}

// LoadBlob loads blob b of pack id with one range load, decompresses it
// into buf (grown when too small) and checks it against its id. b comes
// from the pack's header or from an index, so a chunk is read without
// reading any header. A blob that is not what b says is a *CorruptError
// naming the blob and the pack.
func LoadBlob(ctx context.Context, be backend.Backend, id ids.ID, b Blob, buf []byte) ([]byte, error) {
	if b.Offset < 0 {
		return nil, &CorruptError{Pack: id, Blob: b.ID, Err: fmt.Errorf("negative offset %d", b.Offset)}
	}
	if err := checkEntry(b, b.Offset, b.Offset+int64(b.Length)); err != nil {
		return nil, &CorruptError{Pack: id, Blob: b.ID, Err: err}
	}
	var stored []byte
	if b.Compression == None {
		stored = grow(buf, int(b.RawLength))
	} else {
		sp := scratch.Get().(*[]byte)
		defer scratch.Put(sp)
		*sp = grow(*sp, int(b.Length))
		stored = *sp
	}
	if len(stored) > 0 { // Load's length 0 means "to the end"
		called := false
		err := be.Load(ctx, Handle(id), len(stored), b.Offset, func(rd io.Reader) error {
			called = true
			_, err := io.ReadFull(rd, stored)
			return err
		})
		if err != nil && !called && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &CorruptError{Pack: id, Blob: b.ID, Err: fmt.Errorf("truncated pack: %w", err)}
		}
		if err != nil {
			return nil, fmt.Errorf("read blob %s of pack %s: %w", b.ID, id, err)
		}
	}
	out, err := decodeBlob(b, stored, buf)
	if err != nil {
		return nil, &CorruptError{Pack: id, Blob: b.ID, Err: err}
	}
	return out, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// decodeBlob turns the stored bytes of b into its data, in buf when it
// is big enough, and checks the result against b.ID.
func decodeBlob(b Blob, stored, buf []byte) ([]byte, error) {
	out := stored
	if b.Compression == Zstd {
		dec, err := decoder()
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if cap(buf) < int(b.RawLength) {
			buf = make([]byte, 0, b.RawLength)
		}
		out, err = dec.DecodeAll(stored, buf[:0:b.RawLength])
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		if len(out) != int(b.RawLength) {
			return nil, fmt.Errorf("decompresses to %d bytes, want %d", len(out), b.RawLength)
		}
	}
	if got := ids.Hash(out); got != b.ID {
		return nil, fmt.Errorf("content does not match its id (it hashes to %s)", got)
	}
	return out, nil
}

// Verify reads all of pack id (size < 0: ask the backend) and checks
// everything: the trailer and header, every blob against its id, and the
// pack against its name. It reads the pack in one pass, holding one blob
// at a time. Each corrupt blob gives its own *CorruptError; the errors
// are joined.
func Verify(ctx context.Context, be backend.Backend, id ids.ID, size int64) error {
	r, err := NewReader(ctx, be, id, size)
	if err != nil {
		return err
	}
	var errs []error
	called := false
	err = be.Load(ctx, Handle(id), 0, 0, func(rd io.Reader) error {
		called = true
		h := ids.NewHasher()
		tee := io.TeeReader(rd, h)
		var stored, out []byte
		for _, b := range r.blobs {
			stored = grow(stored, int(b.Length))
			if _, err := io.ReadFull(tee, stored); err != nil {
				return err
			}
			o, err := decodeBlob(b, stored, out)
			if err != nil {
				errs = append(errs, &CorruptError{Pack: id, Blob: b.ID, Err: err})
				continue
			}
			if b.Compression == Zstd {
				out = o // keep the decompression buffer for the next blob
			}
		}
		n, err := io.Copy(h, rd)
		if err != nil {
			return err
		}
		if n != int64(len(r.blobs))*EntrySize+TrailerSize {
			return &CorruptError{Pack: id, Err: fmt.Errorf("size changed while reading")}
		}
		if len(errs) == 0 && h.Sum() != id {
			errs = append(errs, &CorruptError{Pack: id, Err: fmt.Errorf("content does not match its name (it hashes to %s)", h.Sum())})
		}
		return nil
	})
	if err != nil && !called && errors.Is(err, io.ErrUnexpectedEOF) {
		return &CorruptError{Pack: id, Err: fmt.Errorf("truncated: %w", err)}
	}
	if err != nil {
		if IsCorrupt(err) {
			return err
		}
		return fmt.Errorf("read pack %s: %w", id, err)
	}
	return errors.Join(errs...)
}
