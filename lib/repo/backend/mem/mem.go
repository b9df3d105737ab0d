// Package mem is a backend in memory, for tests of the layers above (the
// index, manifests, the dr-ship command) that need a repository without a
// disk, and for injecting failures and counting requests.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/dr-mysql/dr/lib/repo/backend"
)

// Mem holds objects in a map. It is safe for concurrent use.
type Mem struct {
	mu      sync.Mutex
	objects map[backend.Handle][]byte
	loads   int
}

var _ backend.Backend = (*Mem)(nil)

// New returns an empty repository.
func New() *Mem { return &Mem{objects: map[backend.Handle][]byte{}} }

// Location says the repository is in memory.
func (m *Mem) Location() string { return "memory" }

// Save stores rd under h; see backend.Backend.
func (m *Mem) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) error {
	if err := h.Valid(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("save %s: invalid size %d", h, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(backend.ContextReader(ctx, rd), size))
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	if n < size {
		return fmt.Errorf("save %s: the data ended after %d of %d bytes: %w", h, n, size, io.ErrUnexpectedEOF)
	}
	var one [1]byte
	if k, _ := io.ReadFull(rd, one[:]); k > 0 {
		return fmt.Errorf("save %s: the data holds more than the %d bytes announced", h, size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[h]; ok && !h.Type.Overwritable() {
		return fmt.Errorf("save %s: %w", h, backend.ErrExists)
	}
	m.objects[h] = buf.Bytes()
	return nil
}

// Load reads a range of h; see backend.Backend.
func (m *Mem) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	data, err := m.get(ctx, h, "load")
	if err != nil {
		return err
	}
	n, err := backend.CheckRange(h, int64(len(data)), length, offset)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.loads++
	m.mu.Unlock()
	return fn(bytes.NewReader(data[offset : offset+n]))
}

func (m *Mem) get(ctx context.Context, h backend.Handle, op string) ([]byte, error) {
	if err := h.Valid(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.objects[h]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", op, h, backend.ErrNotExist)
	}
	return data, nil
}

// Stat returns the size of h.
func (m *Mem) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	data, err := m.get(ctx, h, "stat")
	if err != nil {
		return backend.FileInfo{}, err
	}
	return backend.FileInfo{Name: h.Name, Size: int64(len(data))}, nil
}

// List calls fn for each object of type t, without holding the lock, so
// fn may call the backend.
func (m *Mem) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if !t.Valid() {
		return fmt.Errorf("list: invalid object type %q", t)
	}
	var infos []backend.FileInfo
	m.mu.Lock()
	for h, data := range m.objects {
		if h.Type == t {
			infos = append(infos, backend.FileInfo{Name: h.Name, Size: int64(len(data))})
		}
	}
	m.mu.Unlock()
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes h.
func (m *Mem) Remove(ctx context.Context, h backend.Handle) error {
	if _, err := m.get(ctx, h, "remove"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, h)
	return nil
}

// Close does nothing.
func (m *Mem) Close() error { return nil }

// Bytes returns the stored bytes of h (nil when absent). Tests change
// them to simulate corruption.
func (m *Mem) Bytes(h backend.Handle) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.objects[h]
}

// Put stores data under h with no checks, replacing what is there: for
// tests that plant a corrupt or truncated object.
func (m *Mem) Put(h backend.Handle, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[h] = data
}

// Loads returns how many Loads reached an object, to check how many
// round trips an operation costs.
func (m *Mem) Loads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads
}
