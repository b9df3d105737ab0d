// Package fsx holds the few file-system moves that make writes durable:
// write to a temporary name, fsync, rename into place, fsync the
// directory. Every command that leaves a file behind uses them, so that a
// crash never leaves a file that looks whole when it is not.
package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path through a temporary file that is
// fsync'd and renamed into place, then fsyncs the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := CreateAtomic(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return PathError("write", path, err)
	}
	return f.Commit()
}

// AtomicFile is a file written under a temporary name in its final
// directory and renamed into place by Commit: until then, and forever if
// the writer dies, no file by the final name appears.
type AtomicFile struct {
	*os.File
	path string
	perm os.FileMode
	done bool

	written, writeback int64 // bytes written; bytes handed to writeback
}

// WritebackStep is how many written bytes a writer of a large file lets
// pile up in the page cache before it starts their writeback
// (StartWriteback). Without it the file meets its whole write-out at the
// fsync that completes it, after the work is otherwise done; with it the
// disk writes while the writer produces.
const WritebackStep = 8 << 20

// Write writes to the temporary file, starting writeback of what was
// written before every WritebackStep bytes.
func (f *AtomicFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.written += int64(n)
	if f.written-f.writeback >= WritebackStep {
		StartWriteback(f.File, f.writeback, f.written-f.writeback)
		f.writeback = f.written
	}
	return n, err
}

// CreateAtomic starts writing path as an AtomicFile.
func CreateAtomic(path string, perm os.FileMode) (*AtomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	return &AtomicFile{File: f, path: path, perm: perm}, nil
}

// Commit fsyncs the file, renames it into place and fsyncs the
// directory. After a failed Commit the temporary file is gone.
func (f *AtomicFile) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	err := f.Chmod(f.perm)
	if err == nil {
		if err = f.Sync(); err != nil {
			err = PathError("fsync", f.path, err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = PathError("close", f.path, cerr)
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort closes and removes the temporary file. It does nothing after
// Commit, so it can be deferred.
func (f *AtomicFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// SyncDir fsyncs a directory so that entries created, renamed or removed
// in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// PathError says which operation on which file failed, unless err already
// does (an *fs.PathError names both).
func PathError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// StartWriteback asks the kernel to start writing back n bytes of f at
// off, without waiting: a later fsync then has little left to do. It is a
// hint; where the system has no such call it does nothing, and a failure
// surfaces at the next fsync.
func StartWriteback(f *os.File, off, n int64) {
	startWriteback(f, off, n)
}
