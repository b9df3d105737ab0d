package ship

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/fsx"
	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/backend"
)

// putTree stores the directory tree root: directories, regular files
// (chunked like streams, so an unchanged file adds nothing) and symbolic
// links, with their permission bits and modification times. Other file
// types (sockets, devices, fifos) are skipped with a warning.
func putTree(ctx context.Context, env *cli.Env, rf *RepoFlags, r *repo.Repository, root string, meta map[string]string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return cli.WithCode(cli.ExitUsage, err)
	}
	if !fi.IsDir() {
		return cli.Errorf(cli.ExitUsage, "--tree %s is not a directory", root)
	}
	lock, err := r.Lock(ctx, false, "dr-ship put --tree")
	if err != nil {
		return code(err)
	}
	defer lock.Unlock(ctx)
	u, err := r.NewUploader(ctx)
	if err != nil {
		return code(err)
	}
	start := time.Now()
	t := &repo.TreeManifest{Version: repo.ManifestVersion, Meta: meta}
	var files int
	env.SetProgress(func() string { return fmt.Sprintf("%d files, %s read", files, cli.Bytes(u.Stats().Bytes)) })
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := repo.TreeEntry{Path: filepath.ToSlash(rel), Mode: uint32(info.Mode().Perm()), MTime: info.ModTime().UTC()}
		if info.Mode()&fs.ModeSetuid != 0 {
			e.Mode |= 0o4000
		}
		if info.Mode()&fs.ModeSetgid != 0 {
			e.Mode |= 0o2000
		}
		if info.Mode()&fs.ModeSticky != 0 {
			e.Mode |= 0o1000
		}
		switch {
		case info.IsDir():
			e.Type = repo.TreeDir
		case info.Mode()&fs.ModeSymlink != 0:
			e.Type = repo.TreeSymlink
			if e.Target, err = os.Readlink(path); err != nil {
				return err
			}
			e.Mode = 0o777
		case info.Mode().IsRegular():
			e.Type = repo.TreeFile
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			chunks, size, sum, err := u.Stream(ctx, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			e.Chunks, e.Size, e.BLAKE3 = chunks, size, sum
			files++
		default:
			env.Warnf("%s: skipped: not a file, directory or symbolic link", path)
			return nil
		}
		t.Entries = append(t.Entries, e)
		return nil
	})
	if err == nil {
		err = u.Flush(ctx)
	}
	if err != nil {
		u.Abort(ctx)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return cli.WithCode(cli.ExitIO, err)
		}
		return code(err)
	}
	t.Time = time.Now().UTC().Truncate(time.Millisecond)
	id, err := r.SaveTree(ctx, t)
	if err != nil {
		return code(err)
	}
	st := u.Stats()
	env.SetProgress(nil)
	env.Infof("stored tree %s: %d files, %s, added %d bytes in %d new chunks, %s", id.Short(), files, cli.Bytes(st.Bytes), st.NewBytes, st.NewChunks, time.Since(start).Round(time.Millisecond))
	if rf.JSON {
		return printJSON(env, map[string]any{"id": id.String(), "files": files, "size": st.Bytes, "added_bytes": st.NewBytes, "added_chunks": st.NewChunks})
	}
	return env.Printf("%s\n", id)
}

// getTree restores tree s into dir, which must be missing or empty.
// Files are written under temporary names and renamed when whole; modes
// and times are set last, directories deepest first. Symbolic links get
// their target; their own times are not restored.
func getTree(ctx context.Context, env *cli.Env, rf *RepoFlags, r *repo.Repository, s, dir string) error {
	id, err := r.ResolveID(ctx, backend.Tree, s)
	if errors.Is(err, repo.ErrUnknownID) {
		return cli.WithHint(cli.WithCode(cli.ExitUsage, err), "dr-ship ls --trees --repo "+rf.Repo+" lists the trees")
	}
	if err != nil {
		return code(err)
	}
	t, err := r.LoadTree(ctx, id)
	if err != nil {
		return code(err)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s is not empty", dir), "restore a tree into a new or empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cli.WithCode(cli.ExitIO, err)
	}
	var total int64
	for _, e := range t.Entries {
		path := filepath.Join(dir, filepath.FromSlash(e.Path))
		switch e.Type {
		case repo.TreeDir:
			if e.Path != "." {
				if err := os.Mkdir(path, 0o700); err != nil {
					return cli.WithCode(cli.ExitIO, err)
				}
			}
		case repo.TreeSymlink:
			if err := os.Symlink(e.Target, path); err != nil {
				return cli.WithCode(cli.ExitIO, err)
			}
		case repo.TreeFile:
			af, err := fsx.CreateAtomic(path, 0o600)
			if err != nil {
				return cli.WithCode(cli.ExitIO, err)
			}
			m := &repo.Manifest{Size: e.Size, BLAKE3: e.BLAKE3, Chunks: e.Chunks}
			n, err := r.WriteStream(ctx, id, "tree "+id.String()+" file "+e.Path, m, af)
			if err == nil {
				err = af.Commit()
			} else {
				af.Abort()
			}
			if err == nil {
				err = os.Chmod(path, fs.FileMode(e.Mode).Perm()|modeBits(e.Mode))
			}
			if err != nil {
				if repo.IsCorrupt(err) {
					return cli.WithCode(cli.ExitCorrupt, err)
				}
				return code(err)
			}
			if err := os.Chtimes(path, e.MTime, e.MTime); err != nil {
				return cli.WithCode(cli.ExitIO, err)
			}
			total += n
		}
	}
	// Directories last, deepest first, so that writing into them does not
	// change their times again.
	dirs := slices.Clone(t.Entries)
	slices.Reverse(dirs)
	for _, e := range dirs {
		if e.Type != repo.TreeDir {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := os.Chmod(path, fs.FileMode(e.Mode).Perm()|modeBits(e.Mode)); err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		if err := os.Chtimes(path, e.MTime, e.MTime); err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
	}
	env.Infof("restored tree %s into %s: %d entries, %s", id.Short(), dir, len(t.Entries), cli.Bytes(total))
	return nil
}

func modeBits(m uint32) fs.FileMode {
	var b fs.FileMode
	if m&0o4000 != 0 {
		b |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	return b
}
