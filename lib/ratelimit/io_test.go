package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// The real clock, end to end: 4 MiB through Reader at 16 MiB/s is 250 ms.
// Never faster than that; slower only when the machine is busy (a shared CI
// box under -race), so the upper bound gets three tries.
func TestReaderRealClock(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	var d time.Duration
	for try := 0; try < 3; try++ {
		l := New(16 * MiB)
		sum := &countWriter{}
		start := time.Now()
		n, err := io.Copy(sum, l.Reader(context.Background(), bytes.NewReader(src)))
		d = time.Since(start)
		if err != nil || n != int64(len(src)) || sum.n != n {
			t.Fatalf("copied %d bytes, %v", n, err)
		}
		if d < 200*time.Millisecond {
			t.Fatalf("4 MiB at 16 MiB/s took %v, faster than the rate", d)
		}
		if d <= 300*time.Millisecond {
			break
		}
	}
	if d > 300*time.Millisecond {
		t.Errorf("4 MiB at 16 MiB/s took %v, want 250 ms ±20%%", d)
	}
	t.Logf("4 MiB at 16 MiB/s: %v", d)
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// timedWriter records when each write reaches it, on the fake clock.
type timedWriter struct {
	c      *fakeClock
	grants []grant
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.grants = append(w.grants, grant{w.c.now(), int64(len(p))})
	return len(p), nil
}

// A 4 MiB write does not go out in one burst.
func TestWriterSplits(t *testing.T) {
	c := newFakeClock()
	r := 50 * MiB
	l := NewWithClock(r, c.now, c.sleep)
	c.add(1)
	defer c.done()
	tw := &timedWriter{c: c}
	w := l.Writer(context.Background(), tw)
	buf := make([]byte, 4<<20)
	for range 50 { // 200 MiB: 4 s
		if n, err := w.Write(buf); n != len(buf) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	for _, g := range tw.grants {
		if g.n > l.Burst() {
			t.Fatalf("a write of %d bytes reached the socket, above the burst %d", g.n, l.Burst())
		}
	}
	checkSmooth(t, tw.grants, r, l.Burst())
}

// chunkReader returns at most size bytes a Read, like a socket.
type chunkReader struct {
	c    *fakeClock
	size int
	left int64
	got  []grant
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), int64(r.size), r.left))
	r.left -= int64(n)
	r.got = append(r.got, grant{r.c.now(), int64(n)})
	return n, nil
}

// What Reader takes from the server is as smooth: each Read is at most a
// burst, and at most one Read is ahead of the bucket.
func TestReaderSmooth(t *testing.T) {
	for _, size := range []int{1 << 10, 64 << 10, 16 << 20} {
		c := newFakeClock()
		r := 10 * MiB
		l := NewWithClock(r, c.now, c.sleep)
		c.add(1)
		src := &chunkReader{c: c, size: size, left: int64(r) * 5}
		n, err := io.CopyBuffer(io.Discard, l.Reader(context.Background(), src), make([]byte, 4<<20))
		c.done()
		if err != nil || n != int64(r)*5 {
			t.Fatalf("copied %d, %v", n, err)
		}
		// Charging after the read puts each read one piece ahead: allow
		// a burst more than WaitN itself.
		checkSmooth(t, src.got, r, 2*l.Burst())
	}
}

func TestWriterCancel(t *testing.T) {
	l := New(100 * KiB)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	var dst bytes.Buffer
	start := time.Now()
	n, err := l.Writer(ctx, &dst).Write(make([]byte, 1<<20)) // 10 s
	if !errors.Is(err, context.Canceled) || n != dst.Len() || n >= 1<<20 {
		t.Errorf("Write = %d (%d written), %v", n, dst.Len(), err)
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("Write returned %v after start, cancel was at 30 ms", d)
	}
}

// Conn throttles both directions; Close wakes a throttled Write.
func TestConn(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	l := New(8 * MiB) // burst 400 KiB
	ca := l.Conn(a)
	go io.Copy(b, b) // echo
	msg := bytes.Repeat([]byte("x"), 1<<20)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := ca.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(ca, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// 1 MiB each way, 2 MiB at 8 MiB/s: 250 ms.
	if d := time.Since(start); d < 200*time.Millisecond || d > 350*time.Millisecond {
		t.Errorf("1 MiB echoed through an 8 MiB/s Conn in %v, want about 250 ms", d)
	}

	l.SetRate(4 * KiB) // a 4 KiB burst is a second
	go func() {
		_, err := ca.Write(make([]byte, 64<<10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	ca.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write on a closed Conn: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Close did not wake the throttled Write")
	}
}
