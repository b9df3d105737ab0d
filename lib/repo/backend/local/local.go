// Package local is the file backend: a repository in a directory.
//
// Layout under the root:
//
//	config                  the repository config
//	data/<2 hex>/<name>     packs, fanned out by the first two hex digits of
//	                        their name so no directory holds more than a few
//	                        hundred entries per terabyte
//	index/<name>            index files
//	snapshots/<name>        snapshot manifests
//	binlogs/<name>          binlog file manifests
//	trees/<name>            tree manifests
//	locks/<name>            locks
//
// Every object is written to a temporary name (a dot file in the same
// directory, which List never shows), fsync'd, linked or renamed to its
// name and the directory fsync'd, so after a crash an object is either
// whole or absent. Immutable objects are linked rather than renamed: link
// fails when the name exists, which makes "never overwrite" atomic even
// between two processes saving the same name at once.
//
// Directories are created 0700 and objects 0400 (locks 0600): a snapshot
// holds the whole database, and an object is never modified in place.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dr-mysql/dr/lib/fsx"
	"github.com/dr-mysql/dr/lib/repo/backend"
)

// dirs maps each type to its directory under the root.
var dirs = map[backend.FileType]string{
	backend.Pack:     "data",
	backend.Index:    "index",
	backend.Snapshot: "snapshots",
	backend.Binlog:   "binlogs",
	backend.Tree:     "trees",
	backend.Lock:     "locks",
}

// Local is a repository in a directory. It is safe for concurrent use, by
// goroutines and by processes.
type Local struct {
	root string
}

var _ backend.Backend = (*Local)(nil)

// Open opens the repository at root, which must have the layout Create makes.
func Open(root string) (*Local, error) {
	root = filepath.Clean(root)
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no repository at %s: %w", root, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("repository %s is not a directory", root)
	}
	if fi, err := os.Stat(filepath.Join(root, dirs[backend.Pack])); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a repository: no %s directory: %w", root, dirs[backend.Pack], fs.ErrNotExist)
	}
	return &Local{root: root}, nil
}

// Create makes the layout of a repository at root, creating root when
// missing, and opens it. On a directory that already has the layout it
// only adds what is missing; a non-empty directory without the layout is
// refused, so a typo never scatters a repository among other files.
func Create(root string) (*Local, error) {
	root = filepath.Clean(root)
	ents, err := os.ReadDir(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := mkdir(root); err != nil {
			return nil, notWritable(root, fmt.Errorf("create repository %s: %w", root, err))
		}
	case err != nil:
		return nil, notWritable(root, fmt.Errorf("create repository %s: %w", root, err))
	case len(ents) > 0:
		if fi, err := os.Stat(filepath.Join(root, dirs[backend.Pack])); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("create repository: %s is not empty and not a repository: %w", root, fs.ErrExist)
		}
	}
	for _, t := range backend.Types {
		d, ok := dirs[t]
		if !ok {
			continue
		}
		if err := mkdir(filepath.Join(root, d)); err != nil {
			return nil, notWritable(root, fmt.Errorf("create repository %s: %w", root, err))
		}
	}
	for i := 0; i < 256; i++ {
		if err := mkdir(filepath.Join(root, dirs[backend.Pack], fmt.Sprintf("%02x", i))); err != nil {
			return nil, notWritable(root, fmt.Errorf("create repository %s: %w", root, err))
		}
	}
	return &Local{root: root}, nil
}

// mkdir creates dir unless it exists, and makes its entry durable.
func mkdir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err := mkdir(filepath.Dir(dir)); err != nil {
			return err
		}
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return err
	}
	return fsx.SyncDir(filepath.Dir(dir))
}

// Location returns the root directory.
func (b *Local) Location() string { return b.root }

// Filename returns the file that holds h.
func (b *Local) Filename(h backend.Handle) (string, error) {
	if err := h.Valid(); err != nil {
		return "", err
	}
	if h.Type == backend.Config {
		return filepath.Join(b.root, "config"), nil
	}
	if h.Type == backend.Pack {
		return filepath.Join(b.root, dirs[h.Type], h.Name[:2], h.Name), nil
	}
	return filepath.Join(b.root, dirs[h.Type], h.Name), nil
}

// Save stores rd under h; see backend.Backend.
func (b *Local) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) (err error) {
	path, err := b.Filename(h)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("save %s: invalid size %d", h, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+h.Name+".tmp-*")
	if errors.Is(err, fs.ErrNotExist) && h.Type != backend.Config {
		// A repository made by hand or by an older version may miss a
		// directory; make it rather than fail.
		if err = mkdir(dir); err == nil {
			f, err = os.CreateTemp(dir, "."+h.Name+".tmp-*")
		}
	}
	if err != nil {
		return b.saveErr(h, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()

	n, err := io.Copy(f, io.LimitReader(backend.ContextReader(ctx, rd), size))
	if err != nil {
		return b.saveErr(h, err)
	}
	if n < size {
		return fmt.Errorf("save %s: the data ended after %d of %d bytes: %w", h, n, size, io.ErrUnexpectedEOF)
	}
	var one [1]byte
	if m, _ := io.ReadFull(rd, one[:]); m > 0 {
		return fmt.Errorf("save %s: the data holds more than the %d bytes announced", h, size)
	}
	perm := os.FileMode(0o400)
	if h.Type.Overwritable() {
		perm = 0o600
	}
	if err := f.Chmod(perm); err != nil {
		return b.saveErr(h, err)
	}
	if err := f.Sync(); err != nil {
		return b.saveErr(h, err)
	}
	if err := f.Close(); err != nil {
		return b.saveErr(h, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.Type.Overwritable() {
		if err := os.Rename(tmp, path); err != nil {
			return b.saveErr(h, err)
		}
	} else {
		if err := publish(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("save %s: %s already exists: %w", h, path, backend.ErrExists)
			}
			return b.saveErr(h, err)
		}
	}
	return b.saveErr(h, fsx.SyncDir(dir))
}

// publish gives tmp the name path unless path exists. link(2) does that
// atomically; on file systems without hard links it falls back to a check
// then a rename, whose race can only matter between two processes saving
// the same name, which for content-addressed names means the same bytes.
func publish(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return os.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		os.Remove(tmp)
		return err
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		if _, serr := os.Lstat(path); serr == nil {
			os.Remove(tmp)
			return &fs.PathError{Op: "save", Path: path, Err: fs.ErrExist}
		}
		return os.Rename(tmp, path)
	}
	return err
}

// saveErr adds which object failed and tells a read-only or forbidden
// repository apart from other failures.
func (b *Local) saveErr(h backend.Handle, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return notWritable(b.root, fmt.Errorf("save %s: %w", h, err))
}

func notWritable(root string, err error) error {
	if errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return &backend.NotWritableError{Location: root, Err: err}
	}
	return err
}

// Load reads a range of h; see backend.Backend.
func (b *Local) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	path, err := b.Filename(h)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("load %s: %w", h, err)
	}
	n, err := backend.CheckRange(h, fi.Size(), length, offset)
	if err != nil {
		return err
	}
	return fn(backend.ContextReader(ctx, io.NewSectionReader(f, offset, n)))
}

// Stat returns the size of h.
func (b *Local) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	path, err := b.Filename(h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return backend.FileInfo{}, fmt.Errorf("stat %s: %w", h, err)
	}
	return backend.FileInfo{Name: h.Name, Size: fi.Size()}, nil
}

// List calls fn for each object of type t.
func (b *Local) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if !t.Valid() {
		return fmt.Errorf("list: invalid object type %q", t)
	}
	if t == backend.Config {
		fi, err := b.Stat(ctx, backend.ConfigHandle)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(fi)
	}
	dir := filepath.Join(b.root, dirs[t])
	if t != backend.Pack {
		return listDir(ctx, dir, fn)
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list %s: %w", t, err)
	}
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() || len(n) != 2 || !isHex(n[0]) || !isHex(n[1]) {
			continue
		}
		if err := listDir(ctx, filepath.Join(dir, e.Name()), fn); err != nil {
			return err
		}
	}
	return nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// listDir calls fn for each object in dir, skipping temporary files.
func listDir(ctx context.Context, dir string, fn func(backend.FileInfo) error) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		if err := fn(backend.FileInfo{Name: e.Name(), Size: fi.Size()}); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes h and makes the deletion durable.
func (b *Local) Remove(ctx context.Context, h backend.Handle) error {
	path, err := b.Filename(h)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return notWritable(b.root, fmt.Errorf("remove %s: %w", h, err))
	}
	return notWritable(b.root, fsx.SyncDir(filepath.Dir(path)))
}

// Close does nothing: a directory holds no resources between calls.
func (b *Local) Close() error { return nil }
