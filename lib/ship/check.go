package ship

import (
	"context"
	"fmt"
	"strings"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/local"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// CheckCmd is dr-ship check.
type CheckCmd struct {
	ReadData bool `name:"read-data" help:"Also read every pack and check every chunk against its BLAKE3."`
}

// Run checks. Damage found is exit status 4: the repository is corrupt
// input for get.
func (c *CheckCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	r, err := openRepo(ctx, env, rf, false)
	if err != nil {
		return code(err)
	}
	defer r.Backend().Close()
	rep, err := r.Check(ctx, c.ReadData)
	if err != nil && len(rep.Problems) == 0 {
		return code(err)
	}
	for _, p := range rep.Problems {
		env.Infof("damage: %v", p)
	}
	if rf.JSON {
		probs := []string{}
		for _, p := range rep.Problems {
			probs = append(probs, p.Error())
		}
		if err := printJSON(env, map[string]any{"index_files": rep.IndexFiles, "packs": rep.Packs, "unindexed_packs": rep.Unindexed,
			"manifests": rep.Manifests, "chunks": rep.Chunks, "read_bytes": rep.ReadBytes, "problems": probs}); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("%d manifests, %d chunk references, %d index files, %d packs (%d unindexed)",
		rep.Manifests, rep.Chunks, rep.IndexFiles, rep.Packs, rep.Unindexed)
	if c.ReadData {
		summary += fmt.Sprintf(", read %s", cli.Bytes(rep.ReadBytes))
	}
	if len(rep.Problems) > 0 {
		return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "%d problems found in %s: %s", len(rep.Problems), r.Backend().Location(), summary),
			"snapshots that name a damaged chunk cannot be restored; put them again from their source")
	}
	env.Infof("no problems found: %s", summary)
	return nil
}

// ServeCmd is dr-ship serve.
type ServeCmd struct{}

// Run serves the repository directory --repo on stdin and stdout.
func (c *ServeCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	dir := strings.TrimPrefix(rf.Repo, "file://")
	if strings.Contains(dir, "://") {
		return cli.Errorf(cli.ExitUsage, "serve --repo takes a directory, not %s", rf.Repo)
	}
	// The layout is made when missing so that a put over ssh can create
	// the repository (the config is then its first object).
	b, err := local.Open(dir)
	if err != nil {
		b, err = local.Create(dir)
	}
	if err != nil {
		return code(err)
	}
	if err := cli.RefuseTerminal(env.Stdout, "the repository protocol"); err != nil {
		return err
	}
	var be backend.Backend = limitLocal(ctx, rf, b)
	if err := serve(ctx, be, env); err != nil {
		return cli.WithCode(cli.ExitIO, err)
	}
	return nil
}

func parseID(s string) (ids.ID, error) { return ids.Parse(s) }
