// Package pack stores many chunks in one object, so a repository of
// terabytes holds tens of thousands of objects rather than millions.
//
// A pack is self-describing: it ends with a header listing its blobs and
// a fixed-size trailer, so `dr-ship check` can verify any pack on its own
// and an index can be rebuilt from the packs alone.
//
// # Format, version 1
//
// All integers are little-endian.
//
//	pack    = blob* header trailer
//	blob    = the chunk, compressed with zstd or stored raw
//	header  = entry*                       (one per blob, in blob order)
//	entry   = 52 bytes:
//	    0  32  id           BLAKE3-256 of the uncompressed blob
//	   32   8  offset       uint64, where the blob starts in the pack
//	   40   4  length       uint32, bytes stored in the pack
//	   44   4  raw length   uint32, bytes once decompressed
//	   48   1  type         1 data chunk, 2 tree (metadata)
//	   49   1  compression  0 none, 1 zstd (one frame, content size set)
//	   50   2  reserved     zero
//	trailer = 48 bytes, the last of the pack:
//	    0  32  checksum     BLAKE3-256 of header ‖ trailer[32:48]
//	   32   4  header length  uint32, 52 × count
//	   36   4  count        uint32, number of blobs
//	   40   2  version      uint16, 1
//	   42   2  reserved     zero
//	   44   4  magic        "DRPK"
//
// Blobs are contiguous from offset 0: each offset is the sum of the
// lengths before it, and the blobs end where the header starts. The
// checksum covers every byte after the blobs, and each blob is checked
// against its id after decompression, so any changed byte is detected.
// The pack's name is the BLAKE3-256 of all its bytes.
package pack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dr-mysql/dr/lib/repo/ids"
)

// Sizes of the format.
const (
	EntrySize   = 52
	TrailerSize = 48
	Version     = 1
	Magic       = "DRPK"

	// MaxBlobSize bounds a blob's raw length, so a corrupt header can never
	// make a reader allocate more. It is well above the chunker's 8 MiB.
	MaxBlobSize = 64 << 20
	// MaxBlobs bounds the blobs of one pack (a header of 52 MiB).
	MaxBlobs = 1 << 20
	// MaxPackSize bounds what a Writer builds, so that an index can hold
	// offsets in 32 bits. The format itself has 64-bit offsets.
	MaxPackSize = 1<<32 - 1
)

// BlobType says what a blob holds.
type BlobType uint8

const (
	DataBlob BlobType = 1 // a chunk of a stream or a file
	TreeBlob BlobType = 2 // metadata, such as a directory listing of a tree
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// Compression says how a blob is stored.
type Compression uint8

const (
	None Compression = 0 // stored as is: compression did not help
	Zstd Compression = 1 // one zstd frame
)

func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// Blob is an entry of a pack header: what a blob is and where it lies.
// An index holds the same facts so that a chunk can be read without
// reading its pack's header.
type Blob struct {
	ID          ids.ID
	Type        BlobType
	Compression Compression
	Offset      int64  // in the pack
	Length      uint32 // stored bytes
	RawLength   uint32 // bytes once decompressed
}

func (b Blob) String() string {
	return fmt.Sprintf("%s blob %s (%d bytes at %d, %s, %d raw)", b.Type, b.ID, b.Length, b.Offset, b.Compression, b.RawLength)
}

// CorruptError says a pack or one of its blobs is not what it must be
// (exit status 4).
type CorruptError struct {
	Pack ids.ID // the pack, when known
	Blob ids.ID // zero when the pack as a whole is wrong
	Err  error
}

func (e *CorruptError) Error() string {
	s := "corrupt pack " + e.Pack.String()
	if e.Pack.IsZero() {
		s = "corrupt pack"
	}
	if !e.Blob.IsZero() {
		s += ": blob " + e.Blob.String()
	}
	return s + ": " + e.Err.Error()
}

func (e *CorruptError) Unwrap() error { return e.Err }

// IsCorrupt reports whether err says a pack is corrupt.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}

func appendEntry(b []byte, bl Blob) []byte {
	b = append(b, bl.ID[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(bl.Offset))
	b = binary.LittleEndian.AppendUint32(b, bl.Length)
	b = binary.LittleEndian.AppendUint32(b, bl.RawLength)
	return append(b, byte(bl.Type), byte(bl.Compression), 0, 0)
}

// appendTrailer appends the trailer of header, which must already be the
// tail of b.
func appendTrailer(b []byte, header []byte, count int) []byte {
	var tail [TrailerSize - ids.Size]byte
	binary.LittleEndian.PutUint32(tail[0:], uint32(len(header)))
	binary.LittleEndian.PutUint32(tail[4:], uint32(count))
	binary.LittleEndian.PutUint16(tail[8:], Version)
	copy(tail[12:], Magic)
	sum := checksum(header, tail[:])
	b = append(b, sum[:]...)
	return append(b, tail[:]...)
}

func checksum(header, tail []byte) ids.ID {
	h := ids.NewHasher()
	h.Write(header)
	h.Write(tail)
	return h.Sum()
}

// headerLength reads the trailer (the last TrailerSize bytes of tail) of
// a pack of packSize bytes and returns the length of its header.
func headerLength(tail []byte, packSize int64) (int, error) {
	if packSize < TrailerSize || len(tail) < TrailerSize {
		return 0, fmt.Errorf("truncated: %d bytes, shorter than the %d-byte trailer", packSize, TrailerSize)
	}
	t := tail[len(tail)-TrailerSize:]
	if string(t[44:48]) != Magic {
		return 0, fmt.Errorf("truncated or not a pack: no %q magic in the last bytes", Magic)
	}
	if v := binary.LittleEndian.Uint16(t[40:]); v != Version {
		return 0, fmt.Errorf("pack format version %d is not supported (this version reads %d)", v, Version)
	}
	if t[42] != 0 || t[43] != 0 {
		return 0, fmt.Errorf("reserved trailer bytes are not zero")
	}
	hlen := int64(binary.LittleEndian.Uint32(t[32:]))
	count := int64(binary.LittleEndian.Uint32(t[36:]))
	if count > MaxBlobs || hlen != count*EntrySize {
		return 0, fmt.Errorf("header of %d bytes cannot hold %d blobs", hlen, count)
	}
	if hlen > packSize-TrailerSize {
		return 0, fmt.Errorf("truncated: header of %d bytes does not fit a %d-byte pack", hlen, packSize)
	}
	return int(hlen), nil
}

// ParseHeader returns the blobs of a pack of packSize bytes given its
// last bytes: tail must hold at least the header and the trailer (more is
// fine). It checks the trailer, the header checksum and that the blobs
// tile the pack exactly. Errors are *CorruptError with no pack id, since
// the caller knows the name.
func ParseHeader(tail []byte, packSize int64) ([]Blob, error) {
	blobs, err := parseHeader(tail, packSize)
	if err != nil {
		return nil, &CorruptError{Err: err}
	}
	return blobs, nil
}

func parseHeader(tail []byte, packSize int64) ([]Blob, error) {
	if int64(len(tail)) > packSize {
		return nil, fmt.Errorf("%d bytes of tail for a %d-byte pack", len(tail), packSize)
	}
	hlen, err := headerLength(tail, packSize)
	if err != nil {
		return nil, err
	}
	if len(tail) < hlen+TrailerSize {
		return nil, fmt.Errorf("header of %d bytes: only %d bytes given", hlen, len(tail)-TrailerSize)
	}
	t := tail[len(tail)-TrailerSize:]
	header := tail[len(tail)-TrailerSize-hlen : len(tail)-TrailerSize]
	if sum := checksum(header, t[ids.Size:]); sum != ids.ID(t[:ids.Size]) {
		return nil, fmt.Errorf("header checksum mismatch")
	}
	end := packSize - TrailerSize - int64(hlen) // where the blobs must end
	blobs := make([]Blob, 0, hlen/EntrySize)
	var off int64
	for e := header; len(e) > 0; e = e[EntrySize:] {
		b := Blob{
			ID:          ids.ID(e[:32]),
			Offset:      int64(binary.LittleEndian.Uint64(e[32:])),
			Length:      binary.LittleEndian.Uint32(e[40:]),
			RawLength:   binary.LittleEndian.Uint32(e[44:]),
			Type:        BlobType(e[48]),
			Compression: Compression(e[49]),
		}
		if err := checkEntry(b, off, end); err != nil {
			return nil, fmt.Errorf("header entry %d: %w", len(blobs), err)
		}
		off += int64(b.Length)
		blobs = append(blobs, b)
		if e[50] != 0 || e[51] != 0 {
			return nil, fmt.Errorf("header entry %d: reserved bytes are not zero", len(blobs)-1)
		}
	}
	if off != end {
		return nil, fmt.Errorf("blobs end at %d, the header starts at %d", off, end)
	}
	return blobs, nil
}

// checkEntry checks what an entry says against the pack it is in: the
// blob starts at off and must end by end.
func checkEntry(b Blob, off, end int64) error {
	switch {
	case b.Type != DataBlob && b.Type != TreeBlob:
		return fmt.Errorf("blob %s: unknown type %d", b.ID, b.Type)
	case b.Offset != off:
		return fmt.Errorf("blob %s at offset %d, want %d", b.ID, b.Offset, off)
	case int64(b.Length) > end-off:
		return fmt.Errorf("blob %s: %d bytes at %d run past the blobs' end at %d", b.ID, b.Length, off, end)
	case b.RawLength > MaxBlobSize:
		return fmt.Errorf("blob %s: raw length %d is above the %d limit", b.ID, b.RawLength, MaxBlobSize)
	}
	switch b.Compression {
	case None:
		if b.Length != b.RawLength {
			return fmt.Errorf("blob %s: stored raw but length %d differs from raw length %d", b.ID, b.Length, b.RawLength)
		}
	case Zstd:
		if b.Length == 0 {
			return fmt.Errorf("blob %s: empty zstd frame", b.ID)
		}
	default:
		return fmt.Errorf("blob %s: unknown compression %d", b.ID, b.Compression)
	}
	return nil
}
