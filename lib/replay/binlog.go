package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dr-mysql/dr/lib/apply"
	"github.com/dr-mysql/dr/lib/binlogdir"
	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/position"
	"github.com/dr-mysql/dr/lib/snapfmt"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// baseSession is the state of a replaying session between statements:
// row values are written for it (TIMESTAMPs in UTC, zero dates allowed),
// and a statement-based event that changes it is followed by it again.
var baseSession = []string{
	"SET NAMES utf8mb4",
	"SET SESSION time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', " +
		"foreign_key_checks = 1, unique_checks = 1, sql_auto_is_null = 0, timestamp = DEFAULT",
}

// ddlRedoCodes are the errors of a DDL statement that already took effect:
// after a crash between a DDL and the checkpoint that follows it, the DDL
// runs again and these say it is done.
var ddlRedoCodes = []uint16{1007, 1008, 1050, 1051, 1054, 1060, 1061, 1091, 1146, 1304, 1305, 1359, 1360, 1396, 1537, 1539, 4089, 4090}

// replayer applies binlogs to a target.
type replayer struct {
	cmd  *Cmd
	env  *cli.Env
	spec *mysqlx.Spec

	main    *session   // checkpoints, DDL, the catalog, batches applied in one transaction
	workers []*session // --threads > 1: the connections of parallel apply
	srv     *mysqlx.Server
	cat     *apply.Catalog
	cp      *apply.Checkpoint // where the target stands; advanced with every commit
	set     *position.Set     // cp's GTID set, parsed
	start   position.Pos      // transactions ending at or before it are in the target
	redo    bool              // the first transaction is a DDL that may have run already
	filter  func(db, table string) bool
	warned  map[string]bool // databases whose dropped statements were warned of

	stopAt   time.Time
	stopPos  position.Pos
	stopGTID string
	skip     map[string]bool
	reached  string // the stop condition met, "" for the end of the binlogs

	// The batch: source transactions not yet committed.
	batch      []*work
	batchBytes int
	cur        *work         // the transaction add is turning into statements
	pending    *apply.Txn    // the last transaction seen, applied or skipped, not yet in cp
	fkOff      bool          // foreign_key_checks is off after the statements so far
	sqlFormat  *apply.Format // --sql: the format description printed last
	sqlDDL     bool          // --sql: a DDL was printed
	// Source sessions that made temporary tables, and the target
	// sessions that hold them (see tempSession).
	tempThreads map[uint32]bool
	sessions    map[uint32]*session
	startFormat *apply.Format // the last file the source wrote at its start
	// done holds the transactions after the checkpoint that a parallel
	// run applied before it was cut off (see parallel.go), until they
	// are met; consumed, those met since the last checkpoint.
	done     map[snapfmt.BinlogPos]bool
	consumed []snapfmt.BinlogPos
	partial  int64 // transactions applied and recorded as done, past the checkpoint

	started                          time.Time
	txns, rows, stmts, skipped, ddls int64
	lastTime                         uint32 // source commit time of the last applied transaction
	lastJSON                         time.Time
}

func (c *Cmd) runBinlog(ctx context.Context, env *cli.Env, spec *mysqlx.Spec) error {
	f := &c.BinlogFlags
	switch {
	case f.BinlogDir == "" && len(f.Files) == 0:
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "nothing to do: give --snapshot, --binlog-dir or binlog files"), "dr-replay --help shows examples")
	case f.BinlogDir != "" && len(f.Files) > 0:
		return cli.Errorf(cli.ExitUsage, "--binlog-dir and binlog files exclude each other")
	case c.Resume || c.Force || c.EnableEvents:
		return cli.Errorf(cli.ExitUsage, "--resume, --force and --enable-events are for --snapshot")
	case f.Follow && f.BinlogDir == "":
		return cli.Errorf(cli.ExitUsage, "--follow needs --binlog-dir")
	case f.Batch < 1:
		return cli.Errorf(cli.ExitUsage, "--batch must be at least 1")
	case f.StartGTID != "" && f.StartPosition != "":
		return cli.Errorf(cli.ExitUsage, "--start-gtid and --start-position exclude each other")
	}
	for _, t := range f.Tables {
		if !strings.Contains(t, ".") {
			return cli.Errorf(cli.ExitUsage, "--tables %s: want db.table", t)
		}
	}
	if c.Binlog {
		// Each source transaction is logged on the target under its
		// own GTID: one target transaction each.
		f.Batch = 1
	}
	r := &replayer{cmd: c, env: env, spec: spec, skip: map[string]bool{}, warned: map[string]bool{}}
	if err := r.parseStops(); err != nil {
		return err
	}
	r.filter = tableFilter(c.Databases, f.Tables)
	return r.run(ctx)
}

func (r *replayer) parseStops() error {
	f := &r.cmd.BinlogFlags
	if f.StopDatetime != "" {
		t, ok := cli.ParseTime(f.StopDatetime, time.Local)
		if !ok {
			return cli.Errorf(cli.ExitUsage, "--stop-datetime: %q is not a time ('2006-01-02 15:04:05', local time, or RFC 3339)", f.StopDatetime)
		}
		r.stopAt = t
	}
	if f.StopPosition != "" {
		p, err := position.ParsePos(f.StopPosition)
		if err != nil {
			return cli.Errorf(cli.ExitUsage, "--stop-position: %w", err)
		}
		r.stopPos = p
	}
	if f.StopGTID != "" {
		g, err := parseAnyGTID(f.StopGTID)
		if err != nil {
			return cli.Errorf(cli.ExitUsage, "--stop-gtid: %w", err)
		}
		r.stopGTID = g
	}
	for _, s := range f.SkipGTID {
		g, err := parseAnyGTID(s)
		if err != nil {
			return cli.Errorf(cli.ExitUsage, "--skip-gtid: %w", err)
		}
		r.skip[g] = false
	}
	return nil
}

// parseAnyGTID parses a GTID of either flavor and returns its canonical text.
func parseAnyGTID(s string) (string, error) {
	for _, fl := range []position.Flavor{position.MariaDB, position.MySQL} {
		if g, err := position.ParseGTID(fl, strings.TrimSpace(s)); err == nil {
			return g.String(), nil
		}
	}
	return "", fmt.Errorf("%q is not a GTID (domain-server-seq, or uuid:n)", s)
}

// tableFilter selects tables by --databases and --tables; nil selects all.
func tableFilter(dbs, tables []string) func(db, table string) bool {
	if len(dbs) == 0 && len(tables) == 0 {
		return nil
	}
	return func(db, table string) bool {
		if slices.Contains(dbs, db) {
			return true
		}
		return table != "" && slices.Contains(tables, db+"."+table)
	}
}

// selects reports whether a statement is replayed: by its session's
// default database, as mariadb-binlog --database selects. A statement
// cannot be told apart by table, so --tables drops those of a database it
// names; and a statement without a default database is dropped by any
// selection. Each of these is said once for its database: the replay
// misses what they changed.
func (r *replayer) selects(t *apply.Txn, st *apply.Statement) bool {
	if r.filter == nil || r.filter(st.DB, "") {
		return true
	}
	if r.warned[st.DB] {
		return false
	}
	if st.DB == "" {
		r.warned[st.DB] = true
		r.env.Warnf("%s: a statement without a default database is not replayed (--databases and --tables select by the session's database): %s", t.Label(), sqltext.Abbrev(st.SQL, 80))
		return false
	}
	for _, name := range r.cmd.Tables {
		if db, _, _ := strings.Cut(name, "."); db == st.DB {
			r.warned[db] = true
			r.env.Warnf("%s: a statement in database %s is not replayed: --tables selects rows, not statements; use --databases %s to replay them", t.Label(), db, db)
			break
		}
	}
	return false
}

// skipGiven reports whether --skip-gtid names g.
func (r *replayer) skipGiven(g string) bool {
	_, ok := r.skip[g]
	return ok
}

func (r *replayer) run(ctx context.Context) error {
	f := &r.cmd.BinlogFlags
	r.started = r.env.Now()
	conn, srv, err := r.spec.Connect(ctx, replayOptions)
	if err != nil {
		return err
	}
	defer conn.Close()
	r.main, r.srv = &session{conn: conn}, srv
	if err := r.setup(ctx, conn); err != nil {
		return err
	}
	r.cat = apply.NewCatalog(conn)
	if err := r.startPoint(ctx); err != nil {
		return err
	}
	if err := r.openWorkers(ctx); err != nil {
		return err
	}
	defer r.closeWorkers()
	if r.cat.Families = len(r.workers) > 0; r.cat.Families {
		r.cat.Forget() // nothing read so far lacks its family
	}
	rd, err := r.reader(ctx)
	if err != nil {
		return err
	}
	defer rd.Close()
	rd.Idle = func() error { return r.flush(ctx) }
	r.env.SetProgress(r.progress)
	defer r.env.SetProgress(nil)

	if f.SQL {
		if err := r.printHeader(); err != nil {
			return err
		}
	}
	dec := apply.NewDecoder()
	err = r.loop(ctx, rd, dec)
	if err == nil {
		err = r.flush(ctx)
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, io.EOF) {
			r.flush(context.Background())
			// SIGTERM (systemd's stop) ends a follower cleanly; SIGINT
			// is an interruption.
			if r.cmd.Follow && r.env.StopSignal() != nil && r.env.StopSignal() != os.Interrupt {
				return r.report()
			}
			return cli.ErrInterrupted
		}
		return r.failed(err)
	}
	return r.report()
}

// setup sets up a replaying connection.
func (r *replayer) setup(ctx context.Context, conn *client.Conn) error {
	stmts := append([]string{
		"SET SESSION autocommit = 1, wait_timeout = 86400, net_read_timeout = 3600, net_write_timeout = 3600",
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
	}, baseSession...)
	if r.srv.Flavor == position.MariaDB {
		stmts = append(stmts, "SET SESSION max_statement_time = 0")
	}
	if !r.cmd.Binlog && !r.cmd.SQL {
		stmts = append(stmts, "SET SESSION sql_log_bin = 0")
	}
	if err := mysqlx.Exec(ctx, conn, stmts...); err != nil {
		return r.targetError(err)
	}
	return nil
}

// startPoint reads the target's checkpoint, or takes --start-*.
func (r *replayer) startPoint(ctx context.Context) error {
	f := &r.cmd.BinlogFlags
	cp, err := apply.ReadCheckpoint(ctx, r.main.conn)
	if err != nil {
		return r.targetError(err)
	}
	flavor := r.srv.Flavor
	switch {
	case cp != nil && (f.StartGTID != "" || f.StartPosition != ""):
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "%s has a checkpoint (%s:%d): replay starts there, not at --start-*", r.spec, cp.Binlog.File, cp.Binlog.Pos),
			"DELETE FROM dr_replay.checkpoint on the target first if it really should start elsewhere")
	case cp != nil && cp.State == apply.StateRestoring:
		return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s: a snapshot restore into it has not finished", r.spec),
			"finish it with dr-replay --snapshot ... --resume first")
	case cp != nil:
		if fl, err := position.ParseFlavor(cp.Source.Flavor); err == nil {
			flavor = fl
		}
		r.cp = cp
		r.start = position.Pos{File: cp.Binlog.File, Offset: cp.Binlog.Pos}
		r.redo = cp.State == stateDDL
		if r.done, err = apply.ReadDone(ctx, r.main.conn); err != nil {
			return r.targetError(err)
		}
	case f.StartPosition != "":
		p, err := position.ParsePos(f.StartPosition)
		if err != nil {
			return cli.Errorf(cli.ExitUsage, "--start-position: %w", err)
		}
		r.start = p
		r.cp = &apply.Checkpoint{State: apply.StateRestored}
	case f.StartGTID != "":
		r.cp = &apply.Checkpoint{State: apply.StateRestored, GTIDSet: f.StartGTID}
	}
	if r.cp == nil {
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "%s has no dr_replay checkpoint: where should replay start?", r.spec),
			"restore a snapshot first (dr-replay --snapshot), or give --start-gtid or --start-position")
	}
	if cp == nil && !r.cmd.SQL {
		// A new start: what an earlier replay recorded past a
		// checkpoint since deleted means nothing now.
		err := r.unlogged(ctx, func() error { return mysqlx.Exec(ctx, r.main.conn, apply.ClearDoneSQL) })
		if err != nil && !apply.NoSchema(err) {
			return r.targetError(err)
		}
	}
	r.set, err = position.ParseSet(flavor, r.cp.GTIDSet)
	if err != nil {
		if f.StartGTID != "" {
			return cli.Errorf(cli.ExitUsage, "--start-gtid: %w", err)
		}
		return cli.Errorf(cli.ExitCorrupt, "%s: %s.checkpoint: %w", r.spec, apply.Schema, err)
	}
	return nil
}

// stateDDL is the checkpoint's state while a DDL statement runs: the
// position is that of the DDL's transaction, which may have taken effect.
const stateDDL = "ddl"

// reader opens the binlogs from the start point's file.
func (r *replayer) reader(ctx context.Context) (*binlogdir.Reader, error) {
	f := &r.cmd.BinlogFlags
	if f.BinlogDir == "" {
		files := f.Files
		if r.start.File != "" {
			// Files before the start point's are all in the target.
			i := slices.IndexFunc(files, func(p string) bool { return filepath.Base(p) == r.start.File })
			if i < 0 {
				return nil, cli.Errorf(cli.ExitCorrupt, "replay starts in %s, which is not among the files given", r.start.File)
			}
			files = files[i:]
		}
		for _, p := range files {
			if _, err := os.Stat(p); err != nil {
				return nil, cli.WithCode(cli.ExitIO, err)
			}
		}
		return binlogdir.NewFileReader(files), nil
	}
	file := r.start.File
	if file == "" {
		// --start-gtid: from the oldest file there.
		first, err := oldestFile(f.BinlogDir)
		if err != nil {
			return nil, err
		}
		file = first
	}
	if f.Follow {
		// Started with dr-binlog-pull (two units of one systemd target):
		// wait for it to write the directory.
		if err := r.waitForDir(ctx, file); err != nil {
			return nil, err
		}
	}
	rd, err := binlogdir.NewDirReader(f.BinlogDir, file, f.Follow)
	if err != nil {
		var ce *binlogdir.CorruptError
		if errors.As(err, &ce) {
			return nil, cli.WithCode(cli.ExitCorrupt, err)
		}
		return nil, cli.WithCode(cli.ExitIO, err)
	}
	st := rd.State()
	if src := r.cp.Source; src.ServerID != 0 && (src.ServerID != st.Source.ServerID || src.ServerUUID != st.Source.ServerUUID) {
		return nil, cli.WithHint(cli.Errorf(cli.ExitRefused, "%s holds the binlogs of %s, but the target follows server_id %d%s",
			f.BinlogDir, st.Source, src.ServerID, uuidPart(src.ServerUUID)), "replay the binlogs of the server the target's snapshot came from")
	}
	if r.cp.Source.ServerID == 0 {
		r.cp.Source = snapfmt.Source{ServerID: st.Source.ServerID, ServerUUID: st.Source.ServerUUID, Flavor: st.Source.Flavor, Version: st.Source.Version, Address: st.Source.Address}
	}
	if _, err := os.Stat(filepath.Join(f.BinlogDir, file)); errors.Is(err, fs.ErrNotExist) && !st.AtStartOf(file) {
		return nil, cli.WithHint(cli.Errorf(cli.ExitCorrupt, "%s: replay starts in %s, which is not there", f.BinlogDir, file),
			"the binlogs from there on are needed: dr-ship get --binlogs --since ... can bring them back")
	}
	return rd, nil
}

// waitForDir waits until dir has a state file and, unless the state is
// already past it, the file replay starts in.
func (r *replayer) waitForDir(ctx context.Context, file string) error {
	dir := r.cmd.BinlogDir
	said := false
	for {
		st, err := binlogdir.ReadState(dir)
		if err != nil {
			return cli.WithCode(cli.ExitCorrupt, err)
		}
		if st != nil {
			_, err := os.Stat(filepath.Join(dir, file))
			if err == nil || position.Compare(position.Pos{File: st.File}, position.Pos{File: file}) > 0 {
				return nil
			}
		}
		if !said {
			r.env.Infof("waiting for dr-binlog-pull to write %s in %s", file, dir)
			said = true
		}
		select {
		case <-ctx.Done():
			return cli.ErrInterrupted
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func uuidPart(u string) string {
	if u == "" {
		return ""
	}
	return " (server_uuid " + u + ")"
}

// oldestFile is the first binlog file of a directory.
func oldestFile(dir string) (string, error) {
	files, err := binlogdir.Files(dir)
	if err != nil {
		return "", cli.WithCode(cli.ExitIO, err)
	}
	if len(files) == 0 {
		return "", cli.Errorf(cli.ExitCorrupt, "%s holds no binlog files", dir)
	}
	return files[0], nil
}

// loop reads, decodes and applies until the end or a stop point.
func (r *replayer) loop(ctx context.Context, rd *binlogdir.Reader, dec *apply.Decoder) error {
	f := &r.cmd.BinlogFlags
	for {
		ev, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// The whole transactions before the bad spot are good.
			if ctx.Err() == nil {
				if ferr := r.flush(ctx); ferr != nil {
					return ferr
				}
			}
			return r.binlogError(err)
		}
		if ev.Header.Type == binlogdir.FormatDescriptionEvent && f.BinlogDir == "" {
			if err := r.checkFileSource(ev); err != nil {
				return err
			}
		}
		t, err := dec.Feed(ev)
		if err != nil {
			if ferr := r.flush(ctx); ferr != nil {
				return ferr
			}
			return cli.WithCode(cli.ExitCorrupt, err)
		}
		if t == nil {
			continue
		}
		done, err := r.txn(ctx, t)
		if err != nil || done {
			return err
		}
	}
}

// checkFileSource refuses binlog files of another server than the one
// the target follows: the FORMAT_DESCRIPTION is written by the server
// whose file it is.
func (r *replayer) checkFileSource(ev binlogdir.Event) error {
	h, err := binlogdir.ParseHeader(ev.Data)
	if err != nil {
		return cli.WithCode(cli.ExitCorrupt, err)
	}
	if src := r.cp.Source; src.ServerID != 0 && h.ServerID != src.ServerID {
		return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s was written by server_id %d, but the target follows server_id %d", ev.File, h.ServerID, src.ServerID),
			"replay the binlogs of the server the target's snapshot came from")
	}
	if r.cp.Source.ServerID == 0 {
		r.cp.Source.ServerID = h.ServerID
		r.cp.Source.Flavor = string(r.set.Flavor())
	}
	return nil
}

// txn handles one source transaction; done is true at a stop point.
func (r *replayer) txn(ctx context.Context, t *apply.Txn) (done bool, err error) {
	endPos := position.Pos{File: t.File, Offset: uint64(t.End)}
	if r.start.File != "" {
		if c := position.Compare(endPos, r.start); c <= 0 {
			return false, nil // in the target already
		}
		if t.File == r.start.File && uint64(t.Pos) < r.start.Offset {
			return false, cli.Errorf(cli.ExitCorrupt, "the start point %s lies inside the %s", r.start, t.Label())
		}
	}
	if t.HasGTID && r.set.Contains(t.GTID) {
		return false, nil
	}
	// Stop points: before the transaction that meets one.
	if !r.stopAt.IsZero() && !time.Unix(int64(t.Time), 0).Before(r.stopAt) {
		r.reached = "stop-datetime"
		return true, nil
	}
	if !r.stopPos.IsZero() && position.Compare(position.Pos{File: t.File, Offset: uint64(t.Pos)}, r.stopPos) >= 0 {
		r.reached = "stop-position"
		return true, nil
	}
	if r.stopGTID != "" && t.HasGTID && t.GTID.String() == r.stopGTID {
		r.reached = "stop-gtid"
		return true, nil
	}
	if end := txnEnd(t); r.done[end] {
		// Applied by a parallel run that was cut off before its
		// checkpoint: in the target, and in the next checkpoint.
		delete(r.done, end)
		r.consumed = append(r.consumed, end)
		if g := t.GTID.String(); t.HasGTID && r.skipGiven(g) {
			r.skip[g] = true
			r.env.Warnf("--skip-gtid %s: an earlier run that was cut off applied it already; it cannot be skipped now", g)
		}
		r.advance(t)
		return false, nil
	}
	if t.HasGTID {
		if r.skipGiven(t.GTID.String()) {
			r.skip[t.GTID.String()] = true
			r.skipped++
			r.env.Infof("skipped %s", t.Label())
			r.advance(t)
			// The checkpoint passes it before any later transaction
			// commits: parallel parts of a batch after it could
			// otherwise commit, and a run cut off before the checkpoint
			// and restarted without --skip-gtid apply it after them.
			return false, r.flush(ctx)
		}
	}
	if t.HasDDL() {
		return false, r.ddl(ctx, t)
	}
	if err := r.add(ctx, t); err != nil {
		return false, err
	}
	r.advance(t)
	last := r.batch[len(r.batch)-1]
	if len(r.batch) >= r.cmd.Batch || r.batchBytes >= 8<<20 || last.barrier && (len(r.workers) > 0 || last.thread != 0) {
		return false, r.flush(ctx)
	}
	return false, nil
}

// advance moves the pending checkpoint past t.
func (r *replayer) advance(t *apply.Txn) {
	r.pending = t
	if t.HasGTID {
		r.set.Add(t.GTID)
	}
}

// add appends the statements of a DML transaction to the batch.
func (r *replayer) add(ctx context.Context, t *apply.Txn) error {
	thread := r.tempThread(t)
	if len(r.batch) > 0 && t.HasStatements() && (len(r.workers) > 0 || thread != 0) {
		// A statement's rows are unknown: it goes alone, after the
		// batch before it (see parallel.go); so does one that needs
		// its source session's temporary tables.
		if err := r.flush(ctx); err != nil {
			return err
		}
	}
	r.cur = &work{t: t, thread: thread}
	for _, c := range t.Changes {
		if c.Stmt != nil {
			if !r.selects(t, c.Stmt) {
				continue
			}
			r.cur.barrier = true
			stmts, err := r.statementSQL(ctx, t, c.Stmt)
			if err != nil {
				return err
			}
			r.push(t, stmts...)
			r.push(t, r.resetSession()...)
			continue
		}
		e := c.Rows
		db, name := string(e.Table.Schema), string(e.Table.Table)
		if db == apply.Schema || (r.filter != nil && !r.filter(db, name)) {
			continue
		}
		if r.cmd.SQL && r.sqlDDL {
			// --sql after a DDL: the target, read for definitions,
			// may not have that DDL yet (a pipe applies it some
			// time later); the server's applier needs none.
			if err := r.pushBinlog(t, qualified(db, name), c); err != nil {
				return err
			}
			r.countRows(e)
			continue
		}
		tbl, err := r.cat.Table(ctx, db, name)
		if err != nil {
			return r.diverged(t, c.Pos, err)
		}
		if len(r.workers) > 0 {
			tbl.Keys(e, r.cur.addKey)
		}
		if tbl.ServerApplies() {
			if err := r.pushBinlog(t, tbl.String(), c); err != nil {
				return err
			}
		} else {
			stmts, err := apply.RowsSQL(tbl, e, r.cmd.Idempotent)
			if err != nil {
				return r.diverged(t, c.Pos, err)
			}
			if off := e.Flags&apply.RowsNoForeignKeyChecks != 0; off != r.fkOff {
				r.fkOff = off
				check := "1"
				if off {
					check = "0"
				}
				r.push(t, apply.Stmt{SQL: "SET SESSION foreign_key_checks = " + check, Want: -1})
			}
			r.push(t, stmts...)
		}
		r.countRows(e)
	}
	if r.fkOff {
		// Each transaction leaves the session as it found it: in
		// parallel apply, the next one on this connection is another.
		r.fkOff = false
		r.push(t, apply.Stmt{SQL: "SET SESSION foreign_key_checks = 1", Want: -1})
	}
	r.batch = append(r.batch, r.cur)
	r.cur = nil
	r.txns++
	if t.Time > r.lastTime {
		r.lastTime = t.Time
	}
	return nil
}

// pushBinlog appends the rows of c, on a table the server applies rows
// to (apply.Table.ServerApplies), as a BINLOG statement; the session that
// runs it gets the file's format description first where it does not
// have it yet (withFormats).
func (r *replayer) pushBinlog(t *apply.Txn, table string, c apply.Change) error {
	if t.Format == nil {
		return cli.Errorf(cli.ExitCorrupt, "%s:%d (%s): rows event before the file's format description", t.File, c.Pos, t.Label())
	}
	sql, err := apply.BinlogSQL(t.Format, c)
	if err != nil {
		return cli.Errorf(cli.ExitCorrupt, "%s: %v (%s)", t.File, err, t.Label())
	}
	r.push(t, apply.Stmt{SQL: sql, Want: -1, What: "rows of " + table + " by the server's row applier", Format: t.Format})
	return nil
}

// countRows counts the rows of a rows event.
func (r *replayer) countRows(e *replication.RowsEvent) {
	if e.Type() == replication.EnumRowsEventTypeUpdate { // a before and an after image a row
		r.rows += int64(len(e.Rows) / 2)
	} else {
		r.rows += int64(len(e.Rows))
	}
}

// withFormats puts the BINLOG statement of a format description before
// each BINLOG statement of rows whose format the session (last says
// which it has) does not have.
func withFormats(stmts []apply.Stmt, last **apply.Format) []apply.Stmt {
	var out []apply.Stmt
	for i, s := range stmts {
		if s.Format != nil && s.Format != *last {
			if out == nil {
				out = append(make([]apply.Stmt, 0, len(stmts)+1), stmts[:i]...)
			}
			out = append(out, apply.Stmt{SQL: apply.FormatSQL(s.Format), Want: -1, What: "a format description"})
			*last = s.Format
		}
		if out != nil {
			out = append(out, s)
		}
	}
	if out == nil {
		return stmts
	}
	return out
}

// push appends statements of t to the transaction being built, each
// named by t for messages.
func (r *replayer) push(t *apply.Txn, stmts ...apply.Stmt) {
	for _, s := range stmts {
		s := s
		if s.What == "" {
			s.What = t.Label()
		} else {
			s.What += " (" + t.Label() + ")"
		}
		r.cur.stmts = append(r.cur.stmts, s)
		r.batchBytes += len(s.SQL)
		r.stmts++
	}
}

// statementSQL runs a QUERY event's statement as the source's session did.
func (r *replayer) statementSQL(ctx context.Context, t *apply.Txn, st *apply.Statement) ([]apply.Stmt, error) {
	collations, err := r.cat.Collations(ctx)
	if err != nil {
		return nil, r.targetError(err)
	}
	var out []apply.Stmt
	for _, v := range st.UserVars {
		sql, err := v.SQL(collations)
		if err != nil {
			return nil, cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s: %w", t.Label(), err))
		}
		out = append(out, apply.Stmt{SQL: sql, Want: -1})
	}
	// A statement on a database as a whole is logged in the database it
	// names (CREATE DATABASE), or in one that may be gone: its default
	// database means nothing, as the server's own applier knows.
	if st.DB != "" && !st.OnDatabase() {
		out = append(out, apply.Stmt{SQL: "USE " + sqltext.QuoteIdent(st.DB), Want: -1})
	}
	for _, s := range st.Vars.SessionSQL(st.Time, collations) {
		out = append(out, apply.Stmt{SQL: s, Want: -1})
	}
	for _, s := range st.Pre {
		out = append(out, apply.Stmt{SQL: s, Want: -1})
	}
	return append(out, apply.Stmt{SQL: string(st.SQL), Want: -1}), nil
}

func (r *replayer) resetSession() []apply.Stmt {
	var out []apply.Stmt
	for _, s := range baseSession {
		out = append(out, apply.Stmt{SQL: s, Want: -1})
	}
	r.fkOff = false
	return out
}

// flush commits the batch together with the checkpoint after it.
func (r *replayer) flush(ctx context.Context) error {
	if r.pending == nil {
		return nil
	}
	t := r.pending
	cp := *r.cp
	cp.State = apply.StateRestored
	cp.Binlog = txnEnd(t)
	cp.GTIDSet = r.set.String()
	cp.Updated = r.env.Now()
	batch := r.batch
	r.batch, r.batchBytes, r.pending = nil, 0, nil
	if r.cmd.SQL {
		*r.cp, r.consumed = cp, nil
		return r.printBatch(withFormats(statements(batch), &r.sqlFormat))
	}
	var err error
	s := r.main
	if len(batch) == 1 && batch[0].thread != 0 {
		if s, err = r.tempSession(ctx, batch[0].thread); err != nil {
			return err
		}
	}
	switch {
	case r.cmd.Binlog:
		err = r.applyLogged(ctx, s, batch, &cp)
	case len(r.workers) > 0 && len(batch) > 1 && !slices.ContainsFunc(batch, func(w *work) bool { return w.barrier }):
		err = r.applyParallel(ctx, batch, &cp)
	default:
		err = r.applySerial(ctx, s, statements(batch), &cp)
	}
	if err != nil {
		return err
	}
	*r.cp = cp
	r.consumed = nil
	r.followJSON()
	return nil
}

// applySerial applies stmts in one transaction on s, with the checkpoint.
func (r *replayer) applySerial(ctx context.Context, s *session, batch []apply.Stmt, cp *apply.Checkpoint) error {
	stmts := make([]apply.Stmt, 0, len(batch)+3)
	stmts = append(stmts, apply.Stmt{SQL: "BEGIN", Want: -1})
	stmts = append(stmts, batch...)
	stmts = append(stmts, apply.Stmt{SQL: apply.WriteCheckpointSQL(cp), Want: -1})
	if len(r.consumed) > 0 {
		stmts = append(stmts, apply.Stmt{SQL: apply.ForgetDoneSQL(r.consumed), Want: -1})
	}
	return r.commit(ctx, s, stmts)
}

// applyLogged is the apply of --binlog: a batch holds at most one source
// transaction (--binlog sets --batch 1), which the target logs under the
// source's GTID, as a replica does, so that the target's binlog and GTID
// position go on from the source's. A checkpoint that records no change
// (a transaction skipped, or all filtered out) is not logged at all.
func (r *replayer) applyLogged(ctx context.Context, s *session, batch []*work, cp *apply.Checkpoint) error {
	stmts := statements(batch)
	if len(stmts) == 0 {
		return r.unlogged(ctx, func() error { return r.applySerial(ctx, r.main, nil, cp) })
	}
	return r.withGTID(ctx, s, batch[0].t, func() error { return r.applySerial(ctx, s, stmts, cp) })
}

// withGTID runs f, which commits t's changes on s, with the session set
// to log them under t's GTID, then sets it back.
func (r *replayer) withGTID(ctx context.Context, s *session, t *apply.Txn, f func() error) error {
	if !r.cmd.Binlog || !t.HasGTID {
		return f()
	}
	var set, reset []string
	switch g := t.GTID; g.Flavor {
	case position.MariaDB:
		// gtid_seq_no on its own, after the domain and server: in
		// gtid_strict_mode it is checked against the domain as it is
		// when the statement starts. It is used up by the transaction
		// logged next, and set to 0 (unset) in case none was. The
		// session keeps the source's server_id: the server finds a
		// temporary table by it, as its replication applier does.
		set = []string{fmt.Sprintf("SET SESSION gtid_domain_id = %d, server_id = %d", g.Domain, g.ServerID), fmt.Sprintf("SET SESSION gtid_seq_no = %d", g.Seq)}
		reset = []string{"SET SESSION gtid_seq_no = 0"}
	default:
		set = []string{"SET SESSION gtid_next = " + sqltext.QuoteString(g.String())}
		reset = []string{"SET SESSION gtid_next = 'AUTOMATIC'"}
	}
	if err := mysqlx.Exec(ctx, s.conn, set...); err != nil {
		return r.targetError(fmt.Errorf("log %s under its GTID: %w", t.Label(), err))
	}
	err := f()
	if rerr := mysqlx.Exec(context.Background(), s.conn, reset...); err == nil && rerr != nil {
		err = r.targetError(rerr)
	}
	return err
}

// unlogged runs f with the session's binlog off: for the checkpoint's own
// transactions under --binlog, which are no source transaction.
func (r *replayer) unlogged(ctx context.Context, f func() error) error {
	if !r.cmd.Binlog {
		return f()
	}
	if err := mysqlx.Exec(ctx, r.main.conn, "SET SESSION sql_log_bin = 0"); err != nil {
		return r.targetError(err)
	}
	err := f()
	if rerr := mysqlx.Exec(context.Background(), r.main.conn, "SET SESSION sql_log_bin = 1"); err == nil && rerr != nil {
		err = r.targetError(rerr)
	}
	return err
}

// commit runs stmts, which begin a transaction, and commits it. COMMIT
// goes on its own, once every count is checked: the server runs all
// statements of a packet, whatever their counts.
func (r *replayer) commit(ctx context.Context, s *session, stmts []apply.Stmt) error {
	if err := r.exec(ctx, s, stmts); err != nil {
		r.abort(s)
		return err
	}
	if err := mysqlx.Exec(ctx, s.conn, "COMMIT"); err != nil {
		return r.targetError(err)
	}
	return nil
}

// abort rolls back what s began, and puts back the session setting a
// transaction may have changed on the way (foreign_key_checks, for rows
// events that carry the source session's): s may apply more later.
func (r *replayer) abort(s *session) {
	mysqlx.Exec(context.Background(), s.conn, "ROLLBACK", "SET SESSION foreign_key_checks = 1")
}

// exec runs statements on s, many a round trip, and checks each one's
// count.
func (r *replayer) exec(ctx context.Context, s *session, stmts []apply.Stmt) (err error) {
	stmts = withFormats(stmts, &s.format)
	defer func() {
		if err != nil {
			// Whether the format description ran is not known.
			s.format = nil
		}
	}()
	for len(stmts) > 0 {
		n, size := 0, 0
		for n < len(stmts) && (n == 0 || size+len(stmts[n].SQL) < 4<<20) {
			size += len(stmts[n].SQL) + 1
			n++
			// The server's answer to a BINLOG statement of rows no
			// longer says that more results follow, so the counts of
			// what came after it in the packet would be lost: it is
			// always the last of its packet.
			if stmts[n-1].Format != nil {
				break
			}
		}
		part := stmts[:n]
		sqls := make([]string, n)
		for i, s := range part {
			sqls[i] = s.SQL
		}
		affected, err := mysqlx.ExecMulti(ctx, s.conn, sqls)
		for i, a := range affected {
			if w := part[i].Want; w >= 0 && int64(a) != w {
				return cli.Errorf(cli.ExitCorrupt, "%s: the target has diverged: %s: %d rows found, %d expected (statement: %s)",
					r.spec, part[i].What, a, w, sqltext.Abbrev(part[i].SQL, 300))
			}
		}
		if err != nil {
			if len(affected) < n && mysqlx.ErrorCode(err) != 0 {
				s := part[len(affected)]
				switch code := mysqlx.ErrorCode(err); {
				case (code == 1062 || code == 1032) && s.Format != nil:
					return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "%s: the target has diverged: %s: %w", r.spec, s.What, err),
						"the server's row applier is strict whatever --idempotent says: restore the target from a snapshot again, or skip with --skip-gtid")
				case code == 1062:
					return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "%s: the target has diverged: %s: %w (statement: %s)", r.spec, s.What, err, sqltext.Abbrev(s.SQL, 300)),
						"--idempotent applies rows whatever the target holds")
				}
				return r.targetError(fmt.Errorf("%s: %w (statement: %s)", s.What, err, sqltext.Abbrev(s.SQL, 300)))
			}
			return r.targetError(err)
		}
		stmts = stmts[n:]
	}
	return nil
}

// ddl applies a transaction that holds DDL, on its own: the statement
// commits by itself, so the checkpoint first says a DDL at this position
// is under way, then, once it ran, that it is done.
func (r *replayer) ddl(ctx context.Context, t *apply.Txn) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	s := r.main
	if thread := r.tempThread(t); thread != 0 && !r.cmd.SQL {
		var err error
		if s, err = r.tempSession(ctx, thread); err != nil {
			return err
		}
	}
	var stmts []apply.Stmt
	for _, c := range t.Changes {
		if c.Stmt == nil || !r.selects(t, c.Stmt) {
			continue
		}
		sql, err := r.statementSQL(ctx, t, c.Stmt)
		if err != nil {
			return err
		}
		stmts = append(stmts, sql...)
	}
	redo := r.redo && t.File == r.start.File && uint64(t.Pos) == r.start.Offset
	r.redo = false
	if len(stmts) > 0 {
		stmts = append(stmts, r.resetSession()...)
		if r.cmd.SQL {
			r.pending = t
			r.sqlDDL = true
			if err := r.printBatch(stmts); err != nil {
				return err
			}
		} else {
			r.cp.State, r.cp.Binlog, r.cp.Updated = stateDDL, snapfmt.BinlogPos{File: t.File, Pos: uint64(t.Pos)}, r.env.Now()
			err := r.unlogged(ctx, func() error {
				return r.exec(ctx, r.main, []apply.Stmt{{SQL: apply.WriteCheckpointSQL(r.cp), Want: -1}})
			})
			if err != nil {
				return err
			}
			var runOn func(s *session, stmts []apply.Stmt) error
			runOn = func(s *session, stmts []apply.Stmt) error {
				for i, st := range stmts {
					err := r.exec(ctx, s, []apply.Stmt{st})
					if err != nil && mysqlx.ErrorCode(err) == 1049 && strings.HasPrefix(st.SQL, "USE ") {
						// The source session's database is gone (another
						// session dropped it); the statement ran there
						// all the same, so it names what it works on.
						// It runs on a new session without a database,
						// never in the one this session had before:
						// with the user variables set before the USE,
						// and logged under the same GTID.
						conn, err := r.connect(ctx)
						if err != nil {
							return err
						}
						defer conn.Close()
						fresh := &session{conn: conn}
						rest := append(slices.Clone(stmts[:i]), stmts[i+1:]...)
						return r.withGTID(ctx, fresh, t, func() error { return runOn(fresh, rest) })
					}
					if err != nil && redo && slices.Contains(ddlRedoCodes, mysqlx.ErrorCode(err)) {
						r.env.Infof("%s was applied before the interruption: %v", t.Label(), err)
						continue
					}
					if err != nil {
						return err
					}
				}
				return nil
			}
			err = r.withGTID(ctx, s, t, func() error { return runOn(s, stmts) })
			if err != nil {
				return err
			}
		}
		r.cat.Forget()
		r.ddls++
		r.txns++
		r.lastTime = max(r.lastTime, t.Time)
	}
	r.advance(t)
	return r.flush(ctx)
}

// diverged wraps an error about a rows event with where it is.
func (r *replayer) diverged(t *apply.Txn, pos int64, err error) error {
	var de *apply.DivergedError
	if errors.As(err, &de) {
		return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "%s: %w, at %s:%d (%s)", r.spec, err, t.File, pos, t.Label()),
			"the target does not hold what the binlog expects: restore it from a snapshot again, or skip with --skip-gtid")
	}
	if errors.Is(err, apply.ErrUnsupported) {
		return cli.Errorf(cli.ExitCorrupt, "%s:%d (%s): %w", t.File, pos, t.Label(), err)
	}
	return r.targetError(err)
}

func (r *replayer) targetError(err error) error { return targetError(r.spec, err) }

func (r *replayer) binlogError(err error) error {
	var ce *binlogdir.CorruptError
	if errors.As(err, &ce) {
		return cli.WithCode(cli.ExitCorrupt, err)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return cli.WithCode(cli.ExitIO, err)
}

// failed says where the target stands after a failure.
func (r *replayer) failed(err error) error {
	if !r.cmd.SQL && r.cp != nil && r.cp.Binlog.File != "" {
		if r.partial > 0 {
			r.env.Infof("the target's checkpoint is at %s:%d; %s after it were applied and are recorded in %s.replay_done, which the next run skips",
				r.cp.Binlog.File, r.cp.Binlog.Pos, cli.Count(r.partial, "transaction"), apply.Schema)
		} else {
			r.env.Infof("the target's checkpoint is at %s:%d; what follows it was not applied", r.cp.Binlog.File, r.cp.Binlog.Pos)
		}
	}
	return err
}

func (r *replayer) lag() time.Duration {
	if r.lastTime == 0 {
		return 0
	}
	return r.env.Now().Sub(time.Unix(int64(r.lastTime), 0)).Truncate(time.Second)
}

func (r *replayer) progress() string {
	at := "-"
	if r.cp != nil && r.cp.Binlog.File != "" {
		at = fmt.Sprintf("%s:%d", r.cp.Binlog.File, r.cp.Binlog.Pos)
	}
	return fmt.Sprintf("%d transactions, %d rows applied (%s); at %s, lag %s", r.txns, r.rows,
		rate(r.txns, r.env.Now().Sub(r.started)), at, r.lag())
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds())
}

// followJSON prints a progress line a second with --follow --json.
func (r *replayer) followJSON() {
	if !r.cmd.Follow || !r.cmd.JSON || r.cmd.SQL {
		return
	}
	now := r.env.Now()
	if now.Sub(r.lastJSON) < time.Second {
		return
	}
	r.lastJSON = now
	b, _ := json.Marshal(map[string]any{
		"progress": true, "transactions": r.txns, "rows": r.rows,
		"binlog": r.cp.Binlog, "gtid_set": r.cp.GTIDSet, "lag_seconds": r.lag().Seconds(),
	})
	r.env.Printf("%s\n", b)
}

type replaySummary struct {
	Target       string            `json:"target"`
	Transactions int64             `json:"transactions"`
	Rows         int64             `json:"rows"`
	Statements   int64             `json:"statements"`
	DDL          int64             `json:"ddl"`
	Skipped      int64             `json:"skipped"`
	Seconds      float64           `json:"seconds"`
	PerSecond    float64           `json:"transactions_per_second"`
	Binlog       snapfmt.BinlogPos `json:"binlog"`
	GTIDSet      string            `json:"gtid_set"`
	Stopped      string            `json:"stopped"` // the stop point met, or "end"
}

func (r *replayer) report() error {
	secs := r.env.Now().Sub(r.started).Seconds()
	s := replaySummary{Target: r.spec.String(), Transactions: r.txns, Rows: r.rows, Statements: r.stmts, DDL: r.ddls,
		Skipped: r.skipped, Seconds: secs, Binlog: r.cp.Binlog, GTIDSet: r.cp.GTIDSet, Stopped: r.reached}
	if secs > 0 {
		s.PerSecond = float64(r.txns) / secs
	}
	if s.Stopped == "" {
		s.Stopped = "end"
	}
	for g, seen := range r.skip {
		if !seen {
			r.env.Warnf("--skip-gtid %s: no such transaction was replayed", g)
		}
	}
	if len(r.done) > 0 && !r.cmd.SQL {
		r.env.Warnf("%s past where this run stopped were applied by an earlier run that was cut off: they stay applied, and %s.replay_done names them",
			cli.Count(int64(len(r.done)), "transaction"), apply.Schema)
	}
	verb := "applied"
	if r.cmd.SQL {
		verb = "printed"
	}
	if r.cmd.JSON {
		b, _ := json.Marshal(s)
		if err := r.env.Printf("%s\n", b); err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
	} else {
		at := "nothing to apply"
		if s.Binlog.File != "" {
			at = fmt.Sprintf("at %s:%d", s.Binlog.File, s.Binlog.Pos)
			if s.GTIDSet != "" {
				at += ", GTID " + s.GTIDSet
			}
		}
		r.env.Infof("%s %s (%s, %d skipped) in %.2f s (%s); %s", verb, cli.Count(s.Transactions, "transaction"),
			cli.Count(s.Rows, "row"), s.Skipped, secs, rate(s.Transactions, time.Duration(secs*float64(time.Second))), at)
	}
	f := &r.cmd.BinlogFlags
	if r.reached == "" && (f.StopDatetime != "" || f.StopPosition != "" || f.StopGTID != "") {
		return cli.Errorf(cli.ExitDiff, "the binlogs ended at %s:%d before the stop point was reached", s.Binlog.File, s.Binlog.Pos)
	}
	return nil
}
