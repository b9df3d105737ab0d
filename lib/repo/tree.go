package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// TreeManifest describes a directory tree (dr-ship put --tree): every
// directory, file and symbolic link under the root, parents before
// children, files as chunks cut like any stream. It is saved as a tree
// object named by the BLAKE3 of its JSON.
type TreeManifest struct {
	Version int               `json:"version"`
	Time    time.Time         `json:"time"`
	Meta    map[string]string `json:"meta,omitempty"`
	Entries []TreeEntry       `json:"entries"`
}

// The kinds of TreeEntry.
const (
	TreeDir     = "dir"
	TreeFile    = "file"
	TreeSymlink = "symlink"
)

// TreeEntry is one node of a tree.
type TreeEntry struct {
	Path   string     `json:"path"` // slash-separated, relative, clean; "." is the root
	Type   string     `json:"type"` // TreeDir, TreeFile, TreeSymlink
	Mode   uint32     `json:"mode"` // permission bits (and setuid, setgid, sticky)
	MTime  time.Time  `json:"mtime"`
	Size   int64      `json:"size,omitempty"`
	BLAKE3 ids.ID     `json:"blake3,omitzero"`
	Target string     `json:"target,omitempty"` // of a symlink
	Chunks []ChunkRef `json:"chunks,omitempty"`
}

func treeHandle(id ids.ID) backend.Handle {
	return backend.Handle{Type: backend.Tree, Name: id.String()}
}

// SaveTree stores t, whose chunks must be stored (Uploader.Flush), and
// returns its id.
func (r *Repository) SaveTree(ctx context.Context, t *TreeManifest) (ids.ID, error) {
	if err := t.validate(); err != nil {
		return ids.ID{}, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return ids.ID{}, err
	}
	b = append(b, '\n')
	id := ids.Hash(b)
	if err := r.be.Save(ctx, treeHandle(id), bytes.NewReader(b), int64(len(b))); err != nil && !backend.IsExists(err) {
		return ids.ID{}, fmt.Errorf("save tree %s: %w", id, err)
	}
	return id, nil
}

// LoadTree reads and checks tree manifest id. Paths that are not clean,
// relative and inside the tree are corruption: a restore must never be
// led outside its directory.
func (r *Repository) LoadTree(ctx context.Context, id ids.ID) (*TreeManifest, error) {
	b, err := loadAll(ctx, r.be, treeHandle(id), maxManifest)
	if err != nil {
		return nil, fmt.Errorf("load tree %s: %w", id, err)
	}
	if got := ids.Hash(b); got != id {
		return nil, &CorruptError{Manifest: id, Name: "tree " + id.String(), Err: fmt.Errorf("content does not match its name (it hashes to %s)", got)}
	}
	return ParseTree(b, id)
}

// ParseTree decodes and checks the JSON of a tree manifest.
func ParseTree(b []byte, id ids.ID) (*TreeManifest, error) {
	var t TreeManifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	corrupt := func(err error) error { return &CorruptError{Manifest: id, Name: "tree " + id.String(), Err: err} }
	if err := dec.Decode(&t); err != nil {
		return nil, corrupt(fmt.Errorf("not a tree manifest: %w", err))
	}
	if t.Version != ManifestVersion {
		return nil, fmt.Errorf("tree %s: version %d is not supported (this version reads %d)", id, t.Version, ManifestVersion)
	}
	if err := t.validate(); err != nil {
		return nil, corrupt(err)
	}
	return &t, nil
}

func (t *TreeManifest) validate() error {
	seen := map[string]string{}
	for i, e := range t.Entries {
		if e.Path == "" || e.Path != path.Clean(e.Path) || path.IsAbs(e.Path) || e.Path == ".." || strings.HasPrefix(e.Path, "../") {
			return fmt.Errorf("entry %d: bad path %q", i, e.Path)
		}
		if _, dup := seen[e.Path]; dup {
			return fmt.Errorf("entry %d: %q twice", i, e.Path)
		}
		if e.Path != "." {
			if parent := path.Dir(e.Path); seen[parent] != TreeDir {
				return fmt.Errorf("entry %d: %q comes before its directory", i, e.Path)
			}
		} else if e.Type != TreeDir {
			return fmt.Errorf("entry %d: the root is not a directory", i)
		}
		seen[e.Path] = e.Type
		switch e.Type {
		case TreeDir:
		case TreeSymlink:
			if e.Target == "" {
				return fmt.Errorf("entry %d: symlink %q without a target", i, e.Path)
			}
		case TreeFile:
			var total int64
			for _, c := range e.Chunks {
				total += int64(c.Size)
			}
			if total != e.Size {
				return fmt.Errorf("entry %d: %q: chunks add up to %d bytes, the entry says %d", i, e.Path, total, e.Size)
			}
		default:
			return fmt.Errorf("entry %d: %q: unknown type %q", i, e.Path, e.Type)
		}
		if e.Mode&^0o7777 != 0 {
			return fmt.Errorf("entry %d: %q: bad mode %o", i, e.Path, e.Mode)
		}
	}
	return nil
}
