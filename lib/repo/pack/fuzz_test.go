package pack

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/ids"
)

// FuzzParseHeader feeds arbitrary bytes to the header parser, as a pack
// and as the tail of a bigger pack: it must never panic, and what it
// accepts must describe blobs that tile the pack.
func FuzzParseHeader(f *testing.F) {
	p, _ := build(f, 0, mixed()...)
	f.Add(p.Data[len(p.Data)-TrailerSize-len(p.Blobs)*EntrySize:], int64(len(p.Data)), false)
	small, _ := build(f, 0, added{DataBlob, []byte("a")}, added{TreeBlob, []byte("bb")})
	f.Add(small.Data, int64(len(small.Data)), false)
	f.Add(small.Data[1:], int64(len(small.Data)), false)
	f.Add(small.Data, int64(len(small.Data)), true)
	f.Add([]byte(Magic), int64(4), false)
	f.Add(make([]byte, TrailerSize), int64(TrailerSize), false)
	// A trailer claiming a huge header.
	huge := make([]byte, TrailerSize)
	binary.LittleEndian.PutUint32(huge[32:], MaxBlobs*EntrySize)
	binary.LittleEndian.PutUint32(huge[36:], MaxBlobs)
	binary.LittleEndian.PutUint16(huge[40:], Version)
	copy(huge[44:], Magic)
	f.Add(huge, int64(1<<40), false)

	f.Fuzz(func(t *testing.T, tail []byte, size int64, fix bool) {
		// With fix, give the input a valid checksum, so the fuzzer gets
		// past it to the entries.
		if fix && len(tail) >= TrailerSize {
			tail = bytes.Clone(tail) // the fuzzer's input is not ours to change
			tr := tail[len(tail)-TrailerSize:]
			if h := int(binary.LittleEndian.Uint32(tr[32:])); h >= 0 && h <= len(tail)-TrailerSize {
				sum := checksum(tail[len(tail)-TrailerSize-h:len(tail)-TrailerSize], tr[ids.Size:])
				copy(tr, sum[:])
			}
		}
		blobs, err := ParseHeader(tail, size)
		if err != nil {
			if !IsCorrupt(err) {
				t.Fatalf("error %v is not a *CorruptError", err)
			}
			return
		}
		end := size - TrailerSize - int64(len(blobs)*EntrySize)
		var off int64
		for _, b := range blobs {
			if b.Offset != off || b.RawLength > MaxBlobSize {
				t.Fatalf("accepted %v at %d", b, off)
			}
			off += int64(b.Length)
		}
		if off != end {
			t.Fatalf("accepted blobs ending at %d, header at %d", off, end)
		}
	})
}

// FuzzDecodeBlob feeds arbitrary stored bytes to the blob decoder under
// an arbitrary header entry: it must never panic nor allocate beyond the
// raw length, and must accept only the bytes that hash to the id.
func FuzzDecodeBlob(f *testing.F) {
	p, _ := build(f, 0, mixed()...)
	for _, b := range p.Blobs {
		if b.Length < 1<<16 {
			f.Add(p.Data[b.Offset:b.Offset+int64(b.Length)], b.RawLength, uint8(b.Compression), b.ID[:])
		}
	}
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, uint32(10), uint8(Zstd), make([]byte, 32))
	f.Fuzz(func(t *testing.T, stored []byte, raw uint32, comp uint8, id []byte) {
		var bid ids.ID
		copy(bid[:], id)
		raw %= 4 << 20 // a bigger claim only costs the fuzzer time: decodeBlob allocates it
		b := Blob{ID: bid, Type: DataBlob, Compression: Compression(comp), Length: uint32(len(stored)), RawLength: raw}
		if checkEntry(b, 0, int64(len(stored))) != nil {
			return
		}
		out, err := decodeBlob(b, stored, nil)
		if err == nil && (ids.Hash(out) != bid || len(out) != int(raw)) {
			t.Fatalf("accepted %d bytes that are not blob %s", len(out), bid)
		}
	})
}
