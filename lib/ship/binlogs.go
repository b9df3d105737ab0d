package ship

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dr-mysql/dr/lib/binlogdir"
	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/fsx"
	"github.com/dr-mysql/dr/lib/position"
	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// putBinlogs stores the files named as arguments or, without any, the
// paths read from stdin one a line, each as soon as its line arrives:
// `dr-binlog-pull | dr-ship put --binlogs` ships every file when it is
// complete.
func (c *PutCmd) putBinlogs(ctx context.Context, env *cli.Env, rf *RepoFlags, r *repo.Repository) error {
	var stored, same int
	one := func(path string) error {
		added, err := putBinlog(ctx, env, rf, r, path)
		if err != nil {
			return err
		}
		if added {
			stored++
		} else {
			same++
		}
		return nil
	}
	if len(c.Files) > 0 {
		for _, f := range c.Files {
			if err := one(f); err != nil {
				return err
			}
		}
	} else {
		sc := bufio.NewScanner(env.Stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			if err := one(line); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("read paths from stdin: %w", err))
		}
	}
	env.Infof("%d binlog files stored, %d already there", stored, same)
	return nil
}

// binlogInfo is what a binlog manifest records of its file, so that get
// --binlogs --since and prune can choose files without reading them.
type binlogInfo struct {
	size int64
	sum  ids.ID
	meta map[string]string
}

// errIncomplete says a binlog file does not end with ROTATE or STOP: the
// server is still writing it (or died writing it).
var errIncomplete = errors.New("does not end with a ROTATE or STOP event: the server is still writing it")

// scanBinlog reads a binlog file whole: every event checked (size,
// position, checksum), the GTID set before and after it, the first and
// last GTID and event times, and its BLAKE3.
func scanBinlog(path string) (binlogInfo, error) {
	var bi binlogInfo
	f, err := os.Open(path)
	if err != nil {
		return bi, err
	}
	h := ids.NewHasher()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return bi, err
	}
	bi.size, bi.sum = n, h.Sum()

	s, err := binlogdir.OpenScanner(path)
	if err != nil {
		return bi, err
	}
	defer s.Close()
	flavor := position.MySQL
	if strings.Contains(strings.ToLower(s.FD.ServerVersion), "mariadb") {
		flavor = position.MariaDB
	}
	tr := binlogdir.NewTracker(position.NewSet(flavor))
	tr.Alg = s.FD.ChecksumAlg
	var start *position.Set
	var first, last string
	var firstTime, lastTime uint32
	var lastType byte
	var serverID uint32
	for {
		hd, ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bi, err
		}
		lastType = hd.Type
		if hd.Timestamp != 0 && !hd.Artificial() {
			if firstTime == 0 {
				firstTime = hd.Timestamp
			}
			lastTime = hd.Timestamp
		}
		if serverID == 0 && hd.ServerID != 0 {
			serverID = hd.ServerID
		}
		if start == nil && (hd.Type == binlogdir.GTIDEvent || hd.Type == binlogdir.MariaDBGTIDEvent || hd.Type == binlogdir.GTIDTaggedEvent || hd.Type == binlogdir.AnonymousGTIDEvent) {
			start = tr.Set.Clone()
		}
		if tr.Observe(hd, ev) && tr.HasGTID {
			last = tr.GTID.String()
			if first == "" {
				first = last
			}
		}
	}
	if err := tr.Set.Err(); err != nil {
		return bi, err
	}
	if lastType != binlogdir.RotateEvent && lastType != binlogdir.StopEvent {
		return bi, errIncomplete
	}
	if start == nil {
		start = tr.Set.Clone()
	}
	bi.meta = map[string]string{
		"flavor":         string(flavor),
		"server_version": s.FD.ServerVersion,
		"server_id":      strconv.FormatUint(uint64(serverID), 10),
		"start_gtid_set": start.String(),
		"end_gtid_set":   tr.Set.String(),
	}
	if first != "" {
		bi.meta["first_gtid"], bi.meta["last_gtid"] = first, last
	}
	if firstTime != 0 {
		bi.meta["first_time"] = time.Unix(int64(firstTime), 0).UTC().Format(time.RFC3339)
		bi.meta["last_time"] = time.Unix(int64(lastTime), 0).UTC().Format(time.RFC3339)
	}
	return bi, nil
}

// putBinlog stores one binlog file; added false when the same file was
// stored already.
func putBinlog(ctx context.Context, env *cli.Env, rf *RepoFlags, r *repo.Repository, path string) (bool, error) {
	name := filepath.Base(path)
	bi, err := scanBinlog(path)
	if err != nil {
		var ce *binlogdir.CorruptError
		switch {
		case errors.Is(err, errIncomplete):
			return false, cli.WithHint(cli.Errorf(cli.ExitRefused, "binlog %s %w", path, err),
				"ship a file once it is complete (FLUSH BINARY LOGS completes the active one); dr-binlog-pull prints only complete files")
		case errors.As(err, &ce), errors.Is(err, binlogdir.ErrShort):
			return false, cli.Errorf(cli.ExitCorrupt, "binlog %s: %w", path, err)
		case errors.Is(err, os.ErrNotExist):
			return false, cli.Errorf(cli.ExitUsage, "binlog %s: %w", path, err)
		}
		return false, cli.WithCode(cli.ExitIO, fmt.Errorf("binlog %s: %w", path, err))
	}
	conflict := func(err error) error {
		return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "binlog %s: %w", path, err),
			"a stored binlog file is never replaced; a file of another server with the same name needs another repository")
	}
	if old, err := r.LoadBinlog(ctx, name); err == nil {
		if err := repo.SameContent(old, bi.size, bi.sum); err != nil {
			return false, conflict(fmt.Errorf("a different %s is stored: %w", name, err))
		}
		env.Debugf("binlog %s: stored already", name)
		return false, nil
	} else if !isNotExist(err) {
		return false, code(err)
	}

	lock, err := r.Lock(ctx, false, "dr-ship put --binlogs")
	if err != nil {
		return false, code(err)
	}
	defer lock.Unlock(ctx)
	f, err := os.Open(path)
	if err != nil {
		return false, cli.WithCode(cli.ExitIO, err)
	}
	defer f.Close()
	start := time.Now()
	m, stats, err := r.StoreStream(ctx, f, bi.meta)
	if err != nil {
		return false, code(err)
	}
	if m.Size != bi.size || m.BLAKE3 != bi.sum {
		return false, cli.Errorf(cli.ExitCorrupt, "binlog %s changed while it was read", path)
	}
	added, err := r.SaveBinlog(ctx, name, m)
	if err != nil {
		if errors.Is(err, repo.ErrConflict) {
			return false, conflict(err)
		}
		return false, code(err)
	}
	d := time.Since(start)
	if added {
		env.Infof("stored binlog %s: %s, added %d bytes, %s", name, cli.Bytes(stats.Bytes), stats.NewBytes, cli.Rate(stats.Bytes, d))
		if rf.JSON {
			return true, printJSON(env, map[string]any{"binlog": name, "size": stats.Bytes, "added_bytes": stats.NewBytes, "blake3": m.BLAKE3.String(), "meta": bi.meta})
		}
		return true, env.Printf("%s\n", name)
	}
	return false, nil
}

// loadBinlogs lists the stored binlog files in replay order.
func loadBinlogs(ctx context.Context, r *repo.Repository) ([]repo.Binlog, error) {
	list, broken, err := r.Binlogs(ctx)
	if err != nil {
		return nil, err
	}
	for name, err := range broken {
		return nil, fmt.Errorf("binlog %s: %w", name, err)
	}
	slices.SortFunc(list, func(a, b repo.Binlog) int {
		return position.Compare(position.Pos{File: a.Name}, position.Pos{File: b.Name})
	})
	return list, nil
}

// selectSince returns the files of list (in replay order) that replay
// needs given since: a GTID set (the file holding the first transaction
// not in it, and all later), a time (the first file with an event at or
// after it, and all later) or a file name (it and all later).
func selectSince(list []repo.Binlog, since string) ([]repo.Binlog, error) {
	if since == "" {
		return list, nil
	}
	if t, ok := cli.ParseTime(since, time.UTC); ok {
		for i, b := range list {
			lt, err := time.Parse(time.RFC3339, b.Manifest.Meta["last_time"])
			if err != nil || !lt.Before(t) {
				return list[i:], nil
			}
		}
		return nil, nil
	}
	for i, b := range list {
		if b.Name == since {
			return list[i:], nil
		}
	}
	if _, ok := position.Index(since); ok && !strings.ContainsAny(since, ":") {
		// A file name that is not stored: the files after it.
		for i, b := range list {
			if position.Compare(position.Pos{File: b.Name}, position.Pos{File: since}) > 0 {
				return list[i:], nil
			}
		}
		return nil, nil
	}
	var flavor position.Flavor
	for _, b := range list {
		if f, err := position.ParseFlavor(b.Manifest.Meta["flavor"]); err == nil {
			flavor = f
			break
		}
	}
	if flavor == "" {
		flavor = position.MariaDB
		if strings.Contains(since, ":") {
			flavor = position.MySQL
		}
	}
	set, err := position.ParseSet(flavor, since)
	if err != nil {
		return nil, cli.Errorf(cli.ExitUsage, "--since %q is not a GTID set, a time or a binlog file name: %w", since, err)
	}
	for i, b := range list {
		end, err := position.ParseSet(flavor, b.Manifest.Meta["end_gtid_set"])
		if err != nil {
			// Without GTIDs there is no telling: keep it and the rest.
			return list[i:], nil
		}
		if !set.ContainsSet(end) {
			return list[i:], nil
		}
	}
	return nil, nil
}

// getBinlogs writes the selected binlog files into dir, each under a
// temporary name until whole and checked.
func getBinlogs(ctx context.Context, env *cli.Env, rf *RepoFlags, r *repo.Repository, since, dir string) error {
	list, err := loadBinlogs(ctx, r)
	if err != nil {
		return code(err)
	}
	sel, err := selectSince(list, since)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cli.WithCode(cli.ExitIO, err)
	}
	var total int64
	for _, b := range sel {
		path := filepath.Join(dir, b.Name)
		if fi, err := os.Stat(path); err == nil && fi.Size() == b.Manifest.Size {
			if sum, err := hashFile(path); err == nil && sum == b.Manifest.BLAKE3 {
				env.Debugf("%s is there already", path)
				if err := env.Printf("%s\n", path); err != nil {
					return err
				}
				continue
			}
		}
		af, err := fsx.CreateAtomic(path, 0o600)
		if err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		n, err := r.WriteStream(ctx, ids.ID{}, "binlog "+b.Name, b.Manifest, af)
		if err != nil {
			af.Abort()
			if repo.IsCorrupt(err) {
				return cli.WithHint(cli.WithCode(cli.ExitCorrupt, err), "dr-ship check --read-data --repo "+rf.Repo+" looks for more damage")
			}
			return code(err)
		}
		if err := af.Commit(); err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		total += n
		if err := env.Printf("%s\n", path); err != nil {
			return err
		}
	}
	env.Infof("wrote %d binlog files (%s) into %s", len(sel), cli.Bytes(total), dir)
	return nil
}

func hashFile(path string) (ids.ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return ids.ID{}, err
	}
	defer f.Close()
	h := ids.NewHasher()
	if _, err := io.Copy(h, f); err != nil {
		return ids.ID{}, err
	}
	return h.Sum(), nil
}
