package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/apply"
	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/position"
	"github.com/dr-mysql/dr/lib/snapfmt"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// Server errors an object restore may meet again when it resumes: the
// object was created before the interruption but not yet recorded.
var existsCodes = []uint16{
	1007, // database exists
	1050, // table or view exists
	1304, // procedure or function exists
	1359, // trigger exists
	1537, // event exists
}

// Run restores the snapshot.
func (c *Cmd) Run(ctx context.Context, env *cli.Env) error {
	if c.Threads < 0 {
		return cli.Errorf(cli.ExitUsage, "--threads must be positive")
	}
	if c.Threads == 0 {
		c.Threads = runtime.NumCPU()
	}
	spec, warnings, err := c.Conn.Resolve(c.Target, env.Getenv)
	if err != nil {
		return cli.WithCode(cli.ExitUsage, err)
	}
	for _, w := range warnings {
		env.Warnf("%s", w)
	}
	if c.Snapshot == "" {
		return c.runBinlog(ctx, env, spec)
	}
	if c.BinlogDir != "" || len(c.Files) > 0 {
		return cli.Errorf(cli.ExitUsage, "--snapshot restores a snapshot; replay its binlogs in a second run")
	}
	if f := c.binlogOnly(); f != "" {
		return cli.Errorf(cli.ExitUsage, "%s is for binlog replay, not --snapshot", f)
	}
	var in io.Reader = env.Stdin
	name := "standard input"
	if c.Snapshot != "-" {
		f, err := os.Open(c.Snapshot)
		if err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("snapshot: %w", err))
		}
		defer f.Close()
		in, name = f, c.Snapshot
	} else if cli.IsTerminal(env.Stdin) {
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "refusing to read a snapshot stream from a terminal"),
			"pipe dr-snap or dr-ship get into dr-replay, or give --snapshot FILE")
	}
	r := &restorer{cmd: c, env: env, spec: spec, input: name, in: &cli.CountingReader{R: in}}
	return r.run(ctx)
}

type restorer struct {
	cmd   *Cmd
	env   *cli.Env
	spec  *mysqlx.Spec
	input string
	in    *cli.CountingReader

	rd  *snapfmt.Reader
	man *snapfmt.Manifest
	id  string

	main      *client.Conn
	workers   []*client.Conn
	srvFlavor position.Flavor

	selected map[string]bool   // databases to restore
	done     map[string]string // member -> BLAKE3 already applied (--resume)
	tables   map[string]*tableState
	schemas  []pendingMember // CREATE TABLEs held until the first data member
	objects  []pendingMember // views, triggers, routines, events, grants: applied last

	started                 time.Time
	members, rows, appliedB atomic.Int64
}

type tableState struct {
	db, name string
	nontx    bool     // read under the lock, not transactional: no atomic members
	keys     []string // deferred secondary keys
}

type pendingMember struct {
	m    snapfmt.Member
	name string
	sum  snapfmt.Sum
	data []byte
}

func tableKey(db, t string) string { return db + "\x00" + t }

func (r *restorer) run(ctx context.Context) error {
	c := r.cmd
	r.started = r.env.Now()
	rd, err := snapfmt.NewReader(r.in)
	if err != nil {
		return r.streamError(err)
	}
	defer rd.Close()
	r.rd, r.man, r.id = rd, rd.Manifest(), rd.ID()

	if err := r.selectDatabases(); err != nil {
		return err
	}
	main, srv, err := r.spec.Connect(ctx)
	if err != nil {
		return err
	}
	r.main, r.srvFlavor = main, srv.Flavor
	defer main.Close()
	if srv.ServerID == r.man.Source.ServerID && srv.ServerUUID == r.man.Source.ServerUUID {
		r.env.Warnf("%s has the server_id of the snapshot's source (%d)", r.spec, srv.ServerID)
	}
	if err := r.session(ctx, main); err != nil {
		return err
	}
	if err := r.checkTarget(ctx); errors.Is(err, errRestored) {
		// A run after the one that finished (a retry loop, a second
		// systemd start): what it asks for is done.
		r.env.Infof("%s: snapshot %.12s is restored already: nothing to resume", r.spec, r.id)
		return nil
	} else if err != nil {
		return err
	}
	r.workers = make([]*client.Conn, c.Threads)
	defer func() {
		for _, w := range r.workers {
			if w != nil {
				w.Close()
			}
		}
	}()
	for i := range r.workers {
		w, err := r.spec.Dial(ctx)
		if err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		r.workers[i] = w
		if err := r.session(ctx, w); err != nil {
			return err
		}
	}
	r.env.SetProgress(r.progress)
	defer r.env.SetProgress(nil)

	if err := r.load(ctx); err != nil {
		return r.failed(ctx, err)
	}
	if err := r.finish(ctx); err != nil {
		return r.failed(ctx, err)
	}
	return r.report()
}

// session sets up a connection for loading. The member preambles set the
// character set, sql_mode and checks themselves (so that `tar -xOf |
// mariadb` works too); the binlog is the restore's own choice.
func (r *restorer) session(ctx context.Context, c *client.Conn) error {
	stmts := []string{
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION foreign_key_checks = 0, unique_checks = 0",
		// A server's autocommit=0 would leave progress and checkpoint
		// uncommitted; its short timeouts would drop the main connection,
		// idle while the loaders work, or cut a long ALTER ... ADD KEY.
		"SET SESSION autocommit = 1, wait_timeout = 86400, net_read_timeout = 3600, net_write_timeout = 3600",
	}
	if r.srvFlavor == position.MariaDB {
		stmts = append(stmts, "SET SESSION max_statement_time = 0")
	}
	if !r.cmd.Binlog {
		stmts = append(stmts, "SET SESSION sql_log_bin = 0")
	}
	if err := mysqlx.Exec(ctx, c, stmts...); err != nil {
		if mysqlx.ErrorCode(err) == 1227 {
			return cli.WithHint(cli.Errorf(cli.ExitUsage, "%s: %w", r.spec, err),
				"the restore turns the binlog off for its sessions, which needs the BINLOG ADMIN (or SUPER) privilege; or give --binlog")
		}
		return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
	}
	return nil
}

func (r *restorer) selectDatabases() error {
	r.selected = map[string]bool{}
	var names []string
	for _, d := range r.man.Databases {
		// dr-snap never writes these; a stream that has them is not one
		// to restore over the target's own accounts and settings.
		switch strings.ToLower(d.Name) {
		case "mysql", "sys", "information_schema", "performance_schema", apply.Schema:
			return cli.Errorf(cli.ExitCorrupt, "snapshot %s holds the system database %s, which dr-replay does not restore", r.input, sqltext.QuoteIdent(d.Name))
		}
		names = append(names, d.Name)
	}
	if len(r.cmd.Databases) == 0 {
		for _, n := range names {
			r.selected[n] = true
		}
		return nil
	}
	for _, d := range r.cmd.Databases {
		if !slices.Contains(names, d) {
			return cli.Errorf(cli.ExitUsage, "--databases: the snapshot has no database %s (it has %s)", sqltext.QuoteIdent(d), strings.Join(names, ", "))
		}
		r.selected[d] = true
	}
	return nil
}

func (r *restorer) selectedNames() []string {
	var out []string
	for _, d := range r.man.Databases {
		if r.selected[d.Name] {
			out = append(out, d.Name)
		}
	}
	return out
}

// errRestored: --resume of the snapshot the target has restored already.
var errRestored = errors.New("restored already")

// checkTarget refuses to overwrite anything unless told to, and prepares
// the replay state.
func (r *restorer) checkTarget(ctx context.Context) error {
	names := r.selectedNames()
	var existing []string
	if len(names) > 0 {
		rows, err := mysqlx.Query(ctx, r.main, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN "+sqltext.InList(names)+" ORDER BY SCHEMA_NAME")
		if err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
		}
		for _, row := range rows {
			existing = append(existing, row.Str(0))
		}
	}
	cp, err := apply.ReadCheckpoint(ctx, r.main)
	if err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
	}
	r.done = map[string]string{}
	switch {
	case r.cmd.Resume:
		if cp != nil && cp.Snapshot == r.id && cp.State != apply.StateRestoring {
			// Done, but perhaps with other --databases than these.
			for _, db := range names {
				if !slices.Contains(existing, db) {
					return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s: snapshot %.12s is restored, but without database %s", r.spec, r.id, sqltext.QuoteIdent(db)),
						"the restore ran with other --databases; --force --databases restores the missing ones")
				}
			}
			return errRestored
		}
		if cp == nil || cp.Snapshot != r.id || cp.State != apply.StateRestoring {
			what := "no restore"
			if cp != nil {
				what = fmt.Sprintf("snapshot %.12s %s", cp.Snapshot, cp.State)
			}
			return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s: nothing to resume: the target has %s, this stream is snapshot %.12s", r.spec, what, r.id),
				"--resume continues an interrupted restore of the same snapshot; --force restores over what is there")
		}
		if err := r.awaitQuiet(ctx); err != nil {
			return err
		}
		if r.done, err = apply.Progress(ctx, r.main, r.id); err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
		}
		return r.resetNonTransactional(ctx)
	case r.cmd.Force:
		for _, db := range existing {
			if err := mysqlx.Exec(ctx, r.main, "DROP DATABASE "+sqltext.QuoteIdent(db)); err != nil {
				return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
			}
			r.env.Infof("dropped database %s", sqltext.QuoteIdent(db))
		}
		// Progress of any earlier restore goes, checkpoint or not.
		if err := mysqlx.Exec(ctx, r.main, "DELETE FROM "+apply.Schema+".snapshot_progress"); err != nil && !apply.NoSchema(err) {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
		}
	default:
		if len(existing) > 0 {
			return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s already has database %s of the snapshot", r.spec, strings.Join(quoteAll(existing), ", ")),
				"--force drops and restores them; --resume continues an interrupted restore of this snapshot")
		}
		if cp != nil {
			return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s was restored from snapshot %.12s (%s, %s)", r.spec, cp.Snapshot, cp.State, cp.Updated.Format(time.RFC3339)),
				"--force restores this snapshot over it and replaces its checkpoint")
		}
	}
	// What a binlog replay recorded past an earlier checkpoint means
	// nothing after this restore.
	if err := apply.EnsureSchema(ctx, r.main); err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
	}
	if err := mysqlx.Exec(ctx, r.main, apply.ClearDoneSQL); err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
	}
	return r.checkpoint(ctx, apply.StateRestoring)
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = sqltext.QuoteIdent(n)
	}
	return out
}

func (r *restorer) checkpoint(ctx context.Context, state string) error {
	cp := &apply.Checkpoint{State: state, Snapshot: r.id, Source: r.man.Source, Binlog: r.man.Binlog, GTIDSet: r.man.GTIDSet, Updated: r.env.Now()}
	if err := mysqlx.Exec(ctx, r.main, apply.WriteCheckpointSQL(cp)); err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: write checkpoint: %w", r.spec, err))
	}
	return nil
}

// doneMarker names the progress row of a step that is not a member.
func doneMarker(member, step string) string { return member + "+" + step }

// awaitQuiet waits, before a resume, until no other session works in the
// databases to restore. A restore killed with kill -9 leaves its last
// statement on the server, which runs to its end, or starts a moment
// later from the socket's buffer: into a non-transactional table emptied
// by resetNonTransactional in the meantime, its rows would come back
// twice. Sessions idle for a while are some other client's and do not
// count.
func (r *restorer) awaitQuiet(ctx context.Context) error {
	names := r.selectedNames()
	if len(names) == 0 {
		return nil
	}
	query := "SELECT ID, COMMAND, DB FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND DB IN " + sqltext.InList(names) +
		" AND (COMMAND NOT IN ('Sleep', 'Daemon', 'Killed') OR COMMAND = 'Sleep' AND TIME < 2)"
	for start := time.Now(); ; {
		rows, err := mysqlx.Query(ctx, r.main, query)
		if err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
		}
		if len(rows) == 0 {
			return nil
		}
		if time.Since(start) > 30*time.Second {
			return cli.WithHint(cli.Errorf(cli.ExitIO, "%s: session %s still works in database %s after 30 s", r.spec, rows[0].Str(0), rows[0].Str(2)),
				"a resume needs the databases to itself: wait for that session, or KILL it")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// resetNonTransactional empties, before a resume, every non-transactional
// table whose data was not finished: a member interrupted half-way left
// rows that no transaction took back, so the table is loaded again whole.
func (r *restorer) resetNonTransactional(ctx context.Context) error {
	for _, d := range r.man.Databases {
		if !r.selected[d.Name] {
			continue
		}
		for _, t := range d.Tables {
			if t.Lock == "" {
				continue
			}
			schema, _ := snapfmt.Member{Kind: snapfmt.KindTable, DB: d.Name, Table: t.Name}.Name()
			if _, ok := r.done[doneMarker(schema, "data")]; ok {
				continue
			}
			if _, ok := r.done[schema]; !ok {
				continue // not created yet, or created again from scratch
			}
			// The progress rows go first: a crash in between leaves
			// rows that the next resume empties again, never a
			// member recorded whose rows are gone.
			prefix := strings.TrimSuffix(schema, "schema.sql")
			for m := range r.done {
				if strings.HasPrefix(m, prefix+"data-") {
					delete(r.done, m)
				}
			}
			if err := mysqlx.Exec(ctx, r.main, "DELETE FROM "+apply.Schema+".snapshot_progress WHERE snapshot = "+sqltext.QuoteString(r.id)+
				" AND member LIKE "+sqltext.QuoteString(likeEscape(prefix)+"data-%")); err != nil {
				return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
			}
			if err := mysqlx.Exec(ctx, r.main, "TRUNCATE TABLE "+qualified(d.Name, t.Name)); err != nil {
				return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
			}
		}
	}
	return nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func qualified(db, t string) string { return sqltext.QuoteIdent(db) + "." + sqltext.QuoteIdent(t) }

// dataJob is a data member for a loader.
type dataJob struct {
	pendingMember
	t *tableState
}

// load reads the stream and applies databases, tables and data; objects
// are kept for finish.
func (r *restorer) load(ctx context.Context) error {
	r.tables = map[string]*tableState{}
	nontx := map[string]bool{}
	for _, d := range r.man.Databases {
		for _, t := range d.Tables {
			nontx[tableKey(d.Name, t.Name)] = t.Lock != ""
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan dataJob)
	errs := make([]error, len(r.workers))
	var wg sync.WaitGroup
	for i, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := r.applyData(ctx, w, j); err != nil {
					errs[i] = err
					cancel()
					for range jobs {
					}
					return
				}
			}
		}()
	}
	readErr := r.readMembers(ctx, jobs, nontx)
	close(jobs)
	wg.Wait()
	// A loader's error comes first: it is the cause, the reader and the
	// other loaders only saw the cancellation.
	if err := firstCause(errs); err != nil {
		return err
	}
	return readErr
}

// firstCause is the first error that is not a cancellation caused by
// another.
func firstCause(errs []error) error {
	var canceled error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if errors.Is(err, context.Canceled) {
			canceled = err
			continue
		}
		return err
	}
	return canceled
}

func (r *restorer) readMembers(ctx context.Context, jobs chan<- dataJob, nontx map[string]bool) error {
	for {
		m, data, err := r.rd.NextBytes()
		if err == io.EOF {
			return r.flushSchemas(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return r.streamError(err)
		}
		name, _ := m.Name()
		if m.Kind != snapfmt.KindGrants && !r.selected[m.DB] {
			continue
		}
		pm := pendingMember{m: m, name: name, sum: r.rd.Sum(), data: data}
		switch m.Kind {
		case snapfmt.KindDatabase:
			// Tables already held wait: a database's tables may be
			// referenced by those of a database later in the stream.
			if err := r.applyOnMain(ctx, pm, nil); err != nil {
				return err
			}
		case snapfmt.KindTable:
			r.tables[tableKey(m.DB, m.Table)] = &tableState{db: m.DB, name: m.Table, nontx: nontx[tableKey(m.DB, m.Table)]}
			r.schemas = append(r.schemas, pm)
		case snapfmt.KindData:
			if err := r.flushSchemas(ctx); err != nil {
				return err
			}
			if _, ok := r.done[name]; ok {
				continue
			}
			select {
			case jobs <- dataJob{pendingMember: pm, t: r.tables[tableKey(m.DB, m.Table)]}:
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			r.objects = append(r.objects, pm)
		}
	}
}

// flushSchemas creates the tables held back. They are held until the
// first data member so that every CREATE TABLE of the stream is known
// when deciding which keys can wait: not those of a table another table
// references.
func (r *restorer) flushSchemas(ctx context.Context) error {
	if len(r.schemas) == 0 {
		return nil
	}
	referenced := map[string]bool{}
	for _, pm := range r.schemas {
		for _, t := range referencedTables(pm.m.DB, string(pm.data)) {
			referenced[t] = true
		}
	}
	for _, pm := range r.schemas {
		ts := r.tables[tableKey(pm.m.DB, pm.m.Table)]
		isRef := referenced[pm.m.DB+"."+pm.m.Table]
		rewrite := func(stmt []byte) []byte {
			if !bytes.HasPrefix(stmt, []byte("CREATE TABLE ")) {
				return stmt
			}
			create, keys := deferKeys(string(stmt), isRef)
			ts.keys = keys
			return []byte(create)
		}
		if _, ok := r.done[pm.name]; ok {
			// Created before the interruption; its deferred keys are
			// still to add unless that was recorded too.
			sp := sqltext.NewSplitter(pm.data)
			for {
				stmt, _, err := sp.Next()
				if err != nil {
					break
				}
				rewrite(stmt)
			}
			continue
		}
		if r.cmd.Resume {
			// Created, perhaps, but not recorded: created again.
			if err := mysqlx.Exec(ctx, r.main, "DROP TABLE IF EXISTS "+qualified(pm.m.DB, pm.m.Table)); err != nil {
				return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", r.spec, err))
			}
		}
		if err := r.applyOnMain(ctx, pm, rewrite); err != nil {
			return err
		}
	}
	r.schemas = nil
	return nil
}

// skipExisting excuses, when resuming, the errors of creating what the
// interrupted run created but did not record.
func (r *restorer) skipExisting() func(uint16) bool {
	if !r.cmd.Resume {
		return nil
	}
	return func(code uint16) bool { return slices.Contains(existsCodes, code) }
}

// applyOnMain applies a small member on the main connection and records
// it.
func (r *restorer) applyOnMain(ctx context.Context, pm pendingMember, rewrite func([]byte) []byte) error {
	if _, ok := r.done[pm.name]; ok {
		return nil
	}
	if err := apply.Script(ctx, r.main, pm.name, pm.data, rewrite, r.skipExisting()); err != nil {
		return r.statementError(err)
	}
	return r.record(ctx, r.main, pm.name, pm.sum.BLAKE3, 0)
}

func (r *restorer) record(ctx context.Context, c *client.Conn, member, blake3 string, rows int64) error {
	if err := mysqlx.Exec(ctx, c, apply.ProgressSQL(r.id, member, blake3, rows, r.env.Now())); err != nil {
		return r.statementError(err)
	}
	r.members.Add(1)
	return nil
}

// applyData loads one data member: for a transactional table in one
// transaction with its progress row, so that it is applied exactly once
// whatever happens.
func (r *restorer) applyData(ctx context.Context, c *client.Conn, j dataJob) error {
	// Loaders of one table can deadlock on InnoDB's gap and bulk-insert
	// locks; the member's transaction is rolled back whole, so it is
	// simply applied again.
	for try := 1; ; try++ {
		err := r.applyDataOnce(ctx, c, j)
		if code := mysqlx.ErrorCode(err); (code == 1213 || code == 1205) && try < 10 && (j.t == nil || !j.t.nontx) {
			r.env.Debugf("%s: %v; applying it again", j.name, err)
			select {
			case <-time.After(time.Duration(try) * 50 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		return err
	}
}

func (r *restorer) applyDataOnce(ctx context.Context, c *client.Conn, j dataJob) (err error) {
	tx := j.t == nil || !j.t.nontx
	if tx {
		if err := mysqlx.Exec(ctx, c, "BEGIN"); err != nil {
			return r.statementError(err)
		}
		committed := false
		// Whatever fails after BEGIN, the member's rows go with it: a
		// statement error (a lock wait timeout) undoes that statement
		// only, and the next BEGIN would commit the rest.
		defer func() {
			if !committed {
				mysqlx.Exec(context.Background(), c, "ROLLBACK")
			}
		}()
		defer func() { committed = err == nil }()
	}
	if err = apply.Script(ctx, c, j.name, j.data, nil, nil); err != nil {
		return r.statementError(err)
	}
	if err = r.record(ctx, c, j.name, j.sum.BLAKE3, j.sum.Rows); err != nil {
		return err
	}
	if tx {
		if err = mysqlx.Exec(ctx, c, "COMMIT"); err != nil {
			return r.statementError(err)
		}
	}
	r.rows.Add(j.sum.Rows)
	r.appliedB.Add(j.sum.Size)
	return nil
}

// finish runs once the stream is whole and verified: deferred keys,
// then routines, views, triggers and events of each database, grants,
// and the checkpoint that lets binlog replay start.
func (r *restorer) finish(ctx context.Context) error {
	// Non-transactional tables are complete now; a resume must not
	// empty them again.
	var withKeys []*tableState
	for _, d := range r.man.Databases {
		if !r.selected[d.Name] {
			continue
		}
		for _, t := range d.Tables {
			ts := r.tables[tableKey(d.Name, t.Name)]
			if ts == nil {
				continue
			}
			schema, _ := snapfmt.Member{Kind: snapfmt.KindTable, DB: d.Name, Table: t.Name}.Name()
			if ts.nontx {
				if _, ok := r.done[doneMarker(schema, "data")]; !ok {
					if err := r.record(ctx, r.main, doneMarker(schema, "data"), "", 0); err != nil {
						return err
					}
				}
			}
			if _, ok := r.done[doneMarker(schema, "keys")]; !ok && len(ts.keys) > 0 {
				withKeys = append(withKeys, ts)
			}
		}
	}
	if err := r.addKeys(ctx, withKeys); err != nil {
		return err
	}
	if err := r.applyObjects(ctx); err != nil {
		return err
	}
	return r.checkpoint(ctx, apply.StateRestored)
}

// addKeys builds the deferred keys, a table per loader at a time.
func (r *restorer) addKeys(ctx context.Context, tables []*tableState) error {
	queue := make(chan *tableState, len(tables))
	for _, t := range tables {
		queue <- t
	}
	close(queue)
	errs := make([]error, len(r.workers))
	var wg sync.WaitGroup
	for i, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range queue {
				err := mysqlx.Exec(ctx, w, addKeysSQL(qualified(t.db, t.name), t.keys))
				if err != nil && mysqlx.ErrorCode(err) != 1061 { // duplicate key name: added before an interruption
					errs[i] = r.statementError(fmt.Errorf("add keys to %s: %w", qualified(t.db, t.name), err))
					return
				}
				schema, _ := snapfmt.Member{Kind: snapfmt.KindTable, DB: t.db, Table: t.name}.Name()
				if err := r.record(ctx, w, doneMarker(schema, "keys"), "", 0); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// eventStatus finds the status clause of SHOW CREATE EVENT's output.
var eventStatus = regexp.MustCompile(`\bON COMPLETION (NOT )?PRESERVE ENABLE\b`)

// applyObjects applies what came after the data, routines first (a view
// may call a function), views in passes (a view may select from a view of
// a database applied later), triggers last among a database's objects,
// then grants.
func (r *restorer) applyObjects(ctx context.Context) error {
	order := map[snapfmt.Kind]int{snapfmt.KindRoutines: 0, snapfmt.KindViews: 1, snapfmt.KindTriggers: 2, snapfmt.KindEvents: 3, snapfmt.KindGrants: 4}
	slices.SortStableFunc(r.objects, func(a, b pendingMember) int { return order[a.m.Kind] - order[b.m.Kind] })
	skip := r.skipExisting()
	var views []pendingMember
	for _, pm := range r.objects {
		if _, ok := r.done[pm.name]; ok {
			continue
		}
		if pm.m.Kind == snapfmt.KindViews {
			views = append(views, pm)
			continue
		}
		if len(views) > 0 {
			if err := r.applyViews(ctx, views, skip); err != nil {
				return err
			}
			views = nil
		}
		var rewrite func([]byte) []byte
		if pm.m.Kind == snapfmt.KindEvents && !r.cmd.EnableEvents {
			rewrite = func(stmt []byte) []byte {
				return eventStatus.ReplaceAll(stmt, []byte("ON COMPLETION ${1}PRESERVE DISABLE ON SLAVE"))
			}
		}
		if err := apply.Script(ctx, r.main, pm.name, pm.data, rewrite, skip); err != nil {
			return r.statementError(err)
		}
		if err := r.record(ctx, r.main, pm.name, pm.sum.BLAKE3, 0); err != nil {
			return err
		}
	}
	if len(views) > 0 {
		return r.applyViews(ctx, views, skip)
	}
	return nil
}

// viewStmt is a CREATE VIEW with what it needs run before it.
type viewStmt struct {
	member string
	line   int
	setup  []string // USE, SET ...
	create string
}

// applyViews creates the views of all members, in passes: a view whose
// table or view does not exist yet (error 1146) waits for the next pass,
// until a pass creates nothing.
func (r *restorer) applyViews(ctx context.Context, members []pendingMember, skip func(uint16) bool) error {
	var todo []viewStmt
	for _, pm := range members {
		sp := sqltext.NewSplitter(pm.data)
		var setup []string
		for {
			stmt, line, err := sp.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return r.statementError(&apply.StatementError{Script: pm.name, Line: line, Err: err})
			}
			s := string(stmt)
			if strings.HasPrefix(s, "CREATE ") {
				todo = append(todo, viewStmt{member: pm.name, line: line, setup: slices.Clone(setup), create: s})
				continue
			}
			if strings.HasPrefix(s, "SET character_set_client") {
				setup = slices.DeleteFunc(setup, func(x string) bool { return strings.HasPrefix(x, "SET character_set_client") })
			}
			setup = append(setup, s)
		}
	}
	for len(todo) > 0 {
		var later []viewStmt
		var lastErr error
		for _, v := range todo {
			err := mysqlx.Exec(ctx, r.main, v.setup...)
			if err == nil {
				err = mysqlx.QueryRaw(ctx, r.main, v.create, nil, func([][]byte, int) error { return nil })
			}
			code := mysqlx.ErrorCode(err)
			switch {
			case err == nil || (skip != nil && skip(code)):
			case code == 1146:
				later = append(later, v)
				lastErr = &apply.StatementError{Script: v.member, Line: v.line, Stmt: sqltext.Abbrev(v.create, 100), Err: err}
			default:
				return r.statementError(&apply.StatementError{Script: v.member, Line: v.line, Stmt: sqltext.Abbrev(v.create, 100), Err: err})
			}
		}
		if len(later) == len(todo) {
			return r.statementError(lastErr)
		}
		todo = later
	}
	for _, pm := range members {
		if err := r.record(ctx, r.main, pm.name, pm.sum.BLAKE3, 0); err != nil {
			return err
		}
	}
	return nil
}

// streamError: a corrupt, truncated or too new stream is exit 4; a failed
// read of the input (a broken pipe) exit 3.
func (r *restorer) streamError(err error) error {
	var fe *snapfmt.FormatError
	if errors.As(err, &fe) {
		return cli.Errorf(cli.ExitCorrupt, "snapshot %s: %w", r.input, err)
	}
	return cli.Errorf(cli.ExitIO, "snapshot %s: %w", r.input, err)
}

// statementError: the target refused a statement of the snapshot (exit 4:
// it does not fit the target), lacked a privilege (2), or the connection
// failed (3).
func (r *restorer) statementError(err error) error { return targetError(r.spec, err) }

// targetError classifies a failure on a target, for restore and replay
// alike: a statement refused (exit 4), a missing privilege (2), a lost
// connection, an interruption or a lock timeout (3), a read-only server (5).
func targetError(spec *mysqlx.Spec, err error) error {
	var ce *cli.Error
	if errors.As(err, &ce) {
		return err
	}
	switch code := mysqlx.ErrorCode(err); {
	case code == 0:
		return cli.Errorf(cli.ExitIO, "%s: %w", spec, err)
	case slices.Contains([]uint16{1044, 1045, 1142, 1143, 1227, 1370}, code):
		return cli.Errorf(cli.ExitUsage, "%s: %w", spec, err)
	case code == 1290: // read-only target
		return cli.WithHint(cli.Errorf(cli.ExitRefused, "%s: %w", spec, err), "a read-only server cannot be written to; SET GLOBAL read_only = 0 if it should be")
	case slices.Contains([]uint16{1205, 1213, 1317, 1927}, code): // lock wait, deadlock, interrupted, killed
		return cli.Errorf(cli.ExitIO, "%s: %w", spec, err)
	}
	return cli.Errorf(cli.ExitCorrupt, "%s: %w", spec, err)
}

// failed adds what a DBA needs after a failed restore: what was applied,
// and how to go on.
func (r *restorer) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = cli.ErrInterrupted
	}
	r.env.Infof("%d members applied before the failure are recorded in %s.snapshot_progress", r.members.Load(), apply.Schema)
	// A resume helps after a bad copy, a lost connection or an
	// interruption; not after a statement the target refused, which it
	// would refuse again.
	switch cli.Code(err) {
	case cli.ExitCorrupt, cli.ExitIO, cli.ExitInterrupted:
	default:
		return err
	}
	var se *apply.StatementError
	if errors.As(err, &se) {
		return err
	}
	if cli.Hint(err) == "" {
		err = cli.WithHint(err, "dr-replay --resume with the same snapshot (a good copy of it) continues from there")
	}
	return err
}

func (r *restorer) progress() string {
	read := r.in.N()
	return fmt.Sprintf("%d members, %d rows applied, %s read (%s)", r.members.Load(), r.rows.Load(), cli.Bytes(read), cli.Rate(read, time.Since(r.started)))
}

type summary struct {
	Target    string            `json:"target"`
	Snapshot  string            `json:"snapshot"`
	Databases []string          `json:"databases"`
	Members   int64             `json:"members_applied"`
	Rows      int64             `json:"rows"`
	Bytes     int64             `json:"bytes"`
	Seconds   float64           `json:"seconds"`
	Source    snapfmt.Source    `json:"source"`
	Binlog    snapfmt.BinlogPos `json:"binlog"`
	GTIDSet   string            `json:"gtid_set"`
}

func (r *restorer) report() error {
	s := summary{
		Target: r.spec.String(), Snapshot: r.id, Databases: r.selectedNames(),
		Members: r.members.Load(), Rows: r.rows.Load(), Bytes: r.appliedB.Load(),
		Seconds: r.env.Now().Sub(r.started).Seconds(),
		Source:  r.man.Source, Binlog: r.man.Binlog, GTIDSet: r.man.GTIDSet,
	}
	if r.cmd.JSON {
		b, _ := json.Marshal(s)
		_, err := fmt.Fprintf(r.env.Stdout, "%s\n", b)
		return err
	}
	at := "the snapshot has no binlog position"
	if s.Binlog.File != "" {
		at = fmt.Sprintf("replay starts at %s:%d", s.Binlog.File, s.Binlog.Pos)
		if s.GTIDSet != "" {
			at += ", GTID " + s.GTIDSet
		}
	}
	r.env.Infof("restored %s (%s, %s applied in this run) in %.2f s; %s", cli.Count(int64(len(s.Databases)), "database"),
		cli.Count(s.Rows, "row"), cli.Bytes(s.Bytes), s.Seconds, at)
	return nil
}
