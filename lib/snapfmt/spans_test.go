package snapfmt

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// spansOf reads stream through a SpanReader and returns the spans and the
// bytes it passed.
func spansOf(t *testing.T, r io.Reader) ([]Span, []byte) {
	t.Helper()
	var got []Span
	var passed int64
	sr := NewSpanReader(r, func(s Span) {
		// Known by the Read that returns the last header byte.
		if s.Data <= passed {
			t.Errorf("span of %s (content at %d) reported after %d bytes", s.Name, s.Data, passed)
		}
		got = append(got, s)
	})
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := sr.Read(buf)
		out.Write(buf[:n])
		passed += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return got, out.Bytes()
}

func TestSpanReader(t *testing.T) {
	m, es := sample()
	// A member bigger than a block, and names too long for ustar (PAX
	// path records).
	es[len(es)-1].data = bytes.Repeat([]byte("x"), 5000)
	long := strings.Repeat("😀", 60)
	m.Databases = append(m.Databases, Database{Name: long, Tables: []Table{{Name: long, Engine: "InnoDB"}}})
	es = append(es,
		entry{Member{Kind: KindDatabase, DB: long}, []byte("CREATE DATABASE x;\n"), 0},
		entry{Member{Kind: KindTable, DB: long, Table: long}, []byte("CREATE TABLE x (id int);\n"), 0},
		entry{Member{Kind: KindData, DB: long, Table: long, Seq: 1}, bytes.Repeat([]byte("y"), 1025), 1})
	stream := write(t, WriterOptions{}, m, es)
	names := []string{ManifestName}
	for _, e := range es {
		n, _ := e.m.Name()
		names = append(names, n)
	}
	names = append(names, SumsName)

	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(stream)},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half", iotest.HalfReader(bytes.NewReader(stream))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, passed := spansOf(t, tc.r)
			if !bytes.Equal(passed, stream) {
				t.Fatal("the stream changed on its way through")
			}
			if len(got) != len(names) {
				t.Fatalf("%d spans, want %d", len(got), len(names))
			}
			var end int64
			for i, s := range got {
				if s.Name != names[i] {
					t.Errorf("span %d is %q, want %q", i, s.Name, names[i])
				}
				if s.Header != end {
					t.Errorf("%s: headers at %d, want %d", s.Name, s.Header, end)
				}
				start, stop := entrySpan(t, stream, s.Name)
				if int64(start) != s.Header || int64(stop) != s.End() {
					t.Errorf("%s: span %d-%d, entry %d-%d", s.Name, s.Header, s.End(), start, stop)
				}
				if s.Data-s.Header < 3*blockSize-1 || s.Data%blockSize != 0 {
					t.Errorf("%s: content at %d after headers at %d", s.Name, s.Data, s.Header)
				}
				if i > 0 && i < len(es)+1 && !bytes.Equal(stream[s.Data:s.Data+s.Size], es[i-1].data) {
					t.Errorf("%s: the span does not hold the content", s.Name)
				}
				end = s.End()
			}
		})
	}
}

// A gzip stream, or anything but tar, gives no spans and passes through.
func TestSpanReaderNotTar(t *testing.T) {
	m, es := sample()
	gz := write(t, WriterOptions{Compress: true}, m, es)
	for _, in := range [][]byte{gz, []byte(strings.Repeat("not a tar stream\n", 100)), nil} {
		got, passed := spansOf(t, bytes.NewReader(in))
		if len(got) != 0 || !bytes.Equal(passed, in) {
			t.Errorf("%d spans, passed %d of %d bytes", len(got), len(passed), len(in))
		}
	}
}

// FuzzSpanReader: no input makes a SpanReader panic or change the bytes,
// and the spans it reports follow each other.
func FuzzSpanReader(f *testing.F) {
	s := small(f, false)
	f.Add(s, uint16(512))
	f.Add(s[:len(s)/2], uint16(1))
	f.Add(small(f, true), uint16(100))
	f.Fuzz(func(t *testing.T, in []byte, step uint16) {
		var end int64
		sr := NewSpanReader(iotest.HalfReader(bytes.NewReader(in)), func(s Span) {
			if s.Header != end || s.Data < s.Header+blockSize || s.Size < 0 {
				t.Fatalf("span %+v after %d", s, end)
			}
			end = s.End()
		})
		var out bytes.Buffer
		buf := make([]byte, 1+int(step))
		for {
			n, err := sr.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Fatal("the bytes changed")
		}
	})
}
