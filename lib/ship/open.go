package ship

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/local"
	"github.com/dr-mysql/dr/lib/repo/backend/remote"
	"github.com/dr-mysql/dr/lib/repo/backend/s3"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// openBackend reaches the repository's storage. With create, a missing
// directory or bucket is made (for put and init).
func openBackend(ctx context.Context, env *cli.Env, rf *RepoFlags, create bool) (backend.Backend, error) {
	u := rf.Repo
	switch {
	case strings.HasPrefix(u, "s3://"):
		opts := s3.Options{Endpoint: rf.S3Endpoint, Getenv: env.Getenv, WrapConn: wrapConn(rf)}
		var b *s3.S3
		var err error
		if create {
			b, err = s3.Create(ctx, u, opts)
		} else {
			b, err = s3.Open(ctx, u, opts)
		}
		if err != nil {
			if errors.Is(err, s3.ErrNoBucket) {
				return nil, cli.WithHint(cli.WithCode(cli.ExitIO, err), "dr-ship init --repo "+u+" creates it")
			}
			return nil, err
		}
		return b, nil
	case strings.HasPrefix(u, "ssh://"):
		p, err := url.Parse(u)
		if err != nil {
			return nil, cli.Errorf(cli.ExitUsage, "--repo %s: %w", u, err)
		}
		host := p.Host
		if p.User != nil {
			host = p.User.String() + "@" + host
		}
		path := p.Path
		if strings.HasPrefix(path, "/~/") {
			path = path[3:] // relative to the remote user's home
		}
		argv, err := splitWords(rf.SSHCommand)
		if err != nil {
			return nil, cli.Errorf(cli.ExitUsage, "--ssh-command: %w", err)
		}
		c, err := remote.DialWith(ctx, remote.DialOptions{SSHCommand: argv, Host: host, Path: path, Wrap: wrapStream(ctx, rf)})
		if err != nil {
			return nil, err
		}
		return c, nil
	default:
		dir := strings.TrimPrefix(u, "file://")
		if dir == "" {
			return nil, cli.Errorf(cli.ExitUsage, "--repo: empty path")
		}
		if strings.Contains(u, "://") && !strings.HasPrefix(u, "file://") {
			return nil, cli.WithHint(cli.Errorf(cli.ExitUsage, "--repo %s: unknown scheme", u), "use DIR, file:///DIR, ssh://host/DIR or s3://bucket/prefix")
		}
		b, err := local.Open(dir)
		if err != nil && create {
			b, err = local.Create(dir)
		}
		if err != nil {
			return nil, err
		}
		return limitLocal(ctx, rf, b), nil
	}
}

// openRepo opens the repository. With create, one is made with the
// defaults when the storage holds none (put).
func openRepo(ctx context.Context, env *cli.Env, rf *RepoFlags, create bool) (*repo.Repository, error) {
	be, err := openBackend(ctx, env, rf, create)
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(ctx, be)
	if err != nil && create && backend.IsNotExist(err) {
		r, err = repo.Init(ctx, be, repo.Options{})
		if err == nil {
			env.Infof("created repository %s", be.Location())
		}
	}
	if err != nil {
		be.Close()
		if backend.IsNotExist(err) {
			return nil, cli.WithHint(cli.WithCode(cli.ExitIO, err), "dr-ship put or dr-ship init creates one")
		}
		if repo.IsCorrupt(err) {
			return nil, cli.WithCode(cli.ExitCorrupt, err)
		}
		return nil, err
	}
	r.SetUploads(rf.Uploads)
	return r, nil
}

// code gives an error of the repository its exit status: damage is 4,
// the rest keeps its code (3, I/O, unless said otherwise).
func code(err error) error {
	if err == nil {
		return nil
	}
	var ce *cli.Error
	if errors.As(err, &ce) {
		return err
	}
	if repo.IsCorrupt(err) {
		return cli.WithCode(cli.ExitCorrupt, err)
	}
	if errors.Is(err, backend.ErrNotWritable) {
		return cli.WithHint(cli.WithCode(cli.ExitIO, err), "check the permissions or the credentials of the repository")
	}
	var le *repo.LockedError
	if errors.As(err, &le) {
		return cli.WithHint(cli.WithCode(cli.ExitIO, err), "try again later; a lock of a process that died goes stale after "+repo.LockStale.String())
	}
	return err
}

// resolveSnapshot turns ID, a prefix of one, or "latest" into an id.
func resolveSnapshot(ctx context.Context, r *repo.Repository, rf *RepoFlags, s string) (ids.ID, error) {
	hint := "dr-ship ls --repo " + rf.Repo + " lists the snapshots"
	if s == "latest" {
		snaps, _, err := r.Snapshots(ctx)
		if err != nil {
			return ids.ID{}, err
		}
		if len(snaps) == 0 {
			return ids.ID{}, cli.WithHint(cli.Errorf(cli.ExitUsage, "no snapshot in %s", r.Backend().Location()), "dr-ship put stores one")
		}
		sortByCreated(snaps)
		return snaps[len(snaps)-1].ID, nil
	}
	id, err := r.ResolveID(ctx, backend.Snapshot, s)
	if errors.Is(err, repo.ErrUnknownID) {
		return ids.ID{}, cli.WithHint(cli.WithCode(cli.ExitUsage, err), hint)
	}
	return id, err
}

// splitWords splits a command line as a shell would, for the simple
// cases: blanks separate words, single and double quotes group them,
// a backslash escapes the next character outside single quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in := false
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '\'':
			if c == '\'' {
				q = 0
			} else {
				cur.WriteByte(c)
			}
		case q == '"':
			switch {
			case c == '"':
				q = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			q, in = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if q != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", q, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func isNotExist(err error) bool { return backend.IsNotExist(err) }
