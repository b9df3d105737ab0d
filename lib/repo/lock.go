package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
)

// Locks keep prune from removing what a running put is about to name.
// A put (and a binlog put, per file) holds a shared lock from before it
// looks up the index until its manifest is saved; prune holds an
// exclusive one for its whole run. A backend has no atomic "create if
// absent" for locks, so taking one is: save our lock object, then list
// the others; on a conflict remove ours and fail. Two that race both
// see each other and both back off, which is safe.
//
// A lock holder refreshes its object every LockRefresh. A lock is stale,
// and ignored, when its time is older than LockStale, or when it was
// taken on this host by a process that is gone: a crashed prune or put
// cannot block the repository for longer than LockStale.
const (
	LockRefresh = 5 * time.Minute
	LockStale   = 30 * time.Minute
)

// LockInfo is a lock object's content.
type LockInfo struct {
	Exclusive bool      `json:"exclusive"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Time      time.Time `json:"time"` // taken or last refreshed
	Command   string    `json:"command,omitempty"`
	Name      string    `json:"-"` // the object's name
}

func (l LockInfo) String() string {
	kind := "shared"
	if l.Exclusive {
		kind = "exclusive"
	}
	s := fmt.Sprintf("%s lock %s of pid %d on %s, refreshed %s", kind, l.Name, l.PID, l.Host, l.Time.Format(time.RFC3339))
	if l.Command != "" {
		s += " (" + l.Command + ")"
	}
	return s
}

// Stale reports whether l no longer holds: too old, or of a dead process
// of this host.
func (l LockInfo) Stale(now time.Time) bool {
	if now.Sub(l.Time) > LockStale {
		return true
	}
	if host, _ := os.Hostname(); host == l.Host && l.PID > 0 {
		if err := syscall.Kill(l.PID, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
	}
	return false
}

// LockedError is the error of a lock that conflicts with another.
type LockedError struct {
	Holder LockInfo
}

func (e *LockedError) Error() string { return "repository is locked: " + e.Holder.String() }

// Lock is a held lock; Unlock releases it.
type Lock struct {
	r    *Repository
	info LockInfo
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Lock takes a shared or an exclusive lock, naming command in it. It
// fails with a *LockedError when a lock that is not stale conflicts:
// any other lock for exclusive, an exclusive one for shared. While held,
// the lock object is refreshed every LockRefresh.
func (r *Repository) Lock(ctx context.Context, exclusive bool, command string) (*Lock, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	host, _ := os.Hostname()
	kind := "shared"
	if exclusive {
		kind = "exclusive"
	}
	info := LockInfo{Exclusive: exclusive, Host: host, PID: os.Getpid(), Time: time.Now().UTC(), Command: command,
		Name: kind + "-" + hex.EncodeToString(rnd[:])}
	l := &Lock{r: r, info: info, stop: make(chan struct{}), done: make(chan struct{})}
	if err := l.save(ctx); err != nil {
		return nil, fmt.Errorf("lock %s: %w", r.be.Location(), err)
	}
	locks, err := r.Locks(ctx)
	if err != nil {
		r.be.Remove(context.WithoutCancel(ctx), l.handle())
		return nil, err
	}
	now := time.Now()
	for _, o := range locks {
		if o.Name == info.Name || o.Stale(now) {
			continue
		}
		if exclusive || o.Exclusive {
			r.be.Remove(context.WithoutCancel(ctx), l.handle())
			return nil, &LockedError{Holder: o}
		}
	}
	go l.refresh()
	return l, nil
}

func (l *Lock) handle() backend.Handle { return backend.Handle{Type: backend.Lock, Name: l.info.Name} }

func (l *Lock) save(ctx context.Context) error {
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	return l.r.be.Save(ctx, l.handle(), bytes.NewReader(b), int64(len(b)))
}

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(LockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.info.Time = time.Now().UTC()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			l.save(ctx) // best effort: a lock that cannot be refreshed goes stale
			cancel()
		}
	}
}

// Unlock removes the lock object.
func (l *Lock) Unlock(ctx context.Context) error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		err = l.r.be.Remove(context.WithoutCancel(ctx), l.handle())
		if backend.IsNotExist(err) {
			err = nil
		}
	})
	return err
}

// Locks lists the lock objects. One that cannot be read or parsed is
// reported as stale-looking (zero time), so garbage never blocks.
func (r *Repository) Locks(ctx context.Context) ([]LockInfo, error) {
	names, err := r.List(ctx, backend.Lock)
	if err != nil {
		return nil, err
	}
	var out []LockInfo
	for _, n := range names {
		h := backend.Handle{Type: backend.Lock, Name: n}
		b, err := loadAll(ctx, r.be, h, 64<<10)
		if backend.IsNotExist(err) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h, err)
		}
		var li LockInfo
		json.Unmarshal(b, &li) // garbage gives a zero time: stale
		li.Name = n
		out = append(out, li)
	}
	return out, nil
}

// RemoveStaleLocks removes the lock objects that are stale and returns
// how many.
func (r *Repository) RemoveStaleLocks(ctx context.Context) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	now := time.Now()
	for _, l := range locks {
		if l.Stale(now) {
			if err := r.be.Remove(ctx, backend.Handle{Type: backend.Lock, Name: l.Name}); err != nil && !backend.IsNotExist(err) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
