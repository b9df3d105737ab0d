package ship

import (
	"context"
	"fmt"
	"time"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// PruneCmd is dr-ship prune.
type PruneCmd struct {
	KeepLast   int  `name:"keep-last" placeholder:"N" help:"Keep the N newest snapshots."`
	KeepDaily  int  `name:"keep-daily" placeholder:"N" help:"Keep the newest snapshot of each of the last N days that have one (UTC)."`
	KeepWeekly int  `name:"keep-weekly" placeholder:"N" help:"Keep the newest snapshot of each of the last N ISO weeks that have one."`
	DryRun     bool `name:"dry-run" help:"Print what would be removed; remove nothing."`
}

// keepPolicy returns the ids of snaps (oldest first) that the policy
// keeps, each with its reasons.
func keepPolicy(snaps []repo.Snapshot, last, daily, weekly int) map[ids.ID][]string {
	keep := map[ids.ID][]string{}
	n := len(snaps)
	for i := n - 1; i >= 0 && n-1-i < last; i-- {
		keep[snaps[i].ID] = append(keep[snaps[i].ID], "last")
	}
	bucket := func(count int, reason string, key func(time.Time) string) {
		seen := map[string]bool{}
		for i := n - 1; i >= 0 && len(seen) < count; i-- {
			k := key(created(snaps[i]).UTC())
			if seen[k] {
				continue
			}
			seen[k] = true
			keep[snaps[i].ID] = append(keep[snaps[i].ID], reason)
		}
	}
	bucket(daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) })
	return keep
}

// Run prunes.
func (c *PruneCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	if c.KeepLast < 0 || c.KeepDaily < 0 || c.KeepWeekly < 0 {
		return cli.Errorf(cli.ExitUsage, "--keep-* take a number of snapshots, 0 or more")
	}
	if c.KeepLast+c.KeepDaily+c.KeepWeekly == 0 {
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "no --keep-* policy: prune would remove every snapshot"), "say what to keep, e.g. --keep-daily 7 --keep-weekly 4")
	}
	r, err := openRepo(ctx, env, rf, false)
	if err != nil {
		return code(err)
	}
	defer r.Backend().Close()
	if !c.DryRun {
		if n, err := r.RemoveStaleLocks(ctx); err == nil && n > 0 {
			env.Infof("removed %d stale locks", n)
		}
		lock, err := r.Lock(ctx, true, "dr-ship prune")
		if err != nil {
			return code(err)
		}
		defer lock.Unlock(ctx)
	}

	snaps, broken, err := r.Snapshots(ctx)
	if err != nil {
		return code(err)
	}
	for name, err := range broken {
		return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "snapshot %s: %w", name, err), "prune does not run on a damaged repository; see dr-ship check")
	}
	sortByCreated(snaps)
	keep := keepPolicy(snaps, c.KeepLast, c.KeepDaily, c.KeepWeekly)
	var plan repo.PrunePlan
	var oldestKept *repo.Snapshot
	for i, s := range snaps {
		if why, ok := keep[s.ID]; ok {
			if oldestKept == nil {
				oldestKept = &snaps[i]
			}
			env.Debugf("keep snapshot %s (%s): %v", s.ID.Short(), created(s).UTC().Format(time.RFC3339), why)
			continue
		}
		plan.Snapshots = append(plan.Snapshots, s.ID)
		if err := c.say(env, rf, "snapshot", s.ID.String(), created(s)); err != nil {
			return err
		}
	}

	// Binlogs: those before the first one the oldest kept snapshot needs
	// to roll forward. Without a kept snapshot that records its position
	// there is no telling, and all are kept.
	bls, err := loadBinlogs(ctx, r)
	if err != nil {
		return code(err)
	}
	if oldestKept != nil && len(bls) > 0 {
		m := oldestKept.Manifest.Meta
		since := m["gtid_set"]
		if since == "" {
			since = m["binlog_file"]
		}
		if since != "" {
			needed, err := selectSince(bls, since)
			if err != nil {
				return err
			}
			first := len(bls) - len(needed)
			if len(needed) == 0 {
				// Nothing after the snapshot yet: keep the last file,
				// where the roll-forward begins.
				first = len(bls) - 1
			}
			for _, b := range bls[:first] {
				plan.Binlogs = append(plan.Binlogs, b.Name)
				t, _ := time.Parse(time.RFC3339, b.Manifest.Meta["last_time"])
				if err := c.say(env, rf, "binlog", b.Name, t); err != nil {
					return err
				}
			}
		}
	}

	rep, err := r.Prune(ctx, plan, c.DryRun)
	if err != nil {
		return code(err)
	}
	verb := "removed"
	if c.DryRun {
		verb = "would remove"
	}
	env.Infof("%s %d snapshots, %d binlog files, %d packs (%s, %d unindexed); kept %d snapshots, %d packs (%s in them unused: no repacking)",
		verb, rep.Snapshots, rep.Binlogs, rep.Packs, cli.Bytes(rep.PackBytes), rep.Unindexed, len(snaps)-len(plan.Snapshots), rep.KeptPacks, cli.Bytes(rep.UnusedBytes))
	if rf.JSON {
		return printJSON(env, map[string]any{"dry_run": c.DryRun, "snapshots": plan.Snapshots, "binlogs": plan.Binlogs,
			"packs": rep.Packs, "pack_bytes": rep.PackBytes, "kept_packs": rep.KeptPacks, "unused_bytes": rep.UnusedBytes, "index_files": rep.IndexFiles})
	}
	return nil
}

// say prints one object prune removes (or would): "snapshot ID TIME".
func (c *PruneCmd) say(env *cli.Env, rf *RepoFlags, kind, name string, t time.Time) error {
	if rf.JSON {
		return nil
	}
	ts := "-"
	if !t.IsZero() {
		ts = t.UTC().Format(time.RFC3339)
	}
	verb := "remove"
	if c.DryRun {
		verb = "would remove"
	}
	return env.Printf("%s %s %s %s\n", verb, kind, name, ts)
}
