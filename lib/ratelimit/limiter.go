package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Smoothness knobs. The bucket holds burstTime of traffic: that is the
// largest spike production can see above the configured rate, in any
// window, and the size of the pieces big reads and writes are cut into.
// 50 ms is short next to anything a DBA watches (1 s graphs, query
// latencies of a busy site) yet long enough that a piece is thousands of
// packets, so the sleeps cost nothing. Below 80 KiB/s, 50 ms would be less
// than minBurst: one page, the smallest I/O worth a syscall and a timer, and
// at such rates still a burst no link notices.
const (
	burstTime = 50 * time.Millisecond
	minBurst  = 4 << 10
)

// Burst is the bucket size the Limiter uses for rate r: r × 50 ms, at least
// 4 KiB; 0 when r is unlimited.
func Burst(r Rate) int64 {
	if r <= 0 {
		return 0
	}
	b := int64(float64(r) * burstTime.Seconds())
	if b < minBurst {
		b = minBurst
	}
	return b
}

// Limiter is a token bucket shared by many goroutines (parallel dump
// threads, parallel uploads): the sum of what they all pass stays under the
// rate. A nil *Limiter, and a Limiter at rate 0, do not limit.
//
// Waiters are served in the order they ask: each request takes its tokens
// at once, driving the bucket into debt, and sleeps until the debt is paid.
// So there is no thundering herd of sleepers racing for the same tokens and
// no waiter starves behind a stream of small requests.
type Limiter struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu     sync.Mutex
	rate   Rate
	burst  int64
	tokens float64   // may be negative: the debt of requests still sleeping
	last   time.Time // when tokens was last brought up to date
	// changed is cancelled by SetRate, waking sleepers so that they
	// re-queue at the new rate: raising the rate at run time (say from
	// SIGUSR2) must not leave a thread asleep for a wait computed at the
	// old one.
	changed       context.Context
	cancelChanged context.CancelFunc
}

// New returns a Limiter for rate r (0: unlimited until SetRate) on the real,
// monotonic clock.
func New(r Rate) *Limiter {
	return NewWithClock(r, time.Now, sleepCtx)
}

// NewWithClock is New with an injected clock, for tests: now tells the time
// and sleep waits d or until ctx is done, returning ctx's error then.
func NewWithClock(r Rate, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) *Limiter {
	l := &Limiter{now: now, sleep: sleep, last: now()}
	l.changed, l.cancelChanged = context.WithCancel(context.Background())
	l.setLocked(r)
	// tokens starts at 0, not full: a snapshot that starts at 02:00 does
	// not open with a 50 ms burst either.
	return l
}

// sleepCtx is the real sleep: time.Now and timers both use the monotonic
// clock, so a wall-clock step (NTP, DST) neither stalls nor releases us.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Rate is the current rate.
func (l *Limiter) Rate() Rate {
	if l == nil {
		return Unlimited
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Burst is the current bucket size: the largest piece WaitN grants at once
// and the size Reader and Writer cut I/O into; 0 when unlimited.
func (l *Limiter) Burst() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.burst
}

// SetRate changes the rate at run time; 0 lifts the limit. Goroutines
// asleep in WaitN wake and wait again at the new rate.
func (l *Limiter) SetRate(r Rate) {
	if l == nil {
		return
	}
	if r < 0 {
		r = Unlimited
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r == l.rate {
		return
	}
	l.advance()
	l.setLocked(r)
	l.cancelChanged()
	l.changed, l.cancelChanged = context.WithCancel(context.Background())
}

func (l *Limiter) setLocked(r Rate) {
	if r < 0 {
		r = Unlimited
	}
	l.rate, l.burst = r, Burst(r)
	if l.tokens > float64(l.burst) {
		l.tokens = float64(l.burst)
	}
	if r == Unlimited {
		// Nobody owes anything any more; when a limit comes back it
		// starts from an empty bucket, like New.
		l.tokens = 0
	}
}

// advance brings tokens up to now at the current rate. Called with mu held.
func (l *Limiter) advance() {
	now := l.now()
	if d := now.Sub(l.last); d > 0 && l.rate > 0 {
		l.tokens += float64(l.rate) * d.Seconds()
		if l.tokens > float64(l.burst) {
			l.tokens = float64(l.burst)
		}
	}
	// A clock that went backwards (only an injected one can) just
	// restarts from here.
	l.last = now
}

// WaitN blocks until n more bytes may pass, or ctx is done (then it returns
// ctx's error and gives back the piece it was waiting for). n larger than the burst
// is granted in burst-sized pieces, each when its turn comes, so no spike
// above the burst ever appears; the caller that wants to send the bytes as
// they are granted (Writer does) should call WaitN once per piece.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for left := int64(n); left > 0; {
		piece, err := l.wait(ctx, left)
		if err != nil {
			return err
		}
		left -= piece
	}
	return nil
}

// wait grants one piece of at most the burst out of n and returns its size.
func (l *Limiter) wait(ctx context.Context, n int64) (int64, error) {
	for {
		l.mu.Lock()
		if l.rate == Unlimited {
			l.mu.Unlock()
			return n, nil
		}
		l.advance()
		piece := min(n, l.burst)
		l.tokens -= float64(piece)
		var d time.Duration
		if l.tokens < 0 {
			// Round up, so that we never wake a hair early and run
			// ahead of the rate.
			d = time.Duration(-l.tokens/float64(l.rate)*float64(time.Second)) + 1
		}
		changed := l.changed
		l.mu.Unlock()
		if d == 0 {
			return piece, nil
		}

		sctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(changed, cancel)
		err := l.sleep(sctx, d)
		stop()
		cancel()
		if err == nil {
			return piece, nil
		}
		// Give the piece back: whoever queued behind us computed their
		// wait with our debt in it, so they now wake a little late, which
		// errs on the side of production.
		// After a change of rate every sleeper gives back and takes again,
		// which nets to nothing for the bucket.
		l.mu.Lock()
		l.tokens += float64(piece)
		if l.tokens > float64(l.burst) {
			l.tokens = float64(l.burst)
		}
		l.mu.Unlock()
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if changed.Err() == nil {
			// The sleep failed for another reason; only an injected
			// sleep can do that.
			return 0, err
		}
		// The rate changed: queue again at the new one.
	}
}
