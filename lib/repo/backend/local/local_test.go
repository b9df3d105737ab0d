package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

func TestBackend(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		b, err := Create(filepath.Join(t.TempDir(), "repo"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func packOf(data []byte) backend.Handle {
	return backend.Handle{Type: backend.Pack, Name: ids.Hash(data).String()}
}

// tempFiles lists the dot files under root: leftovers of failed saves.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") && path != root {
			found = append(found, path)
		}
		return nil
	})
	return found
}

func TestLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "repo")
	b, err := Create(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte("pack bytes")
	ph := packOf(data)
	for h, want := range map[backend.Handle]string{
		ph:                                   "data/" + ph.Name[:2] + "/" + ph.Name,
		backend.ConfigHandle:                 "config",
		{Type: backend.Index, Name: "i1"}:    "index/i1",
		{Type: backend.Snapshot, Name: "s1"}: "snapshots/s1",
		{Type: backend.Binlog, Name: "mysql-bin.1"}: "binlogs/mysql-bin.1",
		{Type: backend.Tree, Name: "t1"}:            "trees/t1",
		{Type: backend.Lock, Name: "l1"}:            "locks/l1",
	} {
		if err := b.Save(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(root, want))
		if err != nil {
			t.Fatalf("%v not at %s: %v", h, want, err)
		}
		perm := fs.FileMode(0o400)
		if h.Type == backend.Lock {
			perm = 0o600
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s has mode %v, want %v", want, fi.Mode().Perm(), perm)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "data", "ff")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("data/ff: %v, %v", fi, err)
	}
	if tmp := tempFiles(t, root); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// Create on an existing repository keeps it; Open finds it.
	if _, err := Create(root); err != nil {
		t.Fatalf("Create on an existing repository: %v", err)
	}
	if _, err := Open(root); err != nil {
		t.Fatalf("Open: %v", err)
	}
}

func TestOpenAndCreateRefuse(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !backend.IsNotExist(err) || !strings.Contains(err.Error(), "no repository at") {
		t.Errorf("Open of a missing directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a repository") {
		t.Errorf("Open of a non-repository: %v", err)
	}
	if _, err := Create(dir); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Create in a non-empty directory: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "precious.txt")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open of a file: %v", err)
	}
}

// A pack directory that went missing is made again rather than failing.
func TestMissingPackDirIsRecreated(t *testing.T) {
	root := t.TempDir()
	b, err := Create(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("x")
	h := packOf(data)
	os.Remove(filepath.Join(root, "data", h.Name[:2]))
	if err := b.Save(context.Background(), h, bytes.NewReader(data), 1); err != nil {
		t.Fatal(err)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips
// when this process may not mount (not root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

func TestDiskFull(t *testing.T) {
	root := mountTmpfs(t, "size=4m,mode=0700")
	b, err := Create(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	small := backendtest.Data("fits", 1<<20)
	if err := b.Save(ctx, packOf(small), bytes.NewReader(small), int64(len(small))); err != nil {
		t.Fatal(err)
	}
	big := backendtest.Data("too big", 8<<20)
	h := packOf(big)
	err = b.Save(ctx, h, bytes.NewReader(big), int64(len(big)))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Save on a full disk: %v, want ENOSPC", err)
	}
	t.Logf("error: %v", err)
	if _, err := b.Stat(ctx, h); !backend.IsNotExist(err) {
		t.Errorf("Stat after a failed Save: %v", err)
	}
	if tmp := tempFiles(t, root); len(tmp) > 0 {
		t.Errorf("temporary files left after ENOSPC: %v", tmp)
	}
	// The space is given back: the next object that fits is stored.
	again := backendtest.Data("fits again", 1<<20)
	if err := b.Save(ctx, packOf(again), bytes.NewReader(again), int64(len(again))); err != nil {
		t.Fatalf("Save after ENOSPC: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	var root string
	if os.Geteuid() == 0 {
		// Root ignores permission bits: use a read-only mount.
		root = mountTmpfs(t, "size=4m,mode=0700")
	} else {
		root = t.TempDir()
	}
	b, err := Create(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := []byte("stored before")
	oh := packOf(old)
	if err := b.Save(ctx, oh, bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	want := syscall.EACCES
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "-o", "remount,ro", root).CombinedOutput(); err != nil {
			t.Skipf("cannot remount read-only: %v: %s", err, out)
		}
		want = syscall.EROFS
	} else {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if d.IsDir() {
				os.Chmod(path, 0o500)
			}
			return nil
		})
		t.Cleanup(func() {
			filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if d.IsDir() {
					os.Chmod(path, 0o700)
				}
				return nil
			})
		})
	}
	data := []byte("new")
	err = b.Save(ctx, packOf(data), bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, backend.ErrNotWritable) || !errors.Is(err, want) {
		t.Fatalf("Save to a read-only repository: %v, want ErrNotWritable and %v", err, want)
	}
	if !strings.Contains(err.Error(), "repository "+root+" is not writable") {
		t.Errorf("error does not say the repository is not writable: %v", err)
	}
	t.Logf("error: %v", err)
	if err := b.Remove(ctx, oh); !errors.Is(err, backend.ErrNotWritable) {
		t.Errorf("Remove in a read-only repository: %v", err)
	}
	// Reading still works: get and check run on a read-only copy.
	var got []byte
	if err := b.Load(ctx, oh, 0, 0, func(r io.Reader) error { got, err = io.ReadAll(r); return err }); err != nil || !bytes.Equal(got, old) {
		t.Errorf("Load from a read-only repository: %q, %v", got, err)
	}
	if _, err := Create(filepath.Join(root, "sub")); !errors.Is(err, backend.ErrNotWritable) {
		t.Errorf("Create under a read-only directory: %v", err)
	}
}

// A crash between link and unlink leaves a temporary file; List must not
// show it, and it must not be mistaken for the object.
func TestListSkipsTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	b, err := Create(root)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "snapshots", ".s1.tmp-123"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(root, "data", "ab", ".abcd.tmp-9"), []byte("half"), 0o600)
	os.Mkdir(filepath.Join(root, "data", "zz"), 0o700)
	os.WriteFile(filepath.Join(root, "data", "zz", "zzzz"), []byte("stray"), 0o600)
	for _, ft := range backend.Types {
		err := b.List(context.Background(), ft, func(fi backend.FileInfo) error {
			t.Errorf("List %s shows %s", ft, fi.Name)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkSavePack(b *testing.B) {
	be, err := Create(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := backendtest.Data("bench", 16<<20)
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		i++
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := be.Save(context.Background(), packOf(data), bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
