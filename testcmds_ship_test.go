package dr_test

import (
	"bytes"
	"encoding/json"
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// ship-added FILE MAXPCT
// reads the JSON dr-ship put --json printed (saved to FILE) and fails
// when the put added more than MAXPCT percent of the stream's bytes.
func cmdShipAdded(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: ship-added FILE MAXPCT")
	}
	var out struct {
		Size       int64 `json:"size"`
		AddedBytes int64 `json:"added_bytes"`
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(json.Unmarshal(b, &out))
	pct, err := strconv.ParseFloat(args[1], 64)
	ts.Check(err)
	got := 100 * float64(out.AddedBytes) / float64(out.Size)
	ts.Logf("put added %d of %d bytes (%.2f%%)", out.AddedBytes, out.Size, got)
	if out.Size == 0 || got > pct {
		ts.Fatalf("put added %d of %d bytes (%.2f%%), more than %v%%", out.AddedBytes, out.Size, got, pct)
	}
}

// ship-flip-pack REPO
// flips one byte inside the first blob of the biggest pack of the
// directory repository REPO.
func cmdShipFlipPack(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: ship-flip-pack REPO")
	}
	var biggest string
	var size int64
	err := filepath.WalkDir(filepath.Join(ts.MkAbs(args[0]), "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
		return err
	})
	ts.Check(err)
	if biggest == "" {
		ts.Fatalf("no pack in %s", args[0])
	}
	ts.Check(os.Chmod(biggest, 0o600))
	f, err := os.OpenFile(biggest, os.O_RDWR, 0)
	ts.Check(err)
	defer f.Close()
	b := []byte{0}
	_, err = f.ReadAt(b, 1000)
	ts.Check(err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, 1000)
	ts.Check(err)
	ts.Logf("flipped byte 1000 of %s", biggest)
}

// tree-equal A B
// fails unless the trees A and B hold the same directories, files
// (content, permission bits, modification time) and symbolic links.
func cmdTreeEqual(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: tree-equal A B")
	}
	type node struct {
		mode fs.FileMode
		mt   int64
		data []byte
	}
	walk := func(root string) map[string]node {
		m := map[string]node{}
		ts.Check(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			n := node{mode: fi.Mode()}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				t, err := os.Readlink(p)
				if err != nil {
					return err
				}
				n.data = []byte(t)
			case fi.Mode().IsRegular():
				n.mt = fi.ModTime().UnixNano()
				if n.data, err = os.ReadFile(p); err != nil {
					return err
				}
			default:
				n.mt = fi.ModTime().UnixNano()
			}
			m[rel] = n
			return nil
		}))
		return m
	}
	a, b := walk(ts.MkAbs(args[0])), walk(ts.MkAbs(args[1]))
	var diffs []string
	for p, na := range a {
		nb, ok := b[p]
		switch {
		case !ok:
			diffs = append(diffs, p+": missing in "+args[1])
		case na.mode != nb.mode:
			diffs = append(diffs, p+": mode "+na.mode.String()+" vs "+nb.mode.String())
		case na.mt != nb.mt:
			diffs = append(diffs, p+": mtime differs")
		case !bytes.Equal(na.data, nb.data):
			diffs = append(diffs, p+": content differs")
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, p+": missing in "+args[0])
		}
	}
	if neg {
		if len(diffs) == 0 {
			ts.Fatalf("trees are equal")
		}
		return
	}
	if len(diffs) > 0 {
		ts.Fatalf("trees differ:\n%s", diffs)
	}
}

// minio-start DIR
// starts a MinIO server (scripts/minio) with its data under DIR, sets
// AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_REGION for the rest of the script, and stops it when the script
// ends, whatever the outcome.
func cmdMinioStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: minio-start DIR")
	}
	dir := ts.MkAbs(args[0])
	script := lookPath(ts, "minio")
	run := func(args ...string) string {
		cmd := exec.Command(script, args...)
		cmd.Env = environ(ts)
		// scripts/ comes first on the script's PATH, so the script would
		// find itself as "minio": name the server binary.
		bin := os.Getenv("MINIO_BIN")
		if bin == "" {
			bin, _ = exec.LookPath("minio")
		}
		if bin == "" {
			if p := filepath.Join(build.Default.GOPATH, "bin", "minio"); fileExists(p) {
				bin = p
			}
		}
		if bin == "" {
			ts.Fatalf("no minio binary: go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c")
		}
		cmd.Env = append(cmd.Env, "MINIO_BIN="+bin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			ts.Fatalf("minio %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	run("start", dir)
	ts.Defer(func() { run("stop", dir) })
	for _, line := range strings.Split(run("env", dir), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			ts.Setenv(k, strings.Trim(v, `'"`))
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
