package repo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend/local"
	"github.com/dr-mysql/dr/lib/repo/chunker"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/pack"
	"github.com/zeebo/blake3"
)

// dump returns n bytes shaped like a snapshot's INSERT statements.
func dump(n int) []byte {
	h := blake3.New()
	h.WriteString("dump")
	r := make([]byte, n/8)
	io.ReadFull(h.Digest(), r)
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i%1000 == 0 {
			b.WriteString(";\nINSERT INTO `articles` VALUES ")
		}
		x := r[(i*5)%(len(r)-5):]
		fmt.Fprintf(&b, "(%d,'%x','2026-11-%02d 09:%02d:%02d',%d,'published'),", 100000+i, x[:5], 1+x[0]%28, x[1]%60, x[2]%60, x[3])
	}
	return b.Bytes()[:n]
}

// BenchmarkPut measures one goroutine doing what a put does per chunk,
// minus the index: chunk, hash, compress into packs, save them to a
// directory with fsync.
func BenchmarkPut(b *testing.B) {
	data := dump(128 << 20)
	be, err := local.Create(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	buf := make([]byte, 0, chunker.Default.Max)
	b.SetBytes(int64(len(data)))
	var stored int64
	for i := 0; b.Loop(); i++ {
		// A different first byte each round, so every pack is new.
		data[0] = byte('a' + i%26)
		c := chunker.New(bytes.NewReader(data), chunker.Default)
		w := pack.NewWriter(0)
		flush := func() {
			f, err := w.Finish()
			if err != nil {
				b.Fatal(err)
			}
			stored += int64(len(f.Data))
			if err := pack.Save(ctx, be, f); err != nil {
				b.Fatal(err)
			}
			w.Reset()
		}
		for {
			ch, err := c.Next(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Add(pack.DataBlob, ids.Hash(ch.Data), ch.Data); err != nil {
				b.Fatal(err)
			}
			if w.Full() {
				flush()
			}
		}
		if w.Count() > 0 {
			flush()
		}
	}
	b.ReportMetric(float64(stored)/float64(b.N)/float64(len(data)), "ratio")
}
