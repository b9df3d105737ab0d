package snapfmt

import (
	"bytes"
	"io"
	"sync"
	"testing"
)

// benchData is ~200 MiB of SQL-like chunks: 100 members of 2 MiB.
var benchData = sync.OnceValues(func() (*Manifest, []entry) {
	m := &Manifest{Databases: []Database{{Name: "sbtest", Tables: []Table{{Name: "sbtest1", Engine: "InnoDB"}}}}}
	es := []entry{
		{Member{Kind: KindDatabase, DB: "sbtest"}, []byte("CREATE DATABASE sbtest;\n"), 0},
		{Member{Kind: KindTable, DB: "sbtest", Table: "sbtest1"}, []byte("CREATE TABLE sbtest1 (id int primary key);\n"), 0},
	}
	for i := 1; i <= 100; i++ {
		es = append(es, entry{Member{Kind: KindData, DB: "sbtest", Table: "sbtest1", Seq: i}, bulk(i, 2<<20), 10000})
	}
	return m, es
})

func benchBytes(es []entry) int64 {
	var n int64
	for _, e := range es {
		n += int64(len(e.data))
	}
	return n
}

func benchWrite(b *testing.B, opt WriterOptions, parallel int) {
	m, es := benchData()
	b.SetBytes(benchBytes(es))
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewWriter(io.Discard, m, opt)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range es[:2] {
			w.Add(e.m, e.data, e.rows)
		}
		var wg sync.WaitGroup
		for p := range parallel {
			wg.Go(func() {
				for i := 2 + p; i < len(es); i += parallel {
					if err := w.Add(es[i].m, es[i].data, es[i].rows); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if err := w.Close(&Sums{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrite(b *testing.B)     { benchWrite(b, WriterOptions{}, 1) }
func BenchmarkWrite4(b *testing.B)    { benchWrite(b, WriterOptions{}, 4) }
func BenchmarkWriteGzip(b *testing.B) { benchWrite(b, WriterOptions{Compress: true}, 1) }
func BenchmarkWriteGzipLevel1(b *testing.B) {
	benchWrite(b, WriterOptions{Compress: true, Level: 1}, 1)
}

func benchRead(b *testing.B, compress, streaming bool) {
	m, es := benchData()
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, m, WriterOptions{Compress: compress})
	for _, e := range es {
		w.Add(e.m, e.data, e.rows)
	}
	if err := w.Close(&Sums{}); err != nil {
		b.Fatal(err)
	}
	stream := buf.Bytes()
	b.SetBytes(benchBytes(es))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(stream))
		if err != nil {
			b.Fatal(err)
		}
		for {
			var err error
			if streaming {
				var rd io.Reader
				_, rd, err = r.Next()
				if err == nil {
					_, err = io.Copy(io.Discard, rd)
				}
			} else {
				_, _, err = r.NextBytes()
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(stream))/float64(benchBytes(es)), "size-ratio")
}

func BenchmarkRead(b *testing.B)              { benchRead(b, false, false) }
func BenchmarkReadStreaming(b *testing.B)     { benchRead(b, false, true) }
func BenchmarkReadGzip(b *testing.B)          { benchRead(b, true, false) }
func BenchmarkReadGzipStreaming(b *testing.B) { benchRead(b, true, true) }
