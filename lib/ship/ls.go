package ship

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/repo/backend"
)

// LsCmd is dr-ship ls.
type LsCmd struct {
	Binlogs bool `help:"List the binlog files instead."`
	Trees   bool `help:"List the trees instead."`
}

// Run lists.
func (c *LsCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	r, err := openRepo(ctx, env, rf, false)
	if err != nil {
		return code(err)
	}
	defer r.Backend().Close()
	switch {
	case c.Binlogs:
		list, err := loadBinlogs(ctx, r)
		if err != nil {
			return code(err)
		}
		if rf.JSON {
			out := []map[string]any{}
			for _, b := range list {
				out = append(out, map[string]any{"name": b.Name, "size": b.Manifest.Size, "blake3": b.Manifest.BLAKE3.String(), "meta": b.Manifest.Meta})
			}
			return printJSON(env, out)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "NAME\tSIZE\tFIRST EVENT\tGTID SET AT END\n")
		for _, b := range list {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", b.Name, b.Manifest.Size, b.Manifest.Meta["first_time"], b.Manifest.Meta["end_gtid_set"])
		}
		return tw.Flush()
	case c.Trees:
		names, err := r.List(ctx, backend.Tree)
		if err != nil {
			return code(err)
		}
		type row struct {
			ID    string            `json:"id"`
			Time  time.Time         `json:"time"`
			Files int               `json:"files"`
			Size  int64             `json:"size"`
			Meta  map[string]string `json:"meta,omitempty"`
		}
		var rows []row
		for _, n := range names {
			id, err := parseID(n)
			if err != nil {
				continue
			}
			t, err := r.LoadTree(ctx, id)
			if err != nil {
				return code(err)
			}
			rw := row{ID: n, Time: t.Time, Meta: t.Meta}
			for _, e := range t.Entries {
				if e.Type == "file" {
					rw.Files++
					rw.Size += e.Size
				}
			}
			rows = append(rows, rw)
		}
		slices.SortFunc(rows, func(a, b row) int { return a.Time.Compare(b.Time) })
		if rf.JSON {
			if rows == nil {
				rows = []row{}
			}
			return printJSON(env, rows)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "ID\tSTORED\tFILES\tSIZE\n")
		for _, rw := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", rw.ID, rw.Time.UTC().Format(time.RFC3339), rw.Files, rw.Size)
		}
		return tw.Flush()
	}
	snaps, broken, err := r.Snapshots(ctx)
	if err != nil {
		return code(err)
	}
	for name, err := range broken {
		env.Warnf("snapshot %s: %v", name, err)
	}
	sortByCreated(snaps)
	if rf.JSON {
		out := []map[string]any{}
		for _, s := range snaps {
			out = append(out, map[string]any{"id": s.ID.String(), "created": created(s), "stored": s.Manifest.Time,
				"size": s.Manifest.Size, "blake3": s.Manifest.BLAKE3.String(), "meta": s.Manifest.Meta})
		}
		return printJSON(env, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tCREATED\tSIZE\tBINLOG\tGTID SET\tTAGS\n")
	for _, s := range snaps {
		m := s.Manifest.Meta
		var tags []string
		for k, v := range m {
			if t, ok := strings.CutPrefix(k, "tag."); ok {
				tags = append(tags, t+"="+v)
			}
		}
		slices.Sort(tags)
		pos := ""
		if m["binlog_file"] != "" {
			pos = m["binlog_file"] + ":" + m["binlog_pos"]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", s.ID.Short(), created(s).UTC().Format(time.RFC3339), s.Manifest.Size, dash(pos), dash(m["gtid_set"]), dash(strings.Join(tags, ",")))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
