package ship

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/chunker"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/snapfmt"
)

// Small chunks, so that members of a few hundred KiB hold several.
var testChunks = chunker.Params{Min: 16 << 10, Avg: 32 << 10, Max: 256 << 10, Normalization: 2}

type testMember struct {
	m    snapfmt.Member
	data []byte
	rows int64
}

// testSnapshot returns the manifest and members of a snapshot with six
// tables: four with data members bigger than testChunks.Min, one with a
// small one and one empty, each member's bytes fixed by its name.
func testSnapshot() (*snapfmt.Manifest, [][]testMember) {
	man := &snapfmt.Manifest{Tool: "test", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Source: snapfmt.Source{ServerID: 1, Flavor: "mariadb"}, Binlog: snapfmt.BinlogPos{File: "b.000001", Pos: 4}}
	db := snapfmt.Database{Name: "db"}
	var tables [][]testMember
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("t%d", i)
		db.Tables = append(db.Tables, snapfmt.Table{Name: name, Engine: "InnoDB"})
		ms := []testMember{{m: snapfmt.Member{Kind: snapfmt.KindTable, DB: "db", Table: name},
			data: []byte("CREATE TABLE `" + name + "` (id int primary key, v text);\n")}}
		var sizes []int
		switch {
		case i <= 4:
			sizes = []int{300<<10 + i*1000, 200<<10 + i*77, 40<<10 + i}
		case i == 5:
			sizes = []int{2000}
		}
		for seq, n := range sizes {
			m := snapfmt.Member{Kind: snapfmt.KindData, DB: "db", Table: name, Seq: seq + 1}
			mn, _ := m.Name()
			ms = append(ms, testMember{m: m, data: backendtest.Data(mn, n), rows: 1})
		}
		tables = append(tables, ms)
	}
	man.Databases = []snapfmt.Database{db}
	return man, tables
}

// writeSnapshot writes the tables' members interleaved as the goroutines
// of dr-snap might: rng picks which table goes on; each table's members
// keep their order.
func writeSnapshot(t *testing.T, man *snapfmt.Manifest, tables [][]testMember, rng *rand.Rand, opt ...snapfmt.WriterOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := snapfmt.NewWriter(&buf, man, append(opt, snapfmt.WriterOptions{})[0])
	if err != nil {
		t.Fatal(err)
	}
	add := func(tm testMember) {
		if err := w.Add(tm.m, tm.data, tm.rows); err != nil {
			t.Fatal(err)
		}
	}
	add(testMember{m: snapfmt.Member{Kind: snapfmt.KindDatabase, DB: "db"}, data: []byte("CREATE DATABASE db;\n")})
	left := make([][]testMember, len(tables))
	copy(left, tables)
	for {
		var open []int
		for i, ms := range left {
			if len(ms) > 0 {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			break
		}
		i := open[0]
		if rng != nil {
			i = open[rng.IntN(len(open))]
		}
		add(left[i][0])
		left[i] = left[i][1:]
	}
	if err := w.Close(&snapfmt.Sums{Finished: man.Created}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type testChunk struct {
	off int64
	n   int
	id  ids.ID
}

func chunkStream(t *testing.T, r io.Reader) []testChunk {
	t.Helper()
	c := chunker.New(r, testChunks)
	buf := make([]byte, 0, testChunks.Max)
	var out []testChunk
	for {
		ch, err := c.Next(buf)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testChunk{ch.Offset, len(ch.Data), ids.Hash(ch.Data)})
	}
}

// bigSpans returns the spans of the members of at least min bytes.
func bigSpans(t *testing.T, stream []byte) []snapfmt.Span {
	var out []snapfmt.Span
	io.Copy(io.Discard, snapfmt.NewSpanReader(bytes.NewReader(stream), func(s snapfmt.Span) {
		if s.Size >= int64(testChunks.Min) {
			out = append(out, s)
		}
	}))
	return out
}

// Two streams with the same members in another order share every chunk
// of the big members' content; the chunks they do not share hold only
// tar headers and small members.
func TestMemberCutsIgnoreOrder(t *testing.T) {
	man, tables := testSnapshot()
	a := writeSnapshot(t, man, tables, nil)
	b := writeSnapshot(t, man, tables, rand.New(rand.NewPCG(7, 8)))
	if bytes.Equal(a, b) || len(a) != len(b) {
		t.Fatal("the two streams should differ in order only")
	}
	ca := chunkStream(t, newMemberCuts(bytes.NewReader(a), testChunks.Min))
	cb := chunkStream(t, newMemberCuts(bytes.NewReader(b), testChunks.Min))
	have := map[ids.ID]bool{}
	for _, c := range ca {
		have[c.id] = true
	}
	spans := bigSpans(t, b)
	if len(spans) != 12 {
		t.Fatalf("%d big members, want 12", len(spans))
	}
	var newBytes, content int
	for _, c := range cb {
		inside := false
		for _, s := range spans {
			if c.off >= s.Data && c.off+int64(c.n) <= s.End() {
				inside = true
				content++
			} else if c.off < s.End() && c.off+int64(c.n) > s.Data {
				t.Errorf("chunk at %d+%d straddles the content of %s (%d-%d)", c.off, c.n, s.Name, s.Data, s.End())
			}
		}
		if have[c.id] {
			continue
		}
		if inside {
			t.Errorf("chunk at %d+%d, inside a big member, is not in the other stream", c.off, c.n)
		}
		newBytes += c.n
	}
	if content < 2*len(spans) {
		t.Errorf("only %d chunks inside the big members", content)
	}
	// What differs: headers, the small members and SUMS.json.
	if newBytes > 40<<10 {
		t.Errorf("%d bytes in chunks the other stream lacks", newBytes)
	}

	// Plain content-defined chunking, for comparison.
	plain := map[ids.ID]bool{}
	for _, c := range chunkStream(t, bytes.NewReader(a)) {
		plain[c.id] = true
	}
	plainNew := 0
	for _, c := range chunkStream(t, bytes.NewReader(b)) {
		if !plain[c.id] {
			plainNew += c.n
		}
	}
	t.Logf("stream %d bytes: %d new bytes cut at members, %d cut by content alone", len(b), newBytes, plainNew)
}

// The same through a repository, as dr-ship put stores a stream: the
// second order adds only the bytes around the headers; a gzip stream is
// cut by content alone and comes back whole.
func TestMemberCutsPut(t *testing.T) {
	ctx := context.Background()
	r, err := repo.Init(ctx, mem.New(), repo.Options{Chunker: testChunks})
	if err != nil {
		t.Fatal(err)
	}
	man, tables := testSnapshot()
	a := writeSnapshot(t, man, tables, nil)
	b := writeSnapshot(t, man, tables, rand.New(rand.NewPCG(1, 2)))
	if _, _, err := r.StoreStream(ctx, newMemberCuts(bytes.NewReader(a), r.Config().Chunker.Min), nil); err != nil {
		t.Fatal(err)
	}
	m, stats, err := r.StoreStream(ctx, newMemberCuts(bytes.NewReader(b), r.Config().Chunker.Min), nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.NewBytes > 40<<10 || stats.Bytes != int64(len(b)) {
		t.Errorf("second order added %d of %d bytes", stats.NewBytes, stats.Bytes)
	}
	id, err := r.SaveSnapshot(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := r.GetStream(ctx, id, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), b) {
		t.Error("the stream came back changed")
	}

	gz := writeSnapshot(t, man, tables, nil, snapfmt.WriterOptions{Compress: true})
	mc := newMemberCuts(bytes.NewReader(gz), testChunks.Min)
	if n, _ := io.Copy(io.Discard, mc); n != int64(len(gz)) || len(gz) < 1<<20 {
		t.Fatalf("read %d of %d bytes", n, len(gz))
	}
	if len(mc.cuts) != 0 {
		t.Errorf("cuts in a gzip stream: %v", mc.cuts)
	}
}
