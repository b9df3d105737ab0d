// Package index maps a chunk id to where it is stored: the pack, the
// offset and length in it, the raw length, type and compression. It
// answers without ever holding all of a repository's records in memory:
// index files are immutable and sorted, and a lookup in one costs its
// fan-out table (read once and kept) plus one small range load.
//
// # Format, version 1
//
// All integers are little-endian. An index file is named by the
// BLAKE3-256 of all its bytes.
//
//	file    = fanout packs records trailer
//	fanout  = 2^F × uint32   fanout[i] = number of records whose id's first
//	                         F bits are <= i (git's .idx trick); F is 8 for
//	                         files under 65536 records, else 16
//	packs   = P × 40 bytes:
//	    0  32  pack id      BLAKE3-256 of the pack: its name
//	   32   8  pack size    uint64, bytes
//	records = N × 52 bytes, sorted by id, no id twice:
//	    0  32  id           BLAKE3-256 of the uncompressed blob
//	   32   4  pack number  uint32, into the pack table
//	   36   4  offset       uint32, where the blob starts in the pack
//	   40   4  length       uint32, bytes stored in the pack
//	   44   4  raw length   uint32, bytes once decompressed
//	   48   1  type         1 data chunk, 2 tree (as in package pack)
//	   49   1  compression  0 none, 1 zstd (as in package pack)
//	   50   2  reserved     zero
//	trailer = 80 bytes, the last of the file:
//	    0   4  N            uint32, number of records
//	    4   4  P            uint32, number of packs
//	    8   1  F            fan-out bits, 8 or 16
//	    9   1  reserved     zero
//	   10   2  version      uint16, 1
//	   12   4  magic        "DRIX"
//	   16  32  head sum     BLAKE3-256 of fanout ‖ packs ‖ trailer[0:16]
//	   48  32  file sum     BLAKE3-256 of every byte before it
//
// The pack table comes before the records so that opening a file is two
// small loads (the trailer, then fanout and packs in one range), and the
// head sum lets that part be trusted without reading the records. The
// file sum covers everything, for `dr-ship check` and for a parser that
// does not know the file's name. A damaged record that a lookup reads is
// caught by the structural checks here (order, bucket, ranges) or, at
// worst, by the BLAKE3 of the blob it points at: a wrong entry is a loud
// error, never wrong data.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// Sizes of the format.
const (
	RecordSize   = 52
	PackSize     = 40
	TrailerSize  = 80
	Version      = 1
	Magic        = "DRIX"
	smallFanout  = 8
	bigFanout    = 16
	bigThreshold = 1 << 16 // files of this many records or more use F=16

	// MaxRecords bounds the records of one file (3.3 GiB of records), so a
	// corrupt trailer cannot make a reader believe in absurd sizes.
	MaxRecords = 1 << 26
	// MaxPacks bounds the pack table (40 MiB), which a reader keeps.
	MaxPacks = 1 << 20
)

// Entry says where a blob is stored.
type Entry struct {
	Pack ids.ID    // the pack's name
	Blob pack.Blob // the blob's id, type, compression and place in the pack
}

func (e Entry) String() string { return e.Blob.String() + " in pack " + e.Pack.String() }

// CorruptError says an index file is not what it must be (exit status 4).
type CorruptError struct {
	File ids.ID // the index file, when known
	Err  error
}

func (e *CorruptError) Error() string {
	if e.File.IsZero() {
		return "corrupt index file: " + e.Err.Error()
	}
	return "corrupt index file " + e.File.String() + ": " + e.Err.Error()
}

func (e *CorruptError) Unwrap() error { return e.Err }

// IsCorrupt reports whether err says an index file is corrupt.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}

// trailer is the decoded fixed part of a file.
type trailer struct {
	n, p int // records, packs
	f    int // fan-out bits
}

func (t trailer) fanoutLen() int64 { return 4 << t.f }
func (t trailer) headLen() int64   { return t.fanoutLen() + int64(t.p)*PackSize }
func (t trailer) size() int64      { return t.headLen() + int64(t.n)*RecordSize + TrailerSize }

func fanoutBits(n int) int {
	if n >= bigThreshold {
		return bigFanout
	}
	return smallFanout
}

// prefix returns the first f bits of id.
func prefix(id ids.ID, f int) int {
	if f == smallFanout {
		return int(id[0])
	}
	return int(id[0])<<8 | int(id[1])
}

// parseTrailer checks the last TrailerSize bytes of a file of size bytes.
func parseTrailer(b []byte, size int64) (trailer, error) {
	if len(b) != TrailerSize || size < TrailerSize {
		return trailer{}, fmt.Errorf("truncated: %d bytes, shorter than the %d-byte trailer", size, TrailerSize)
	}
	if string(b[12:16]) != Magic {
		return trailer{}, fmt.Errorf("truncated or not an index file: no %q magic in the trailer", Magic)
	}
	if v := binary.LittleEndian.Uint16(b[10:]); v != Version {
		return trailer{}, fmt.Errorf("index format version %d is not supported (this version reads %d)", v, Version)
	}
	if b[9] != 0 {
		return trailer{}, fmt.Errorf("reserved trailer byte is not zero")
	}
	t := trailer{
		n: int(binary.LittleEndian.Uint32(b[0:])),
		p: int(binary.LittleEndian.Uint32(b[4:])),
		f: int(b[8]),
	}
	switch {
	case t.n > MaxRecords:
		return trailer{}, fmt.Errorf("%d records is above the %d limit", t.n, MaxRecords)
	case t.p > MaxPacks:
		return trailer{}, fmt.Errorf("%d packs is above the %d limit", t.p, MaxPacks)
	case t.f != fanoutBits(t.n):
		// One F per N, so that a file has exactly one encoding.
		return trailer{}, fmt.Errorf("fan-out of %d bits for %d records, want %d", t.f, t.n, fanoutBits(t.n))
	case t.n > 0 && t.p == 0 || t.n == 0 && t.p > 0:
		return trailer{}, fmt.Errorf("%d records in %d packs", t.n, t.p)
	case t.size() != size:
		return trailer{}, fmt.Errorf("%d records and %d packs make %d bytes, the file has %d", t.n, t.p, t.size(), size)
	}
	return t, nil
}

func appendTrailer(b []byte, t trailer, head []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(t.n))
	b = binary.LittleEndian.AppendUint32(b, uint32(t.p))
	b = append(b, byte(t.f), 0)
	b = binary.LittleEndian.AppendUint16(b, Version)
	b = append(b, Magic...)
	hs := headSum(head, b[start:start+16])
	b = append(b, hs[:]...)
	fs := ids.Hash(b)
	return append(b, fs[:]...)
}

func headSum(head, fixed []byte) ids.ID {
	h := ids.NewHasher()
	h.Write(head)
	h.Write(fixed)
	return h.Sum()
}

// packRef is an entry of the pack table.
type packRef struct {
	id   ids.ID
	size int64
}

// parseHead checks and decodes fanout ‖ packs, given the trailer bytes.
func parseHead(head, tb []byte, t trailer) ([]uint32, []packRef, error) {
	if int64(len(head)) != t.headLen() {
		return nil, nil, fmt.Errorf("head of %d bytes, want %d", len(head), t.headLen())
	}
	if headSum(head, tb[:16]) != ids.ID(tb[16:48]) {
		return nil, nil, fmt.Errorf("head checksum mismatch")
	}
	fanout := make([]uint32, 1<<t.f)
	var last uint32
	for i := range fanout {
		v := binary.LittleEndian.Uint32(head[4*i:])
		if v < last {
			return nil, nil, fmt.Errorf("fan-out decreases at %d", i)
		}
		fanout[i], last = v, v
	}
	if int(last) != t.n {
		return nil, nil, fmt.Errorf("fan-out counts %d records, the trailer %d", last, t.n)
	}
	packs := make([]packRef, t.p)
	for i := range packs {
		e := head[t.fanoutLen()+int64(i)*PackSize:]
		packs[i] = packRef{id: ids.ID(e[:32]), size: int64(binary.LittleEndian.Uint64(e[32:]))}
		if packs[i].size < pack.TrailerSize || packs[i].size > pack.MaxPackSize {
			return nil, nil, fmt.Errorf("pack %s: impossible size %d", packs[i].id, packs[i].size)
		}
	}
	return fanout, packs, nil
}

// parseRecord decodes record number i (in file order) from b and checks
// it against the pack table and the fan-out.
func parseRecord(b []byte, i int, packs []packRef, fanout []uint32, f int) (Entry, error) {
	bl := pack.Blob{
		ID:          ids.ID(b[:32]),
		Offset:      int64(binary.LittleEndian.Uint32(b[36:])),
		Length:      binary.LittleEndian.Uint32(b[40:]),
		RawLength:   binary.LittleEndian.Uint32(b[44:]),
		Type:        pack.BlobType(b[48]),
		Compression: pack.Compression(b[49]),
	}
	pn := binary.LittleEndian.Uint32(b[32:])
	switch {
	case int64(pn) >= int64(len(packs)):
		return Entry{}, fmt.Errorf("record %d: pack number %d of %d", i, pn, len(packs))
	case b[50] != 0 || b[51] != 0:
		return Entry{}, fmt.Errorf("record %d: reserved bytes are not zero", i)
	case bl.Type != pack.DataBlob && bl.Type != pack.TreeBlob:
		return Entry{}, fmt.Errorf("record %d: unknown blob type %d", i, bl.Type)
	case bl.Compression != pack.None && bl.Compression != pack.Zstd:
		return Entry{}, fmt.Errorf("record %d: unknown compression %d", i, bl.Compression)
	case bl.Compression == pack.None && bl.Length != bl.RawLength:
		return Entry{}, fmt.Errorf("record %d: stored raw but length %d differs from raw length %d", i, bl.Length, bl.RawLength)
	case bl.RawLength > pack.MaxBlobSize:
		return Entry{}, fmt.Errorf("record %d: raw length %d is above the %d limit", i, bl.RawLength, pack.MaxBlobSize)
	}
	p := packs[pn]
	if bl.Offset+int64(bl.Length) > p.size-pack.TrailerSize {
		return Entry{}, fmt.Errorf("record %d: %d bytes at %d do not fit pack %s of %d bytes", i, bl.Length, bl.Offset, p.id, p.size)
	}
	// The record must lie in its id's bucket, or a lookup could never
	// find it: that is how a damaged fan-out shows.
	pre := prefix(bl.ID, f)
	lo := uint32(0)
	if pre > 0 {
		lo = fanout[pre-1]
	}
	if uint32(i) < lo || uint32(i) >= fanout[pre] {
		return Entry{}, fmt.Errorf("record %d: id %s is outside its fan-out bucket [%d, %d)", i, bl.ID, lo, fanout[pre])
	}
	return Entry{Pack: p.id, Blob: bl}, nil
}
