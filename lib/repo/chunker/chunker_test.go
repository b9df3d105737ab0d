package chunker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

type piece struct {
	off int64
	n   int
	id  ids.ID
}

func chunkAll(t testing.TB, r io.Reader, p Params) []piece {
	t.Helper()
	c := New(r, p)
	buf := make([]byte, 0, c.Params().Max)
	var out []piece
	var next int64
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Offset != next {
			t.Fatalf("chunk %d at offset %d, want %d", len(out), ch.Offset, next)
		}
		next += int64(len(ch.Data))
		out = append(out, piece{ch.Offset, len(ch.Data), ids.Hash(ch.Data)})
	}
	if _, err := c.Next(buf); err != io.EOF {
		t.Fatalf("Next after the end: %v, want io.EOF", err)
	}
	return out
}

// TestGearTableProvenance regenerates the gear table from the documented
// PRNG (splitmix64, seed "dr-mysql" as a big-endian uint64). The table is
// committed as a literal so no code change can alter it unnoticed.
func TestGearTableProvenance(t *testing.T) {
	state := uint64(0x64722d6d7973716c)
	for i := range gear {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		if gear[i] != z {
			t.Fatalf("gear[%d] = %#x, splitmix64 gives %#x", i, gear[i], z)
		}
	}
}

// TestBoundariesPinned fails when the cut points of a fixed input move.
// If it fails, the change breaks dedup against every existing repository:
// undo it; do not update the constant.
func TestBoundariesPinned(t *testing.T) {
	data := backendtest.Data("dr chunker pinned boundaries v1", 32<<20)
	var list []byte
	pieces := chunkAll(t, bytes.NewReader(data), Default)
	for _, p := range pieces {
		list = binary.LittleEndian.AppendUint64(list, uint64(p.off+int64(p.n)))
	}
	// 34 chunks; the first cuts are at 1544120, 2476832 and 3618535.
	const want = "bd3a4d508c071be030c71f965db6e73f87ed655f6e9ea6995a8097eb34ab4baf"
	if len(pieces) < 3 || pieces[0].n != 1544120 || pieces[1].n != 932712 || pieces[2].n != 1141703 {
		t.Errorf("first chunks moved: %v", pieces[:min(3, len(pieces))])
	}
	if got := ids.Hash(list).String(); got != want {
		for _, p := range pieces {
			t.Logf("cut at %d (+%d)", p.off+int64(p.n), p.n)
		}
		t.Fatalf("%d chunks, boundary list hash %s, want %s", len(pieces), got, want)
	}
}

func TestSizesWithinBounds(t *testing.T) {
	inputs := map[string][]byte{
		"random": backendtest.Data("dr chunker sizes", 48<<20),
		"zeros":  make([]byte, 20<<20+12345),
		"text":   bytes.Repeat([]byte("INSERT INTO `t` VALUES (1,'a'),(2,'b');\n"), 500000),
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			pieces := chunkAll(t, bytes.NewReader(data), Default)
			var total int
			for i, p := range pieces {
				total += p.n
				last := i == len(pieces)-1
				if p.n > Default.Max || p.n < Default.Min && !last || p.n == 0 {
					t.Errorf("chunk %d at %d has %d bytes, outside [%d, %d]", i, p.off, p.n, Default.Min, Default.Max)
				}
			}
			if total != len(data) {
				t.Fatalf("chunks hold %d bytes, input %d", total, len(data))
			}
		})
	}
}

func TestAverageSize(t *testing.T) {
	size := 256 << 20
	if testing.Short() {
		size = 64 << 20
	}
	pieces := chunkAll(t, bytes.NewReader(backendtest.Data("dr chunker average", size)), Default)
	avg := float64(size) / float64(len(pieces)) / (1 << 20)
	t.Logf("%d chunks, average %.3f MiB", len(pieces), avg)
	if avg < 0.85 || avg > 1.2 {
		t.Errorf("average chunk size %.3f MiB, want about 1 MiB", avg)
	}
}

func TestEditChangesOnlyNearbyChunks(t *testing.T) {
	orig := backendtest.Data("dr chunker edits", 64<<20)
	mid := len(orig)/2 + 777
	edits := map[string][]byte{
		"insert": append(append(append([]byte{}, orig[:mid]...), []byte("a few new bytes")...), orig[mid:]...),
		"change": func() []byte {
			b := append([]byte{}, orig...)
			for i := 0; i < 5; i++ {
				b[mid+i] ^= 0x5a
			}
			return b
		}(),
		"delete": append(append([]byte{}, orig[:mid]...), orig[mid+100:]...),
	}
	before := chunkAll(t, bytes.NewReader(orig), Default)
	old := map[ids.ID]bool{}
	for _, p := range before {
		old[p.id] = true
	}
	for name, data := range edits {
		t.Run(name, func(t *testing.T) {
			after := chunkAll(t, bytes.NewReader(data), Default)
			now := map[ids.ID]bool{}
			var added []piece
			for _, p := range after {
				now[p.id] = true
				if !old[p.id] {
					added = append(added, p)
				}
			}
			var lost []piece
			for _, p := range before {
				if !now[p.id] {
					lost = append(lost, p)
				}
			}
			t.Logf("%d chunks before, %d after; %d new, %d gone", len(before), len(after), len(added), len(lost))
			// The chunk holding the edit changes; when the edit moves a cut
			// point past Min or the normal point, its neighbour may too.
			if len(added) == 0 || len(added) > 2 || len(lost) > 2 {
				t.Fatalf("%d new and %d lost chunks for one small edit", len(added), len(lost))
			}
			for _, p := range lost {
				if end := p.off + int64(p.n); end+int64(Default.Max) < int64(mid) || p.off > int64(mid)+int64(Default.Max) {
					t.Errorf("chunk [%d, %d) far from the edit at %d changed", p.off, end, mid)
				}
			}
		})
	}
}

func TestDeterministicAcrossReadSizes(t *testing.T) {
	data := backendtest.Data("dr chunker readers", 20<<20)
	want := chunkAll(t, bytes.NewReader(data), Default)
	for name, r := range map[string]io.Reader{
		"one byte":  iotest.OneByteReader(bytes.NewReader(data[:3<<20])),
		"half":      iotest.HalfReader(bytes.NewReader(data)),
		"data+EOF":  iotest.DataErrReader(bytes.NewReader(data)),
		"odd sizes": &oddReader{data: data},
	} {
		t.Run(name, func(t *testing.T) {
			got := chunkAll(t, r, Default)
			w := want
			if name == "one byte" {
				w = chunkAll(t, bytes.NewReader(data[:3<<20]), Default)
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Fatalf("chunks depend on how the reader splits its reads")
			}
		})
	}
}

// oddReader returns reads of varying, awkward lengths.
type oddReader struct {
	data []byte
	i    int
}

func (r *oddReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.i++
	n := min(len(p), len(r.data), 1+(r.i*7919)%(3<<20))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func TestSmallAndEmpty(t *testing.T) {
	if got := chunkAll(t, bytes.NewReader(nil), Default); len(got) != 0 {
		t.Fatalf("empty stream gave %d chunks", len(got))
	}
	got := chunkAll(t, bytes.NewReader([]byte("tiny")), Default)
	if len(got) != 1 || got[0].n != 4 {
		t.Fatalf("tiny stream gave %v", got)
	}
}

func TestNoAllocationPerChunk(t *testing.T) {
	data := backendtest.Data("dr chunker allocs", 24<<20)
	c := New(bytes.NewReader(data), Default)
	buf := make([]byte, 0, Default.Max)
	c.Next(buf) // allocates the read buffer once
	allocs := testing.AllocsPerRun(1, func() {
		for {
			if _, err := c.Next(buf); err != nil {
				break
			}
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations while chunking with a reused buffer", allocs)
	}
}

func TestReadErrorIsReturned(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(backendtest.Data("x", 3<<20)), iotest.ErrReader(boom))
	c := New(r, Default)
	_, err := c.Next(nil)
	if !errors.Is(err, boom) {
		t.Fatalf("Next = %v, want the read error", err)
	}
	if _, err2 := c.Next(nil); !errors.Is(err2, boom) {
		t.Fatalf("second Next = %v, want the same error", err2)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := (Params{}).Validate(); err != nil {
		t.Fatalf("zero Params: %v", err)
	}
	if New(nil, Params{}).Params() != Default {
		t.Fatalf("zero Params do not mean Default")
	}
	for _, p := range []Params{
		{Min: 32, Avg: 1024, Max: 4096},
		{Min: 512, Avg: 1000, Max: 4096},
		{Min: 2048, Avg: 1024, Max: 4096},
		{Min: 512, Avg: 1024, Max: 1024},
		{Min: 512, Avg: 1 << 20, Max: 2 << 30},
		{Min: 512, Avg: 1024, Max: 4096, Normalization: 10},
	} {
		if p.Validate() == nil {
			t.Errorf("%+v: no error", p)
		}
		if _, err := New(bytes.NewReader([]byte("x")), p).Next(nil); err == nil || err == io.EOF {
			t.Errorf("%+v: Next = %v, want the validation error", p, err)
		}
	}
	small := Params{Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10}
	pieces := chunkAll(t, bytes.NewReader(backendtest.Data("small params", 4<<20)), small)
	for i, p := range pieces[:len(pieces)-1] {
		if p.n < small.Min || p.n > small.Max {
			t.Fatalf("chunk %d: %d bytes outside %+v", i, p.n, small)
		}
	}
	avg := float64(4<<20) / float64(len(pieces))
	if avg < 3.4*1024 || avg > 4.8*1024 {
		t.Errorf("average %.0f bytes with %+v", avg, small)
	}
}

func BenchmarkChunker(b *testing.B) {
	data := backendtest.Data("dr chunker bench", 64<<20)
	buf := make([]byte, 0, Default.Max)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		c := New(bytes.NewReader(data), Default)
		for {
			if _, err := c.Next(buf); err != nil {
				break
			}
		}
	}
}

// BenchmarkCut measures the hashing loop alone, without copies.
func BenchmarkCut(b *testing.B) {
	data := backendtest.Data("dr chunker bench", 64<<20)
	c := New(nil, Default)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for d := data; len(d) > 0; {
			d = d[cut(d, c):]
		}
	}
}

// cutReader is a Cutter that knows a cut only once it has read the bytes
// before it, as a reader parsing the stream would.
type cutReader struct {
	r    io.Reader
	cuts []int64
	read int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

func (c *cutReader) NextCut(off int64) (int64, bool) {
	if off > c.read {
		panic("NextCut asked about bytes not read yet")
	}
	for _, at := range c.cuts {
		if at > off && at <= c.read {
			return at, true
		}
	}
	return 0, false
}

// With a Cutter, each segment between cuts is chunked as if it were a
// stream of its own, whatever comes before it and however reads split.
func TestCutterSegmentsStandAlone(t *testing.T) {
	data := backendtest.Data("dr chunker cuts", 24<<20)
	// Segments of awkward sizes: below Min, between Min and Max, above Max.
	sizes := []int{3 << 20, 100, 700 << 10, 9<<20 + 17, 1, 2 << 20, 0}
	var cuts []int64
	var want []piece
	var off int64
	for _, n := range sizes {
		for _, p := range chunkAll(t, bytes.NewReader(data[off:off+int64(n)]), Default) {
			want = append(want, piece{off + p.off, p.n, p.id})
		}
		off += int64(n)
		cuts = append(cuts, off)
	}
	for _, p := range chunkAll(t, bytes.NewReader(data[off:]), Default) {
		want = append(want, piece{off + p.off, p.n, p.id})
	}
	for name, r := range map[string]func() io.Reader{
		"whole":     func() io.Reader { return bytes.NewReader(data) },
		"half":      func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"odd sizes": func() io.Reader { return &oddReader{data: data} },
	} {
		t.Run(name, func(t *testing.T) {
			got := chunkAll(t, &cutReader{r: r(), cuts: cuts}, Default)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %d chunks %v\nwant %d %v", len(got), got, len(want), want)
			}
		})
	}
}
