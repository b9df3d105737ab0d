package ship

import (
	"context"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/fsx"
	"github.com/dr-mysql/dr/lib/repo"
)

// GetCmd is dr-ship get.
type GetCmd struct {
	ID      string `arg:"" optional:"" placeholder:"ID" help:"Snapshot id, a prefix of one (at least 4 hex digits) or latest; with --tree a tree id."`
	Output  string `short:"o" default:"-" placeholder:"FILE" help:"Write the stream to FILE (under a temporary name until complete); - is stdout."`
	Binlogs bool   `help:"Write binlog files into --dir."`
	Since   string `placeholder:"GTID|TIME|FILE" help:"With --binlogs: only the files replay needs after GTID set, from TIME on (RFC 3339 or 'YYYY-MM-DD HH:MM[:SS]', UTC), or FILE and later."`
	Dir     string `type:"path" placeholder:"DIR" help:"Directory to write binlog files (--binlogs) or the tree (--tree) into."`
	Tree    bool   `help:"Restore the tree ID into --dir (which must be empty or missing), with modes and times."`
}

// Run writes back what was asked.
func (c *GetCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	if c.Binlogs && c.Tree {
		return cli.Errorf(cli.ExitUsage, "--binlogs and --tree do not go together")
	}
	if (c.Binlogs || c.Tree) && c.Dir == "" {
		return cli.Errorf(cli.ExitUsage, "--dir is required with --binlogs and --tree")
	}
	if c.Binlogs && c.ID != "" {
		return cli.Errorf(cli.ExitUsage, "--binlogs takes no id; select with --since")
	}
	if !c.Binlogs && c.ID == "" {
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "which snapshot? give an id or latest"), "dr-ship ls --repo "+rf.Repo+" lists them")
	}
	if c.Since != "" && !c.Binlogs {
		return cli.Errorf(cli.ExitUsage, "--since goes with --binlogs")
	}
	r, err := openRepo(ctx, env, rf, false)
	if err != nil {
		return code(err)
	}
	defer r.Backend().Close()
	switch {
	case c.Binlogs:
		return getBinlogs(ctx, env, rf, r, c.Since, c.Dir)
	case c.Tree:
		return getTree(ctx, env, rf, r, c.ID, c.Dir)
	}
	id, err := resolveSnapshot(ctx, r, rf, c.ID)
	if err != nil {
		return code(err)
	}
	var w io.Writer
	var af *fsx.AtomicFile
	if c.Output == "-" || c.Output == "" {
		if err := cli.RefuseTerminal(env.Stdout, "a snapshot stream"); err != nil {
			return err
		}
		w = env.Stdout
	} else {
		af, err = fsx.CreateAtomic(c.Output, 0o600)
		if err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		defer af.Abort()
		w = af
	}
	start := time.Now()
	cw := &countWriter{w: w}
	env.SetProgress(func() string {
		n := cw.n.Load()
		return "wrote " + cli.Bytes(n) + ", " + cli.Rate(n, time.Since(start))
	})
	n, err := r.GetStream(ctx, id, cw)
	if err != nil {
		if repo.IsCorrupt(err) {
			return cli.WithHint(cli.WithCode(cli.ExitCorrupt, err), "dr-ship check --read-data --repo "+rf.Repo+" looks for more damage")
		}
		return code(err)
	}
	if af != nil {
		if err := af.Commit(); err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
	}
	env.SetProgress(nil)
	d := time.Since(start)
	env.Infof("wrote snapshot %s: %s in %s, %s", id.Short(), cli.Bytes(n), d.Round(time.Millisecond), cli.Rate(n, d))
	return nil
}

// countWriter counts what is written, for the progress line drawn by
// another goroutine.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// created is when a snapshot was taken: dr-snap's time when the stream
// says, else when it was stored.
func created(s repo.Snapshot) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s.Manifest.Meta["created"]); err == nil {
		return t
	}
	return s.Manifest.Time
}

func sortByCreated(s []repo.Snapshot) {
	slices.SortStableFunc(s, func(a, b repo.Snapshot) int { return created(a).Compare(created(b)) })
}
