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
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return PathError("write", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return PathError("fsync", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return SyncDir(dir)
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
