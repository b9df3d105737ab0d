package remote

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
)

// osPipe connects client and server through two OS pipes, as an ssh
// process's stdin and stdout do.
func osPipe() (io.Reader, io.Writer, io.Reader, io.Writer, func()) {
	toServerR, toServerW, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	toClientR, toClientW, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	return toClientR, toServerW, toServerR, toClientW, func() { toClientW.Close(); toServerR.Close() }
}

// BenchmarkSaveLoad256MiB saves then loads a 256 MiB pack through the
// protocol over OS pipes, and over nothing (the local backend itself) for
// comparison. The repository is on the test's temporary directory, so
// the disk (and Save's fsync) is part of the figure.
func BenchmarkSaveLoad256MiB(b *testing.B) {
	data := backendtest.Data("bench", 256<<20)
	h := packOf(data)
	for _, mode := range []string{"local", "remote"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var saveT, loadT time.Duration
			for b.Loop() {
				b.StopTimer()
				dir, be := newRepo(b)
				var c backend.Backend = be
				if mode == "remote" {
					c = pipeClient(b, be, osPipe)
				}
				b.StartTimer()
				t0 := time.Now()
				if err := c.Save(context.Background(), h, bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := c.Load(context.Background(), h, 0, 0, func(rd io.Reader) error {
					_, err := io.Copy(io.Discard, rd)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				saveT += t1.Sub(t0)
				loadT += time.Since(t1)
				b.StopTimer()
				c.Close()
				os.RemoveAll(dir)
				b.StartTimer()
			}
			mib := float64(len(data)) / (1 << 20) * float64(b.N)
			b.ReportMetric(mib/saveT.Seconds(), "save-MiB/s")
			b.ReportMetric(mib/loadT.Seconds(), "load-MiB/s")
		})
	}
}
