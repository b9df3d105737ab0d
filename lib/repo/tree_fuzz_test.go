package repo_test

import (
	"path"
	"testing"

	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// FuzzParseTree feeds ParseTree, which reads tree manifests from the
// repository (untrusted: a restore must never be led outside its
// directory), arbitrary bytes: it must not panic, and whatever it
// accepts has only clean relative paths, parents first.
func FuzzParseTree(f *testing.F) {
	f.Add([]byte(`{"version":1,"time":"2026-01-01T00:00:00Z","entries":[{"path":".","type":"dir","mode":493,"mtime":"2026-01-01T00:00:00Z"},{"path":"a","type":"file","mode":420,"mtime":"2026-01-01T00:00:00Z","size":0}]}`))
	f.Add([]byte(`{"version":1,"entries":[{"path":"../etc/passwd","type":"file"}]}`))
	f.Add([]byte(`{"version":1,"entries":[{"path":".","type":"dir"},{"path":"l","type":"symlink","target":"/"},{"path":"l/x","type":"file"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, err := repo.ParseTree(b, ids.Hash(b))
		if err != nil {
			return
		}
		seen := map[string]string{}
		for _, e := range tm.Entries {
			if e.Path == "" || e.Path[0] == '/' || e.Path == ".." || len(e.Path) >= 3 && e.Path[:3] == "../" {
				t.Fatalf("accepted path %q", e.Path)
			}
			if e.Path != "." && seen[path.Dir(e.Path)] != repo.TreeDir {
				t.Fatalf("accepted %q before its directory", e.Path)
			}
			seen[e.Path] = e.Type
		}
	})
}
