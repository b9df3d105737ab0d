// Package backend is the small storage interface a DR repository lives
// on: a directory, a far end over ssh, or an S3 bucket. It stores named,
// immutable objects and knows nothing of chunks, packs or manifests.
//
// The interface follows restic's: Save, Load with a callback, Stat, List,
// Remove. Every backend passes backendtest.Run.
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// FileType says what an object is; each type has its own namespace (a
// directory in the file backend, a key prefix in S3).
type FileType string

// The object types of a repository.
const (
	Pack     FileType = "pack"     // packs of compressed chunks, named by their BLAKE3
	Index    FileType = "index"    // index files: chunk id -> pack, offset, length
	Snapshot FileType = "snapshot" // snapshot manifests
	Binlog   FileType = "binlog"   // binlog file manifests
	Tree     FileType = "tree"     // directory tree manifests (dr-ship put --tree)
	Lock     FileType = "lock"     // locks of prune and put
	Config   FileType = "config"   // the one repository config; its Name is "config"
)

// Types lists every FileType, in the order a check walks them.
var Types = []FileType{Config, Index, Snapshot, Binlog, Tree, Lock, Pack}

// Overwritable reports whether Save may replace an existing object of
// type t. Only locks are refreshed in place; everything else is written
// once, because a reader must never see an object change under it.
func (t FileType) Overwritable() bool { return t == Lock }

// Valid reports whether t is one of the known types.
func (t FileType) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// Handle names one object.
type Handle struct {
	Type FileType
	Name string
}

// ConfigHandle is the handle of the repository config.
var ConfigHandle = Handle{Type: Config, Name: "config"}

func (h Handle) String() string {
	if h.Type == Config {
		return "config"
	}
	return string(h.Type) + " " + h.Name
}

// Valid says what is wrong with h, if anything. Names are restricted to
// characters that are safe as a file name, an S3 key and a shell word, so
// no backend has to escape them; packs need at least two leading hex
// digits, which the file backend uses as a fan-out directory.
func (h Handle) Valid() error {
	if !h.Type.Valid() {
		return fmt.Errorf("invalid object type %q", h.Type)
	}
	if h.Type == Config {
		if h.Name != "config" {
			return fmt.Errorf("invalid config name %q: the config is called \"config\"", h.Name)
		}
		return nil
	}
	if h.Name == "" || len(h.Name) > 200 || h.Name[0] == '.' || h.Name[0] == '-' {
		return fmt.Errorf("invalid %s name %q", h.Type, h.Name)
	}
	for i := 0; i < len(h.Name); i++ {
		c := h.Name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("invalid %s name %q: only letters, digits, '.', '_' and '-' are allowed", h.Type, h.Name)
		}
	}
	if h.Type == Pack && (len(h.Name) < 2 || !isHex(h.Name[0]) || !isHex(h.Name[1])) {
		return fmt.Errorf("invalid pack name %q: must start with two lowercase hex digits", h.Name)
	}
	return nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// FileInfo describes a stored object.
type FileInfo struct {
	Name string
	Size int64
}

// Backend stores the objects of one repository. Implementations are safe
// for concurrent use.
type Backend interface {
	// Location says where the repository is, for messages.
	Location() string

	// Save stores the size bytes of rd under h. It is atomic: a reader sees
	// the whole object or none, and a Save that fails (rd fails, holds
	// fewer or more than size bytes, the disk fills, ctx ends) leaves no
	// object. An existing object is never replaced unless h.Type is
	// Overwritable: Save then fails with an error matching ErrExists and
	// the object keeps its old content.
	//
	// The size is required because every object is built in memory first
	// (packs, index files, manifests) and because S3 and the ssh protocol
	// want the length before the bytes.
	Save(ctx context.Context, h Handle, rd io.Reader, size int64) error

	// Load calls fn with a reader of length bytes of the object starting at
	// offset; length 0 means to the end. A range that does not lie within
	// the object is an error (matching io.ErrUnexpectedEOF) and fn is not
	// called. fn's error is returned unchanged. fn must not keep the reader.
	Load(ctx context.Context, h Handle, length int, offset int64, fn func(rd io.Reader) error) error

	// Stat returns the size of the object.
	Stat(ctx context.Context, h Handle) (FileInfo, error)

	// List calls fn for each object of type t, in no particular order. An
	// error from fn stops the listing and is returned unchanged.
	List(ctx context.Context, t FileType, fn func(FileInfo) error) error

	// Remove deletes the object.
	Remove(ctx context.Context, h Handle) error

	// Close releases what the backend holds (connections, a child process).
	Close() error
}

// ErrNotExist is matched (errors.Is) by the error of an operation on an
// object that is not there. It is fs.ErrNotExist, so os errors match it.
var ErrNotExist = fs.ErrNotExist

// ErrExists is matched by the error of a Save that would replace an
// object. It is fs.ErrExist, so os errors match it.
var ErrExists = fs.ErrExist

// ErrNotWritable is matched by the error of a write to a repository that
// is read-only or that we lack the permission to write (exit status 3).
var ErrNotWritable = errors.New("repository is not writable")

// IsNotExist reports whether err says an object does not exist.
func IsNotExist(err error) bool { return errors.Is(err, ErrNotExist) }

// IsExists reports whether err says Save refused to replace an object.
func IsExists(err error) bool { return errors.Is(err, ErrExists) }

// NotWritableError is the error of a write refused by the storage itself.
type NotWritableError struct {
	Location string // the repository
	Err      error  // what the storage said
}

func (e *NotWritableError) Error() string {
	return fmt.Sprintf("repository %s is not writable: %v", e.Location, e.Err)
}

// Unwrap lets errors.Is match ErrNotWritable as well as the cause (say
// syscall.EROFS).
func (e *NotWritableError) Unwrap() []error { return []error{ErrNotWritable, e.Err} }

// CheckRange validates a Load range against an object of size bytes and
// returns the length to read; backends share it so all of them agree on
// what a bad range is.
func CheckRange(h Handle, size int64, length int, offset int64) (int64, error) {
	if length < 0 || offset < 0 {
		return 0, fmt.Errorf("load %s: invalid range: %d bytes at offset %d", h, length, offset)
	}
	if offset > size || int64(length) > size-offset {
		return 0, fmt.Errorf("load %s: %d bytes at offset %d is past the end of a %d-byte object: %w",
			h, length, offset, size, io.ErrUnexpectedEOF)
	}
	if length == 0 {
		return size - offset, nil
	}
	return int64(length), nil
}

// ContextReader returns a reader that stops with ctx's error once ctx
// ends, so a long copy in a backend can be cancelled between reads.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// ErrShortObject means a range load asked for bytes past the end of an
// object: the object is shorter than what points into it says, which is
// corruption, not an I/O failure a retry would cure.
var ErrShortObject = errors.New("object is shorter than the range asked for")

// ReadRange loads length bytes of h at offset into a new slice. A range
// past the end of the object gives an error wrapping ErrShortObject.
func ReadRange(ctx context.Context, be Backend, h Handle, offset int64, length int) ([]byte, error) {
	b := make([]byte, length)
	if length == 0 {
		return b, nil // Load's length 0 means "to the end"
	}
	called := false
	err := be.Load(ctx, h, length, offset, func(rd io.Reader) error {
		called = true
		_, err := io.ReadFull(rd, b)
		return err
	})
	if err != nil && !called && errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: %w", ErrShortObject, err)
	}
	return b, err
}
