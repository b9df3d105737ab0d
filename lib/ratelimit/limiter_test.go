package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock is a deterministic clock for any number of goroutines: time
// stands still while any worker runs, and when every live worker is asleep
// it jumps to the earliest wake-up. A worker is a goroutine registered with
// add and retired with done.
type fakeClock struct {
	mu       sync.Mutex
	t        time.Time
	workers  int
	sleepers []*sleeper
}

type sleeper struct {
	at   time.Time
	wake chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(n int) {
	c.mu.Lock()
	c.workers += n
	c.mu.Unlock()
}

func (c *fakeClock) done() {
	c.mu.Lock()
	c.workers--
	c.step()
	c.mu.Unlock()
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	s := &sleeper{at: c.t.Add(d), wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.step()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case <-s.wake: // woken at the same time: the sleep is over anyway
			return nil
		default:
		}
		for i, x := range c.sleepers {
			if x == s {
				c.sleepers = append(c.sleepers[:i], c.sleepers[i+1:]...)
				break
			}
		}
		c.step()
		return ctx.Err()
	}
}

// step advances time when all workers sleep. Called with mu held.
func (c *fakeClock) step() {
	if len(c.sleepers) == 0 || len(c.sleepers) < c.workers {
		return
	}
	sort.Slice(c.sleepers, func(i, j int) bool { return c.sleepers[i].at.Before(c.sleepers[j].at) })
	if at := c.sleepers[0].at; at.After(c.t) {
		c.t = at
	}
	i := 0
	for ; i < len(c.sleepers) && !c.sleepers[i].at.After(c.t); i++ {
		close(c.sleepers[i].wake)
	}
	c.sleepers = c.sleepers[i:]
}

// grant is n bytes passing at time at.
type grant struct {
	at time.Time
	n  int64
}

// maxWindow is the most bytes any window of length w carries.
func maxWindow(gs []grant, w time.Duration) int64 {
	sort.Slice(gs, func(i, j int) bool { return gs[i].at.Before(gs[j].at) })
	var best, sum int64
	j := 0
	for i := range gs {
		sum += gs[i].n
		for gs[i].at.Sub(gs[j].at) >= w {
			sum -= gs[j].n
			j++
		}
		best = max(best, sum)
	}
	return best
}

func span(gs []grant) time.Duration {
	first, last := gs[0].at, gs[0].at
	for _, g := range gs {
		if g.at.Before(first) {
			first = g.at
		}
		if g.at.After(last) {
			last = g.at
		}
	}
	return last.Sub(first)
}

func total(gs []grant) (n int64) {
	for _, g := range gs {
		n += g.n
	}
	return n
}

// runWorkers has g goroutines each pass requests of random sizes (up to
// maxReq, several bursts) through l until each has passed perWorker bytes.
func runWorkers(t *testing.T, c *fakeClock, l *Limiter, g int, perWorker, maxReq int64) []grant {
	return runWorkersIdle(t, c, l, g, perWorker, maxReq, 0)
}

// runWorkersIdle is runWorkers where a worker sometimes pauses for up to
// idle before a request, so the bucket fills up now and then.
func runWorkersIdle(t *testing.T, c *fakeClock, l *Limiter, g int, perWorker, maxReq int64, idle time.Duration) []grant {
	t.Helper()
	var mu sync.Mutex
	var gs []grant
	var wg sync.WaitGroup
	c.add(g)
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for left := perWorker; left > 0; {
				if idle > 0 && rng.IntN(10) == 0 {
					_ = c.sleep(context.Background(), time.Duration(rng.Int64N(int64(idle))))
				}
				n := min(left, 1+rng.Int64N(maxReq))
				if err := l.WaitN(context.Background(), int(n)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				gs = append(gs, grant{c.now(), n})
				mu.Unlock()
				left -= n
			}
		}()
	}
	wg.Wait()
	return gs
}

func checkSmooth(t *testing.T, gs []grant, r Rate, burst int64) {
	t.Helper()
	// The first grant comes at once (the bucket starts empty, and a
	// request only waits for its own bytes): measure the average from it to
	// the last, which carries all the bytes after the first.
	n, d := total(gs)-gs[0].n, span(gs)
	avg := float64(n) / d.Seconds()
	if dev := avg/float64(r) - 1; dev > 0.01 || dev < -0.01 {
		t.Errorf("long-run average %.0f B/s, rate %d B/s: off by %+.2f%%", avg, r, 100*dev)
	}
	limit := int64(float64(r)*0.1) + burst
	if m := maxWindow(gs, 100*time.Millisecond); m > limit {
		t.Errorf("a 100 ms window carried %d bytes, above rate×100ms + burst = %d", m, limit)
	} else {
		t.Logf("rate %v: %.0f B/s over %v (%+.3f%%); busiest 100 ms window %d bytes = rate×100ms + %.2f burst",
			r, avg, d, 100*(avg/float64(r)-1), m, float64(m-int64(float64(r)*0.1))/float64(burst))
	}
}

func TestLimiterSmooth(t *testing.T) {
	for _, r := range []Rate{50 * MiB, 10 * MB, 800 * KiB, 10 * KiB} {
		c := newFakeClock()
		l := NewWithClock(r, c.now, c.sleep)
		// 20 s of traffic in requests of random sizes up to a burst (how
		// Reader and Writer call it; larger ones are the next test's).
		gs := runWorkers(t, c, l, 1, int64(r)*20, l.Burst())
		checkSmooth(t, gs, r, l.Burst())
	}
}

// Every piece WaitN grants is at most one burst: record the pieces as the
// sleeps end.
func TestLimiterSplitsLargeRequests(t *testing.T) {
	c := newFakeClock()
	r := 20 * MiB // burst 1 MiB
	l := NewWithClock(r, c.now, c.sleep)
	var wakes []time.Duration
	start := c.now()
	l.sleep = func(ctx context.Context, d time.Duration) error {
		err := c.sleep(ctx, d)
		wakes = append(wakes, c.now().Sub(start))
		return err
	}
	c.add(1)
	defer c.done()
	if err := l.WaitN(context.Background(), 4<<20); err != nil {
		t.Fatal(err)
	}
	// 4 MiB in pieces of 1 MiB, each granted one burst time (50 ms) after
	// the one before.
	if len(wakes) != 4 {
		t.Fatalf("4 MiB at 20 MiB/s woke %d times, want 4 pieces", len(wakes))
	}
	for i, got := range wakes {
		want := time.Duration(i+1) * burstTime
		if got < want || got > want+time.Microsecond {
			t.Errorf("piece %d granted at %v, want %v", i, got, want)
		}
	}
}

func TestLimiterConcurrent(t *testing.T) {
	c := newFakeClock()
	r := 50 * MiB
	l := NewWithClock(r, c.now, c.sleep)
	// 8 dump threads, 10 s of traffic between them.
	gs := runWorkers(t, c, l, 8, int64(r)*10/8, l.Burst())
	checkSmooth(t, gs, r, l.Burst())
}

// Traffic with pauses lets the bucket fill: the spike after a pause is
// still at most one burst above the rate.
func TestLimiterIdleGaps(t *testing.T) {
	c := newFakeClock()
	r := 50 * MiB
	l := NewWithClock(r, c.now, c.sleep)
	gs := runWorkersIdle(t, c, l, 8, int64(r)*5/8, l.Burst(), 300*time.Millisecond)
	limit := int64(float64(r)*0.1) + l.Burst()
	m := maxWindow(gs, 100*time.Millisecond)
	if m > limit {
		t.Errorf("a 100 ms window carried %d bytes, above rate×100ms + burst = %d", m, limit)
	}
	t.Logf("with pauses: busiest 100 ms window = rate×100ms + %.2f burst", float64(m-int64(float64(r)*0.1))/float64(l.Burst()))
}

// The same with the real clock, for -race; short, and checked loosely.
func TestLimiterConcurrentRealClock(t *testing.T) {
	r := 32 * MiB
	l := New(r)
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 16 {
				if err := l.WaitN(context.Background(), 64<<10); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// 8 MiB at 32 MiB/s: 250 ms; never faster.
	if d := time.Since(start); d < 240*time.Millisecond || d > 400*time.Millisecond {
		t.Errorf("8 goroutines passed 8 MiB at 32 MiB/s in %v, want about 250 ms", d)
	}
}

func TestWaitCancel(t *testing.T) {
	l := New(10 * KiB) // the bucket starts empty: 4 KiB waits 400 ms
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := l.WaitN(ctx, 4<<10)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitN after cancel: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("WaitN returned %v after cancel was asked at 20 ms", d)
	}
	// A context that is already done fails at once.
	if err := l.WaitN(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitN on a done context: %v", err)
	}
}

// The cancelled request gives its bytes back, so the next one does not pay
// for them.
func TestWaitCancelRefunds(t *testing.T) {
	c := newFakeClock()
	l := NewWithClock(100*KiB, c.now, c.sleep) // burst 5 KiB = 50 ms
	c.add(1)
	defer c.done()
	start := c.now()
	ctx, cancel := context.WithCancel(context.Background())
	l.sleep = func(sctx context.Context, d time.Duration) error {
		cancel() // as if cancelled while asleep
		return c.sleep(sctx, d)
	}
	if err := l.WaitN(ctx, 5<<10); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	l.sleep = c.sleep
	if err := l.WaitN(context.Background(), 5<<10); err != nil {
		t.Fatal(err)
	}
	if d := c.now().Sub(start); d > 51*time.Millisecond {
		t.Errorf("after a cancelled 5 KiB, the next 5 KiB waited %v, want 50 ms", d)
	}
}

func TestSetRate(t *testing.T) {
	// A goroutine asleep at a slow rate wakes when the rate goes up.
	l := New(4 * KiB) // the bucket starts empty: 4 KiB waits 1 s
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- l.WaitN(context.Background(), 4<<10) }()
	time.Sleep(20 * time.Millisecond)
	l.SetRate(64 * MiB)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("took %v after the rate went up", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("sleeper did not wake on SetRate")
	}
	if l.Rate() != 64*MiB || l.Burst() != Burst(64*MiB) {
		t.Errorf("rate %v burst %d", l.Rate(), l.Burst())
	}

	// Unlimited passes everything at once; a limit again starts empty.
	l.SetRate(0)
	if err := l.WaitN(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
	if l.Burst() != 0 {
		t.Errorf("unlimited burst %d", l.Burst())
	}
}

func TestSetRateFakeClock(t *testing.T) {
	c := newFakeClock()
	l := NewWithClock(1*MiB, c.now, c.sleep)
	c.add(1)
	defer c.done()
	var gs []grant
	pass := func(d time.Duration) {
		end := c.now().Add(d)
		for c.now().Before(end) {
			if err := l.WaitN(context.Background(), 8<<10); err != nil {
				t.Fatal(err)
			}
			gs = append(gs, grant{c.now(), 8 << 10})
		}
	}
	pass(2 * time.Second)
	l.SetRate(4 * MiB)
	mark := len(gs)
	pass(2 * time.Second)
	slow, fast := gs[1:mark], gs[mark:]
	for _, part := range []struct {
		gs []grant
		r  Rate
	}{{slow, 1 * MiB}, {fast, 4 * MiB}} {
		avg := float64(total(part.gs)-part.gs[0].n) / span(part.gs).Seconds()
		if dev := avg/float64(part.r) - 1; dev > 0.01 || dev < -0.01 {
			t.Errorf("at %v: average %.0f B/s", part.r, avg)
		}
	}
}

func TestNilLimiter(t *testing.T) {
	var l *Limiter
	if err := l.WaitN(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader([]byte("x"))
	if l.Reader(context.Background(), r) != io.Reader(r) {
		t.Error("nil Reader wraps")
	}
	l.SetRate(5) // no panic
	if l.Rate() != 0 || l.Burst() != 0 {
		t.Error("nil limiter limits")
	}
}

func TestBurst(t *testing.T) {
	for _, c := range []struct {
		r    Rate
		want int64
	}{{0, 0}, {1, 4096}, {80 * KiB, 4096}, {50 * MiB, 50 << 20 / 20}, {1 * GB, 50_000_000}} {
		if got := Burst(c.r); got != c.want {
			t.Errorf("Burst(%v) = %d, want %d", c.r, got, c.want)
		}
	}
}
