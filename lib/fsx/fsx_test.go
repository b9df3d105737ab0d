package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "two" {
		t.Fatalf("read back %q, %v", b, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("%d entries left in the directory, want 1", len(ents))
	}
}

func TestWriteFileAtomicFailures(t *testing.T) {
	// A missing directory.
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "no", "x"), []byte("x"), 0o644); err == nil {
		t.Error("no error for a missing directory")
	}
	// The target is a non-empty directory: the rename fails and the
	// temporary file goes.
	dir := t.TempDir()
	target := filepath.Join(dir, "x")
	os.MkdirAll(filepath.Join(target, "y"), 0o755)
	if err := WriteFileAtomic(target, []byte("x"), 0o644); err == nil {
		t.Error("no error when the target is a directory")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary file left behind: %d entries", len(ents))
	}
}
