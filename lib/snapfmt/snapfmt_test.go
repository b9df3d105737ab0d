package snapfmt

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	for _, compress := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			t.Run(fmt.Sprintf("compress=%v/streaming=%v", compress, streaming), func(t *testing.T) {
				m, es := sample()
				stream := write(t, WriterOptions{Compress: compress}, m, es)
				if got := len(stream) > 2 && stream[0] == 0x1f && stream[1] == 0x8b; got != compress {
					t.Fatalf("gzip magic present = %v, want %v", got, compress)
				}
				r, got, err := readAll(stream, streaming)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(r.Manifest(), m) {
					t.Errorf("manifest:\n got %+v\nwant %+v", r.Manifest(), m)
				}
				if len(got) != len(es) {
					t.Fatalf("read %d members, wrote %d", len(got), len(es))
				}
				for i := range es {
					if got[i].m != es[i].m || !bytes.Equal(got[i].data, es[i].data) || got[i].rows != es[i].rows {
						t.Errorf("member %d: got %v (%d bytes, %d rows), want %v (%d bytes, %d rows)",
							i, got[i].m, len(got[i].data), got[i].rows, es[i].m, len(es[i].data), es[i].rows)
					}
				}
				s := r.Sums()
				if s == nil || len(s.Members) != len(es) || s.LockTime != testSums.LockTime || !s.Finished.Equal(testSums.Finished) {
					t.Fatalf("sums: %+v", s)
				}
				var rows int64
				for _, e := range es {
					rows += e.rows
				}
				if s.Totals.Rows != rows || s.Totals.Members != len(es) {
					t.Errorf("totals %+v, want %d rows", s.Totals, rows)
				}
				// io.EOF stays.
				if _, _, err := r.Next(); err != io.EOF {
					t.Errorf("Next after the end: %v", err)
				}
			})
		}
	}
}

// A caller may read part of a member, or none, and move on: Next
// verifies the rest.
func TestSkipUnread(t *testing.T) {
	m, es := sample()
	stream := write(t, WriterOptions{}, m, es)
	r, err := NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, rd, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n%2 == 0 {
			rd.Read(make([]byte, 3))
		}
		n++
	}
	if n != len(es) || r.Sums() == nil {
		t.Fatalf("read %d of %d members", n, len(es))
	}

	// A corrupt member left unread is still found.
	start, end := entrySpan(t, stream, "shop/orders/data-000002.sql")
	i := end - 600 // inside the data, before its padding
	if i < start+1536 {
		t.Fatal("test member too small")
	}
	bad := bytes.Clone(stream)
	bad[i] ^= 1
	r, err = NewReader(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err = r.Next()
		if err != nil {
			break
		}
	}
	if fe := mustFormatError(t, err); !errors.Is(err, ErrChecksum) || fe.Member != "shop/orders/data-000002.sql" {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrentAdd(t *testing.T) {
	const tables, chunks = 16, 20
	m := &Manifest{Databases: []Database{{Name: "db"}}}
	for i := range tables {
		m.Databases[0].Tables = append(m.Databases[0].Tables, Table{Name: fmt.Sprintf("t%02d", i), Engine: "InnoDB"})
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m, WriterOptions{Compress: true, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(Member{Kind: KindDatabase, DB: "db"}, []byte("CREATE DATABASE db;\n"), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, tables)
	for i := range tables {
		wg.Go(func() {
			name := fmt.Sprintf("t%02d", i)
			if err := w.Add(Member{Kind: KindTable, DB: "db", Table: name}, []byte("CREATE TABLE "+name+";\n"), 0); err != nil {
				errs <- err
				return
			}
			for s := 1; s <= chunks; s++ {
				data := bytes.Repeat([]byte(fmt.Sprintf("INSERT INTO %s VALUES (%d);\n", name, s)), 1000)
				if err := w.Add(Member{Kind: KindData, DB: "db", Table: name, Seq: s}, data, 1000); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var s Sums
	if err := w.Close(&s); err != nil {
		t.Fatal(err)
	}
	if s.Totals.Members != 1+tables*(1+chunks) || s.Totals.Rows != tables*chunks*1000 {
		t.Fatalf("totals %+v", s.Totals)
	}
	_, got, err := readAll(buf.Bytes(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != s.Totals.Members {
		t.Fatalf("read %d members", len(got))
	}
}

func TestDeterministic(t *testing.T) {
	for _, opt := range []WriterOptions{{}, {Compress: true, Level: 6}, {Compress: true, Level: 1}} {
		m1, es1 := sample()
		m2, es2 := sample()
		a := write(t, opt, m1, es1)
		o2 := opt
		o2.Concurrency = 1
		b := write(t, o2, m2, es2)
		if !bytes.Equal(a, b) {
			t.Errorf("%+v: two writes of the same snapshot differ", opt)
		}
	}
	// Compressed output across block boundaries, at different concurrency.
	big := &Manifest{Databases: []Database{{Name: "d", Tables: []Table{{Name: "t"}}}}}
	es := []entry{{Member{Kind: KindDatabase, DB: "d"}, nil, 0}, {Member{Kind: KindTable, DB: "d", Table: "t"}, nil, 0}}
	for i := 1; i <= 4; i++ {
		es = append(es, entry{Member{Kind: KindData, DB: "d", Table: "t", Seq: i}, bulk(i, 3<<20), 1})
	}
	a := write(t, WriterOptions{Compress: true, Concurrency: 1}, big, es)
	b := write(t, WriterOptions{Compress: true, Concurrency: 8}, big, es)
	if !bytes.Equal(a, b) {
		t.Error("gzip output depends on concurrency")
	}
}

// bulk returns n bytes of SQL-like data, different for every seed.
func bulk(seed, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "(%d,'row %d of chunk %d','%08x'),", i, i*7919%100003, seed, uint32(i*2654435761)^uint32(seed))
	}
	return b.Bytes()[:n]
}

// The bytes of an unchanged member are the same in another snapshot, at
// another place in the stream: that is what the repository deduplicates.
func TestMemberBytesStable(t *testing.T) {
	m1, es1 := sample()
	a := write(t, WriterOptions{}, m1, es1)

	m2, es2 := sample()
	m2.Created = m2.Created.Add(24 * time.Hour)
	m2.Binlog.Pos = 99999
	m2.Databases = append([]Database{{Name: "new", Tables: []Table{{Name: "n"}}}}, m2.Databases...)
	es2 = append([]entry{
		{Member{Kind: KindDatabase, DB: "new"}, []byte("CREATE DATABASE new;\n"), 0},
		{Member{Kind: KindTable, DB: "new", Table: "n"}, []byte("CREATE TABLE n (id int);\n"), 0},
		{Member{Kind: KindData, DB: "new", Table: "n", Seq: 1}, []byte("INSERT INTO n VALUES (1),(2),(3);\n"), 3},
	}, es2...)
	b := write(t, WriterOptions{}, m2, es2)

	for _, e := range es1 {
		name, _ := e.m.Name()
		s1, e1 := entrySpan(t, a, name)
		s2, e2 := entrySpan(t, b, name)
		if s1%512 != 0 || s2%512 != 0 {
			t.Fatalf("%s: entry not block aligned", name)
		}
		if !bytes.Equal(a[s1:e1], b[s2:e2]) {
			t.Errorf("%s: tar bytes differ between snapshots", name)
		}
	}
}

func TestTruncated(t *testing.T) {
	m, es := sample()
	for _, compress := range []bool{false, true} {
		stream := write(t, WriterOptions{Compress: compress}, m, es)
		var offsets []int
		for i := 0; i < len(stream); i += 1 + i/32 {
			offsets = append(offsets, i)
		}
		every := func(from, to int) {
			for i := max(0, from); i < min(len(stream), to); i++ {
				offsets = append(offsets, i)
			}
		}
		if compress {
			every(len(stream)-64, len(stream)) // the gzip trailer and last block
		} else {
			// Around SUMS.json's header blocks, and the end-of-archive marker.
			start, _ := entrySpan(t, stream, SumsName)
			for b := start; b <= start+3*blockSize; b += blockSize {
				every(b-4, b+4)
			}
			every(len(stream)-2*blockSize-4, len(stream))
			// Around member boundaries.
			for _, e := range es[:5] {
				name, _ := e.m.Name()
				s, end := entrySpan(t, stream, name)
				every(s-3, s+3)
				every(end-3, end+3)
			}
		}
		for k, n := range offsets {
			_, _, err := readAll(stream[:n], k%2 == 0) // both ways of reading
			if err == nil {
				t.Fatalf("compress=%v: stream cut at %d of %d read without error", compress, n, len(stream))
			}
			mustFormatError(t, err)
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("compress=%v: cut at %d of %d: %v, want ErrTruncated", compress, n, len(stream), err)
			}
		}
	}
}

func TestTruncatedNamesMember(t *testing.T) {
	m, es := sample()
	stream := write(t, WriterOptions{}, m, es)
	name := "a%2Fb/sp%20ace/data-000001.sql"
	start, end := entrySpan(t, stream, name)
	// Inside the data (after the PAX header, its records, the header):
	// names the member.
	_, _, err := readAll(stream[:start+3*blockSize+1], false)
	if fe := mustFormatError(t, err); fe.Member != name || !errors.Is(err, ErrTruncated) || fe.Offset != int64(start) {
		t.Fatalf("cut inside %s: %v", name, err)
	}
	t.Log(err)
	// At its end: names it as the last member read.
	_, _, err = readAll(stream[:end], false)
	if fe := mustFormatError(t, err); fe.Member != name || !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "without SUMS.json") {
		t.Fatalf("cut after %s: %v", name, err)
	}
	t.Log(err)
}

func TestFlippedByte(t *testing.T) {
	m, es := sample()
	stream := write(t, WriterOptions{}, m, es)
	// In the data of each data member, at several offsets: ErrChecksum
	// naming that member.
	for _, e := range es {
		if e.m.Kind != KindData || len(e.data) == 0 {
			continue
		}
		name, _ := e.m.Name()
		_, end := entrySpan(t, stream, name)
		dataStart := int(align(int64(end))) - int(align(int64(len(e.data))))
		for _, k := range []int{0, len(e.data) / 3, len(e.data) / 2, len(e.data) - 1} {
			bad := bytes.Clone(stream)
			bad[dataStart+k] ^= 0x20
			for _, streaming := range []bool{false, true} {
				_, got, err := readAll(bad, streaming)
				fe := mustFormatError(t, err)
				if !errors.Is(err, ErrChecksum) || fe.Member != name {
					t.Fatalf("flip in %s at %d: %v", name, k, err)
				}
				if !streaming {
					for _, g := range got {
						if g.m == e.m {
							t.Fatalf("NextBytes returned corrupt member %s", name)
						}
					}
				}
				if want := "snapshot member \"" + name + "\": checksum mismatch (stored "; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("message %q", err)
				}
			}
		}
	}
	// Anywhere at all: an error, always a *FormatError.
	// Every byte of MANIFEST.json's entry and the next, of SUMS.json's
	// header and of the end-of-archive marker; a sample elsewhere.
	sums, _ := entrySpan(t, stream, SumsName)
	every := func(i int) bool {
		return i < 6<<10 || i >= sums && i < sums+3*blockSize || i >= len(stream)-3*blockSize
	}
	step := 31
	if testing.Short() {
		step = 127
	}
	bad := bytes.Clone(stream)
	for i := 0; i < len(bad); i++ {
		if !every(i) && i%step != 0 {
			continue
		}
		bad[i] ^= 1 << (i % 8)
		_, _, err := readAll(bad, false)
		bad[i] ^= 1 << (i % 8)
		if err == nil {
			t.Fatalf("flip at %d of %d read without error", i, len(stream))
		}
		mustFormatError(t, err)
	}
}

func TestFlippedByteGzip(t *testing.T) {
	m, es := sample()
	stream := write(t, WriterOptions{Compress: true}, m, es)
	plain := gunzip(t, stream)
	step := 3
	if testing.Short() {
		step = 17
	}
	bad := bytes.Clone(stream)
	for i := range bad {
		if i >= 64 && i < len(bad)-64 && i%step != 0 {
			continue
		}
		bad[i] ^= 1 << (i % 8)
		_, _, err := readAll(bad, i%2 == 0)
		if err != nil {
			mustFormatError(t, err)
		} else if !bytes.Equal(gunzip(t, bad), plain) {
			// Only bits gzip does not use (header time, OS, unused bits
			// of the last deflate byte) may change without an error.
			t.Fatalf("flip at %d of %d: content changed and read without error", i, len(stream))
		}
		bad[i] ^= 1 << (i % 8)
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewerVersion(t *testing.T) {
	m := []byte(`{"format": 2, "whatever": "a newer dr writes"}` + "\n")
	for _, pax := range []map[string]string{nil, {"DR.other": "x"}} {
		stream := rawStream(t, []rawEntry{{name: ManifestName, data: m, pax: pax, rows: -1}})
		_, err := NewReader(bytes.NewReader(stream))
		mustFormatError(t, err)
		if !errors.Is(err, ErrVersion) {
			t.Fatalf("got %v", err)
		}
		if got, want := err.Error(), "snapshot format 2 is newer than this dr reads (1)"; got != want {
			t.Errorf("message %q, want %q", got, want)
		}
	}
}

func TestNotASnapshot(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":     nil,
		"sql":       []byte(strings.Repeat("-- MySQL dump 10.13\nCREATE TABLE t (id int);\n", 40)),
		"short":     []byte("hello"),
		"gzip-sql":  gzipOf(t, []byte(strings.Repeat("INSERT INTO t VALUES (1);\n", 100))),
		"other-tar": rawStream(t, []rawEntry{{name: "etc/passwd", data: []byte("root:x:0:0\n"), rows: -1}}),
		"bad-gzip":  {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3},
	} {
		_, err := NewReader(bytes.NewReader(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		mustFormatError(t, err)
		t.Logf("%s: %v", name, err)
	}
}

func gzipOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Streams that are well-formed tar with good member hashes but whose
// SUMS.json or framing does not agree.
func TestSumsMismatch(t *testing.T) {
	m, es := sample()
	good := rawEntries(t, write(t, WriterOptions{}, m, es))
	last := len(good) - 1
	if good[last].name != SumsName {
		t.Fatal("last entry is not SUMS.json")
	}
	sumsOf := func(es []rawEntry) Sums {
		var s Sums
		if err := jsonUnmarshal(es[len(es)-1].data, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	withSums := func(es []rawEntry, s Sums) []rawEntry {
		es = append([]rawEntry(nil), es...)
		es[len(es)-1] = rawEntry{name: SumsName, data: jsonOf(t, s), rows: -1}
		return es
	}
	cases := map[string][]rawEntry{}
	{
		s := sumsOf(good)
		s.Members[3].Rows++
		s.Totals.Rows++
		cases["rows"] = withSums(good, s)
	}
	{
		s := sumsOf(good)
		s.Members[2].BLAKE3 = strings.Repeat("0", 64)
		cases["hash"] = withSums(good, s)
	}
	{
		s := sumsOf(good)
		s.Totals.Bytes++
		cases["totals"] = withSums(good, s)
	}
	{
		s := sumsOf(good)
		s.Members = s.Members[:len(s.Members)-1]
		s.Totals.Members--
		cases["member not listed"] = withSums(good, s)
	}
	{
		s := sumsOf(good)
		s.Members = append(s.Members, Sum{Name: "shop/orders/data-000004.sql", BLAKE3: strings.Repeat("a", 64)})
		s.Totals.Members++
		cases["listed member missing"] = withSums(good, s)
	}
	{
		s := sumsOf(good)
		s.Members[0], s.Members[1] = s.Members[1], s.Members[0]
		cases["order"] = withSums(good, s)
	}
	{
		s := sumsOf(good)
		s.ManifestBLAKE3 = strings.Repeat("b", 64)
		cases["manifest hash"] = withSums(good, s)
	}
	// A member dropped, SUMS.json rewritten to match: the manifest says
	// what is missing.
	for _, drop := range []string{"shop/orders/data-000002.sql", "shop/orders/schema.sql", "shop/_views.sql", "_grants.sql", "a%2Fb/_db.sql"} {
		var es []rawEntry
		s := sumsOf(good)
		s.Members = nil
		s.Totals = Totals{}
		for _, e := range good[:last] {
			if e.name == drop {
				continue
			}
			es = append(es, e)
			if e.name != ManifestName {
				sum := Sum{Name: e.name, BLAKE3: blake3Hex(e.data), Size: int64(len(e.data))}
				fmt.Sscan(e.pax[PAXRows], &sum.Rows)
				s.Members = append(s.Members, sum)
				s.Totals.Members++
				s.Totals.Rows += sum.Rows
				s.Totals.Bytes += sum.Size
			}
		}
		es = append(es, rawEntry{name: SumsName, data: jsonOf(t, s), rows: -1})
		cases["dropped "+drop] = es
	}
	cases["member after SUMS.json"] = append(append([]rawEntry(nil), good...), good[1])
	cases["SUMS.json twice"] = append(append([]rawEntry(nil), good...), good[last])
	cases["MANIFEST.json twice"] = append([]rawEntry{good[0]}, good...)
	cases["member twice"] = append(append(append([]rawEntry(nil), good[:3]...), good[2]), good[3:]...)
	cases["no SUMS.json"] = good[:last]
	{
		es := append([]rawEntry(nil), good...)
		es[4].pax = map[string]string{PAXBlake3: es[4].pax[PAXBlake3], PAXRows: "1", "DR.x": "y"}
		cases["rows on a schema"] = es
	}

	for name, es := range cases {
		stream := rawStream(t, es)
		_, _, err := readAll(stream, false)
		if err == nil {
			t.Errorf("%s: read without error", name)
			continue
		}
		mustFormatError(t, err)
		t.Logf("%s: %v", name, err)
	}

	// The control: the raw round trip of the good stream reads.
	if _, _, err := readAll(rawStream(t, good), false); err != nil {
		t.Fatalf("good stream rewritten: %v", err)
	}
}

func TestTrailingData(t *testing.T) {
	m, es := sample()
	stream := write(t, WriterOptions{}, m, es)
	// Zeros after the end (tar's record padding) are fine.
	if _, _, err := readAll(append(bytes.Clone(stream), make([]byte, 10240-len(stream)%10240)...), false); err != nil {
		t.Fatalf("zero padding: %v", err)
	}
	for _, tail := range [][]byte{{1}, append(make([]byte, 5000), 'x')} {
		_, _, err := readAll(append(bytes.Clone(stream), tail...), false)
		if err == nil {
			t.Fatalf("trailing %d bytes read without error", len(tail))
		}
		mustFormatError(t, err)
	}
	gz := write(t, WriterOptions{Compress: true}, m, es)
	for _, tail := range [][]byte{{0}, []byte("garbage"), gz} {
		_, _, err := readAll(append(bytes.Clone(gz), tail...), false)
		if err == nil {
			t.Fatalf("gzip with %d trailing bytes read without error", len(tail))
		}
		mustFormatError(t, err)
	}
}

// errReader fails after n bytes, like a broken pipe.
type errReader struct {
	r io.Reader
	n int
}

var errBroken = errors.New("connection reset by peer")

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errBroken
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

// An I/O error of the source is reported as such, not as a corrupt stream.
func TestSourceError(t *testing.T) {
	m, es := sample()
	for _, compress := range []bool{false, true} {
		stream := write(t, WriterOptions{Compress: compress}, m, es)
		for _, n := range []int{100, len(stream) / 2, len(stream) - 10} {
			r, err := NewReader(&errReader{r: bytes.NewReader(stream), n: n})
			for err == nil {
				_, _, err = r.NextBytes()
			}
			var fe *FormatError
			if !errors.Is(err, errBroken) || errors.As(err, &fe) {
				t.Errorf("compress=%v, fail at %d: %v", compress, n, err)
			}
		}
	}
}

func TestWriterRefuses(t *testing.T) {
	m, es := sample()
	cases := map[string]func(w *Writer) error{
		"undeclared table": func(w *Writer) error {
			return w.Add(Member{Kind: KindTable, DB: "shop", Table: "nope"}, nil, 0)
		},
		"undeclared database": func(w *Writer) error {
			return w.Add(Member{Kind: KindDatabase, DB: "nope"}, nil, 0)
		},
		"data before schema": func(w *Writer) error {
			w.Add(es[0].m, es[0].data, 0)
			return w.Add(Member{Kind: KindData, DB: "shop", Table: "orders", Seq: 1}, nil, 1)
		},
		"table before database": func(w *Writer) error {
			return w.Add(Member{Kind: KindTable, DB: "shop", Table: "orders"}, nil, 0)
		},
		"twice": func(w *Writer) error {
			w.Add(es[0].m, es[0].data, 0)
			return w.Add(es[0].m, es[0].data, 0)
		},
		"rows on schema": func(w *Writer) error {
			return w.Add(es[0].m, es[0].data, 3)
		},
		"negative rows": func(w *Writer) error {
			return w.Add(es[0].m, es[0].data, -1)
		},
		"seq 0": func(w *Writer) error {
			return w.Add(Member{Kind: KindData, DB: "shop", Table: "orders"}, nil, 0)
		},
		"no table name": func(w *Writer) error {
			return w.Add(Member{Kind: KindTable, DB: "shop"}, nil, 0)
		},
		"bad kind": func(w *Writer) error {
			return w.Add(Member{Kind: "index", DB: "shop"}, nil, 0)
		},
		"invalid utf-8": func(w *Writer) error {
			return w.Add(Member{Kind: KindDatabase, DB: "\xff"}, nil, 0)
		},
		"undeclared views": func(w *Writer) error {
			w.Add(Member{Kind: KindDatabase, DB: "a/b"}, nil, 0)
			return w.Add(Member{Kind: KindViews, DB: "a/b"}, nil, 0)
		},
		"missing member": func(w *Writer) error {
			for _, e := range es[:len(es)-1] {
				if err := w.Add(e.m, e.data, e.rows); err != nil {
					return err
				}
			}
			return w.Close(&Sums{})
		},
		"gap in chunks": func(w *Writer) error {
			for _, e := range es {
				if e.m == (Member{Kind: KindData, DB: "shop", Table: "orders", Seq: 2}) {
					continue
				}
				if err := w.Add(e.m, e.data, e.rows); err != nil {
					return err
				}
			}
			return w.Close(&Sums{})
		},
	}
	for name, f := range cases {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, m, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		err = f(w)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		// The writer is done for: Close fails with the same error and
		// no SUMS.json is written.
		if err2 := w.Close(&Sums{}); err2 == nil {
			t.Errorf("%s: Close after a failed Add succeeded", name)
		}
		if bytes.Contains(buf.Bytes(), []byte(SumsName)) {
			t.Errorf("%s: SUMS.json written", name)
		}
		_, _, rerr := readAll(buf.Bytes(), false)
		if !errors.Is(rerr, ErrTruncated) {
			t.Errorf("%s: reading the aborted stream: %v", name, rerr)
		}
	}
}

func TestManifestRefused(t *testing.T) {
	for name, m := range map[string]*Manifest{
		"dup db":     {Databases: []Database{{Name: "a"}, {Name: "a"}}},
		"dup table":  {Databases: []Database{{Name: "a", Tables: []Table{{Name: "t"}, {Name: "t"}}}}},
		"empty name": {Databases: []Database{{Name: ""}}},
		"bad utf-8":  {Databases: []Database{{Name: "a", Tables: []Table{{Name: "\xc3"}}}}},
	} {
		if _, err := NewWriter(io.Discard, m, WriterOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAbort(t *testing.T) {
	m, es := sample()
	for _, compress := range []bool{false, true} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, m, WriterOptions{Compress: compress})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es[:10] {
			if err := w.Add(e.m, e.data, e.rows); err != nil {
				t.Fatal(err)
			}
		}
		w.Abort()
		if err := w.Add(es[10].m, es[10].data, es[10].rows); err == nil {
			t.Fatal("Add after Abort succeeded")
		}
		if err := w.Close(&Sums{}); err == nil {
			t.Fatal("Close after Abort succeeded")
		}
		_, got, err := readAll(buf.Bytes(), false)
		fe := mustFormatError(t, err)
		last, _ := es[9].m.Name()
		if !errors.Is(err, ErrTruncated) || fe.Member != last || len(got) != 10 {
			t.Fatalf("compress=%v: read %d members, then %v", compress, len(got), err)
		}
	}
}

// A member reader used after Next moved on fails rather than returning
// another member's bytes.
func TestStaleMemberReader(t *testing.T) {
	m, es := sample()
	r, err := NewReader(bytes.NewReader(write(t, WriterOptions{}, m, es)))
	if err != nil {
		t.Fatal(err)
	}
	_, rd, _ := r.Next()
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Read(make([]byte, 10)); err == nil || err == io.EOF {
		t.Fatalf("stale reader: %v", err)
	}
}
