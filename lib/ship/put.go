package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/ratelimit"
	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/chunker"
	"github.com/dr-mysql/dr/lib/snapfmt"
)

// InitCmd is dr-ship init.
type InitCmd struct {
	ChunkSize ratelimit.Size `name:"chunk-size" default:"1MiB" placeholder:"SIZE" help:"Average chunk size, a power of two; chunks are between half and 8 times it. Smaller finds more duplicates and costs more objects."`
}

// Run creates the repository.
func (c *InitCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	avg := int(c.ChunkSize)
	p := chunker.Params{Min: avg / 2, Avg: avg, Max: avg * 8, Normalization: 2}
	if err := p.Validate(); err != nil {
		return cli.Errorf(cli.ExitUsage, "--chunk-size %s: %w", c.ChunkSize, err)
	}
	be, err := openBackend(ctx, env, rf, true)
	if err != nil {
		return code(err)
	}
	defer be.Close()
	r, err := repo.Init(ctx, be, repo.Options{Chunker: p})
	if err != nil {
		if strings.Contains(err.Error(), "there is a repository already") {
			return cli.WithCode(cli.ExitRefused, err)
		}
		return code(err)
	}
	env.Infof("created repository %s (id %s, chunks of %s on average)", be.Location(), r.Config().ID, cli.Bytes(int64(avg)))
	return nil
}

// PutCmd is dr-ship put.
type PutCmd struct {
	Files   []string `arg:"" optional:"" placeholder:"FILE" help:"The snapshot stream (default -, stdin); with --binlogs the binlog files (none: their paths are read from stdin, one a line)."`
	Tag     []string `placeholder:"K=V" help:"Record K=V with the snapshot (repeatable)."`
	Binlogs bool     `help:"Store binlog files, each once, under its name."`
	Tree    string   `type:"path" placeholder:"DIR" help:"Store the directory tree DIR: files, modes, times, symbolic links."`
	Raw     bool     `help:"Store any byte stream: do not require a whole dr-snap stream."`
}

// Run stores what was asked.
func (c *PutCmd) Run(ctx context.Context, env *cli.Env, rf *RepoFlags) error {
	if c.Binlogs && c.Tree != "" {
		return cli.Errorf(cli.ExitUsage, "--binlogs and --tree do not go together")
	}
	meta := map[string]string{}
	for _, t := range c.Tag {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return cli.Errorf(cli.ExitUsage, "--tag %q: want KEY=VALUE", t)
		}
		meta["tag."+k] = v
	}
	if !c.Binlogs && len(c.Files) > 1 || c.Tree != "" && len(c.Files) > 0 {
		return cli.Errorf(cli.ExitUsage, "too many arguments")
	}
	r, err := openRepo(ctx, env, rf, true)
	if err != nil {
		return code(err)
	}
	defer r.Backend().Close()
	switch {
	case c.Binlogs:
		return c.putBinlogs(ctx, env, rf, r)
	case c.Tree != "":
		return putTree(ctx, env, rf, r, c.Tree, meta)
	}
	return c.putSnapshot(ctx, env, rf, r, meta)
}

func (c *PutCmd) putSnapshot(ctx context.Context, env *cli.Env, rf *RepoFlags, r *repo.Repository, meta map[string]string) error {
	var in io.Reader = env.Stdin
	name := "stdin"
	if len(c.Files) == 1 && c.Files[0] != "-" {
		f, err := os.Open(c.Files[0])
		if err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		defer f.Close()
		in, name = f, c.Files[0]
	} else if cli.IsTerminal(env.Stdin) {
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "standard input is a terminal, not a snapshot stream"),
			"dr-snap --source URL | dr-ship put --repo "+rf.Repo)
	}
	start := time.Now()
	cnt := &cli.CountingReader{R: in}
	env.SetProgress(func() string {
		n := cnt.N()
		return fmt.Sprintf("read %s, %s", cli.Bytes(n), cli.Rate(n, time.Since(start)))
	})

	lock, err := r.Lock(ctx, false, "dr-ship put")
	if err != nil {
		return code(err)
	}
	defer lock.Unlock(ctx)

	// The stream goes through the chunker and, on the side, through a
	// snapfmt.Reader that checks every member and requires SUMS.json:
	// the manifest is saved only when that reader reached its end.
	var verified chan verifyResult
	var src io.Reader = cnt
	var pw *io.PipeWriter
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !c.Raw {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		verified = make(chan verifyResult, 1)
		go func() {
			v := verifySnapshot(pr)
			var fe *snapfmt.FormatError
			if errors.As(v.err, &fe) {
				cancel() // bad input: stop storing it
			}
			io.Copy(io.Discard, pr) // never block the tee
			verified <- v
		}()
		// Cut the chunks at member boundaries (an uncompressed stream
		// only: a gzip one is not tar on the outside, and is cut by
		// content alone).
		src = newMemberCuts(io.TeeReader(cnt, pw), r.Config().Chunker.Min)
	}
	m, stats, err := r.StoreStream(sctx, src, nil)
	if pw != nil {
		pw.CloseWithError(err)
		v := <-verified
		var fe *snapfmt.FormatError
		if errors.As(v.err, &fe) {
			return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "%s: not stored: %w", name, v.err),
				"the input is not a whole dr-snap stream; --raw stores any stream")
		}
		for k, val := range v.meta {
			meta[k] = val
		}
	}
	if err != nil {
		return code(err)
	}
	m.Meta = meta
	id, err := r.SaveSnapshot(ctx, m)
	if err != nil {
		return code(err)
	}
	elapsed := time.Since(start)
	env.SetProgress(nil)
	pct := 0.0
	if stats.Bytes > 0 {
		pct = 100 * float64(stats.NewBytes) / float64(stats.Bytes)
	}
	env.Infof("stored snapshot %s: %s, added %d bytes (%.1f%%) in %d new of %d chunks, %s stored, %s, %s",
		id.Short(), cli.Bytes(stats.Bytes), stats.NewBytes, pct, stats.NewChunks, stats.Chunks,
		cli.Bytes(stats.StoredBytes), elapsed.Round(time.Millisecond), cli.Rate(stats.Bytes, elapsed))
	if rf.JSON {
		out := map[string]any{
			"id": id.String(), "size": stats.Bytes, "added_bytes": stats.NewBytes, "stored_bytes": stats.StoredBytes,
			"chunks": stats.Chunks, "added_chunks": stats.NewChunks, "seconds": elapsed.Seconds(), "meta": meta,
		}
		return printJSON(env, out)
	}
	return env.Printf("%s\n", id)
}

// memberCuts is a chunker.Cutter for a dr-snap stream: it cuts the
// chunks just before the content of every member of at least min bytes
// and just after its padding, so that the content is chunked from its
// first byte and gives the same chunks wherever the member lands in the
// stream, which varies from run to run as dr-snap dumps tables in
// parallel. The member's headers form a chunk of their own after another
// such member, and otherwise end the chunk before them. Smaller members
// (schemas, small tables) get no cuts: a run of them is cut by content,
// so as not to fill the index with tiny chunks.
//
// No cut before the headers: the chunker must know every cut among the
// bytes it has read, and the headers of a member are known to start a
// big member only once they were read whole.
type memberCuts struct {
	*snapfmt.SpanReader
	cuts []int64 // ascending, those not yet passed
}

var _ chunker.Cutter = (*memberCuts)(nil)

func newMemberCuts(r io.Reader, min int) *memberCuts {
	m := &memberCuts{}
	m.SpanReader = snapfmt.NewSpanReader(r, func(s snapfmt.Span) {
		if s.Size >= int64(min) && s.End() > s.Data {
			m.cuts = append(m.cuts, s.Data, s.End())
		}
	})
	return m
}

// NextCut is the first cut after off.
func (m *memberCuts) NextCut(off int64) (int64, bool) {
	i := 0
	for i < len(m.cuts) && m.cuts[i] <= off {
		i++
	}
	m.cuts = m.cuts[i:]
	if len(m.cuts) == 0 {
		return 0, false
	}
	return m.cuts[0], true
}

type verifyResult struct {
	meta map[string]string
	err  error
}

// verifySnapshot reads a dr-snap stream to its end, checking it, and
// returns what prune and get --binlogs --since need of its manifest.
func verifySnapshot(rd io.Reader) verifyResult {
	sr, err := snapfmt.NewReader(rd)
	if err != nil {
		return verifyResult{err: err}
	}
	defer sr.Close()
	for {
		_, mr, err := sr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return verifyResult{err: err}
		}
		if _, err := io.Copy(io.Discard, mr); err != nil {
			return verifyResult{err: err}
		}
	}
	man := sr.Manifest()
	meta := map[string]string{
		"snapshot_id": sr.ID(),
		"created":     man.Created.UTC().Format(time.RFC3339Nano),
		"server_id":   strconv.FormatUint(uint64(man.Source.ServerID), 10),
		"flavor":      man.Source.Flavor,
		"binlog_file": man.Binlog.File,
		"binlog_pos":  strconv.FormatUint(man.Binlog.Pos, 10),
		"gtid_set":    man.GTIDSet,
		"tool":        man.Tool,
	}
	if man.Source.ServerUUID != "" {
		meta["server_uuid"] = man.Source.ServerUUID
	}
	if man.Source.Address != "" {
		meta["source"] = man.Source.Address
	}
	if s := sr.Sums(); s != nil && !s.Finished.IsZero() {
		meta["finished"] = s.Finished.UTC().Format(time.RFC3339Nano)
	}
	return verifyResult{meta: meta}
}

func printJSON(env *cli.Env, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return env.Printf("%s\n", b)
}
