// Package chunker cuts a stream into content-defined chunks, so that an
// edit in the middle of a snapshot stream changes only the chunks around
// it and every other chunk keeps its name and is not stored again.
//
// The algorithm is FastCDC (Xia et al., USENIX ATC 2016) with normalised
// chunking: a gear hash rolls over the bytes, and a chunk ends where the
// top bits of the hash are zero. Before the normal point a stricter mask
// (more bits) is used and after it a looser one, which squeezes the chunk
// sizes towards the average. No byte before Min is tested and a chunk
// never grows beyond Max.
//
// A reader that knows the structure of its stream may add cut points of
// its own (Cutter): the bytes after such a cut are chunked as if they
// began a stream, so that a piece of the stream gives the same chunks
// whatever comes before it.
//
// The cut points are part of the repository format: the gear table and
// the way Params turn into masks must never change, or the chunks of
// tomorrow's snapshot would no longer match today's. TestBoundariesPinned
// guards them.
package chunker

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Params are the chunk size bounds. The zero Params means Default.
type Params struct {
	Min int // no chunk is shorter, except the last one of a stream or before a Cutter's cut
	Avg int // the target average; must be a power of two
	Max int // no chunk is longer

	// Normalization is the FastCDC normalisation level: the number of mask
	// bits added before the normal point and removed after it. 0 means 2,
	// the level the FastCDC paper recommends.
	Normalization int
}

// Default are the repository's chunk sizes: 512 KiB minimum, about 1 MiB
// on average, 8 MiB maximum.
var Default = Params{Min: 512 << 10, Avg: 1 << 20, Max: 8 << 20, Normalization: 2}

// window is how many bytes the gear hash depends on: each byte is shifted
// out of the 64-bit hash after 64 more.
const window = 64

// Validate says what is wrong with p, if anything.
func (p Params) Validate() error {
	p = p.withDefaults()
	switch {
	case p.Min < window:
		return fmt.Errorf("chunker: minimum size %d is below %d", p.Min, window)
	case p.Avg&(p.Avg-1) != 0:
		return fmt.Errorf("chunker: average size %d is not a power of two", p.Avg)
	case !(p.Min < p.Avg && p.Avg < p.Max):
		return fmt.Errorf("chunker: sizes must be min < avg < max, have %d, %d, %d", p.Min, p.Avg, p.Max)
	case p.Max > 64<<20:
		// A chunk is one blob of a pack, and packs refuse blobs above 64 MiB.
		return fmt.Errorf("chunker: maximum size %d is above 64 MiB", p.Max)
	case p.Normalization < 0:
		return fmt.Errorf("chunker: negative normalization level %d", p.Normalization)
	}
	b := bits.TrailingZeros(uint(p.Avg))
	if b-p.Normalization < 1 || b+p.Normalization > 63 {
		return fmt.Errorf("chunker: normalization level %d is out of range for average %d", p.Normalization, p.Avg)
	}
	return nil
}

func (p Params) withDefaults() Params {
	if p == (Params{}) {
		return Default
	}
	if p.Normalization == 0 {
		p.Normalization = 2
	}
	return p
}

// Chunk is one piece of the stream.
type Chunk struct {
	Data   []byte // the caller's buffer, valid until the next call to Next
	Offset int64  // where Data starts in the stream
}

// A Cutter is a reader that also knows where the stream must be cut,
// whatever its content: the members of a tar stream, say, so that each
// member is chunked from its first byte and gives the same chunks
// wherever it lands in the stream. When the reader given to New is a
// Cutter, no chunk spans one of its cuts, and the bytes after a cut are
// chunked as if they began a stream of their own.
type Cutter interface {
	io.Reader
	// NextCut returns the first cut after stream offset off (> off),
	// false if none is known yet. It is asked only about offsets among
	// the bytes already read, and every cut up to the last byte read
	// must be known by then; off only grows from call to call.
	NextCut(off int64) (int64, bool)
}

// Chunker cuts the bytes of a reader into chunks. It is not safe for
// concurrent use.
type Chunker struct {
	r      io.Reader
	cuts   Cutter // r, when it is one
	p      Params
	maskS  uint64 // before the normal point: harder to match
	maskL  uint64 // after it: easier
	normal int    // where the looser mask takes over

	buf        []byte // 2*Max, so a refill moves at most Max bytes per Max consumed
	start, end int    // the bytes of buf not yet returned
	eof        bool
	off        int64 // stream offset of buf[start]
	err        error // sticky: a bad Params or a read error
}

// New returns a Chunker that reads r. Invalid Params make every call to
// Next fail with the reason.
func New(r io.Reader, p Params) *Chunker {
	c := &Chunker{r: r}
	c.cuts, _ = r.(Cutter)
	if err := p.Validate(); err != nil {
		c.err = err
		return c
	}
	c.p = p.withDefaults()
	b := bits.TrailingZeros(uint(c.p.Avg))
	// The masks test the top bits of the hash: bit 63 depends on the last
	// 64 bytes, where low bits would depend on only a few.
	c.maskS = ^uint64(0) << (64 - (b + c.p.Normalization))
	c.maskL = ^uint64(0) << (64 - (b - c.p.Normalization))
	// After the normal point the expected distance to a cut is
	// 2^(b-Normalization) bytes; placing the normal point that far before
	// Avg puts the mean chunk size near Avg instead of Avg plus that tail.
	c.normal = max(c.p.Avg-1<<(b-c.p.Normalization), c.p.Min)
	return c
}

// Params returns the parameters in use, defaults filled in.
func (c *Chunker) Params() Params { return c.p }

// Next returns the next chunk, its data copied into buf (grown when
// shorter than the chunk: a buf of capacity Max never allocates). At the
// end of the stream it returns io.EOF; an empty stream has no chunks.
func (c *Chunker) Next(buf []byte) (Chunk, error) {
	if c.err != nil {
		return Chunk{}, c.err
	}
	if c.end-c.start < c.p.Max && !c.eof {
		if err := c.fill(); err != nil {
			c.err = err
			return Chunk{}, err
		}
	}
	if c.start == c.end {
		c.err = io.EOF
		return Chunk{}, io.EOF
	}
	data := c.buf[c.start:c.end]
	if c.cuts != nil {
		// Cut there as if the stream ended: data then holds at least Max
		// bytes or all of the segment, as cut wants.
		if at, ok := c.cuts.NextCut(c.off); ok && at > c.off && at-c.off < int64(len(data)) {
			data = data[:at-c.off]
		}
	}
	n := cut(data, c)
	ch := Chunk{Data: append(buf[:0], c.buf[c.start:c.start+n]...), Offset: c.off}
	c.start += n
	c.off += int64(n)
	return ch, nil
}

// fill moves what is left to the front of buf and reads until buf is full
// or the stream ends.
func (c *Chunker) fill() error {
	if c.buf == nil {
		c.buf = make([]byte, 2*c.p.Max)
	}
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	empty := 0
	for c.end < len(c.buf) {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if errors.Is(err, io.EOF) {
			c.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stream at offset %d: %w", c.off+int64(c.end-c.start), err)
		}
		if n == 0 {
			if empty++; empty >= 100 {
				return fmt.Errorf("read stream at offset %d: %w", c.off+int64(c.end), io.ErrNoProgress)
			}
		}
	}
	return nil
}

// cut returns the length of the chunk at the start of data, which holds
// either at least Max bytes or the rest of the stream.
func cut(data []byte, c *Chunker) int {
	n := len(data)
	if n <= c.p.Min {
		return n
	}
	if n > c.p.Max {
		n = c.p.Max
	}
	normal := min(c.normal, n)
	// Warm the hash up on the window before Min, so whether a position
	// cuts depends only on the 64 bytes ending there.
	var fp uint64
	for _, b := range data[c.p.Min-window : c.p.Min] {
		fp = fp<<1 + gear[b]
	}
	maskS, maskL := c.maskS, c.maskL
	for i, b := range data[c.p.Min:normal] {
		fp = fp<<1 + gear[b]
		if fp&maskS == 0 {
			return c.p.Min + i + 1
		}
	}
	for i, b := range data[normal:n] {
		fp = fp<<1 + gear[b]
		if fp&maskL == 0 {
			return normal + i + 1
		}
	}
	return n
}
