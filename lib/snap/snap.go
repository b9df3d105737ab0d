package snap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/fsx"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/position"
	"github.com/dr-mysql/dr/lib/ratelimit"
	"github.com/dr-mysql/dr/lib/snapfmt"
)

// Run takes the snapshot.
func (c *Cmd) Run(ctx context.Context, env *cli.Env) error {
	if c.Threads < 0 {
		return cli.Errorf(cli.ExitUsage, "--threads must be positive")
	}
	if c.Threads == 0 {
		c.Threads = runtime.NumCPU()
	}
	if !c.Compress && env.Getenv("GOMAXPROCS") == "" {
		// Turning rows into a plain stream costs dr-snap about as much
		// CPU as sending them costs the server: a core for every two
		// connections. More Go threads only preempt the server's on a
		// shared machine (measured: 9% faster on 2 cores with 1).
		runtime.GOMAXPROCS(max(1, min(runtime.GOMAXPROCS(0), (c.Threads+1)/2)))
	}
	if c.ChunkSize < 64<<10 || c.ChunkSize > 1<<30 {
		return cli.Errorf(cli.ExitUsage, "--chunk-size %s: want 64KiB to 1GiB", c.ChunkSize)
	}
	sel, err := newSelection(c)
	if err != nil {
		return err
	}
	spec, warnings, err := c.Conn.Resolve(c.Source, env.Getenv)
	if err != nil {
		return cli.WithCode(cli.ExitUsage, err)
	}
	for _, w := range warnings {
		env.Warnf("%s", w)
	}
	var out io.Writer = env.Stdout
	if c.Output == "-" {
		if err := cli.RefuseTerminal(env.Stdout, "a snapshot stream"); err != nil {
			return err
		}
	}

	s := &snapshot{cmd: c, env: env, spec: spec, sel: sel}
	main, srv, err := spec.Connect(ctx)
	if err != nil {
		return err
	}
	s.main, s.srv = main, srv
	defer main.Close()
	if !srv.LogBin {
		env.Warnf("%s has binary logging off: the snapshot will have no binlog position to roll forward from", spec)
	}
	if err := s.checkPrivileges(ctx); err != nil {
		return err
	}
	if err := s.openWorkers(ctx); err != nil {
		return err
	}
	defer s.closeWorkers()

	var file *fsx.AtomicFile
	if c.Output != "-" {
		file, err = fsx.CreateAtomic(c.Output, 0o644)
		if err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("output: %w", err))
		}
		defer file.Abort()
		out = file
	}
	sum, err := s.take(ctx, out)
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Commit(); err != nil {
			return cli.WithCode(cli.ExitIO, fmt.Errorf("output %s: %w", c.Output, err))
		}
	}
	return s.report(sum)
}

type snapshot struct {
	cmd  *Cmd
	env  *cli.Env
	spec *mysqlx.Spec
	sel  *selection
	srv  *mysqlx.Server

	main    *client.Conn
	workers []*client.Conn

	cat      *catalog
	manifest *snapfmt.Manifest
	lockName string
	lockTime time.Duration
	started  time.Time
	d        *dumper
}

// sessionSetup is run on every connection. Long timeouts: a reader
// blocked behind a slow consumer (dr-ship over a thin link) must not be
// cut off by the server; character_set_results is set to binary for the
// data reads only, after the definitions are read in utf8mb4.
var sessionSetup = []string{
	"SET NAMES utf8mb4",
	// SHOW CREATE follows the session: no ANSI_QUOTES or other mode of
	// the server's may change how definitions are written, and names are
	// always quoted.
	"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', sql_quote_show_create = 1",
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION net_write_timeout = 86400, net_read_timeout = 86400, wait_timeout = 86400",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
}

func (s *snapshot) openWorkers(ctx context.Context) error {
	if err := mysqlx.Exec(ctx, s.main, sessionSetup...); err != nil {
		return classify(fmt.Errorf("%s: %w", s.spec, err))
	}
	if s.srv.Flavor == position.MariaDB {
		// A statement timeout set for the application must not cut a
		// dump's long SELECTs.
		if err := mysqlx.Exec(ctx, s.main, "SET SESSION max_statement_time = 0"); err != nil {
			return classify(fmt.Errorf("%s: %w", s.spec, err))
		}
	}
	s.workers = make([]*client.Conn, s.cmd.Threads)
	errs := make([]error, len(s.workers))
	var wg sync.WaitGroup
	for i := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.spec.Dial(ctx)
			if err != nil {
				errs[i] = cli.WithCode(cli.ExitIO, err)
				return
			}
			s.workers[i] = c
			setup := sessionSetup
			if s.srv.Flavor == position.MariaDB {
				setup = append(setup[:len(setup):len(setup)], "SET SESSION max_statement_time = 0")
			}
			if err := mysqlx.Exec(ctx, c, setup...); err != nil {
				errs[i] = classify(fmt.Errorf("%s: %w", s.spec, err))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The readers write nothing, so their binlog can be off; with it on,
	// the server keeps a table's metadata lock past the rollback to the
	// savepoint that follows each table (see dumpJobReleasing), and DDL
	// on a table read early waits for the whole snapshot.
	var denied bool
	for _, w := range s.workers {
		if err := mysqlx.Exec(ctx, w, "SET SESSION sql_log_bin = 0"); err != nil {
			if mysqlx.ErrorCode(err) != 1227 {
				return classify(err)
			}
			denied = true
		}
	}
	if denied && s.srv.LogBin {
		s.env.Warnf("without the BINLOG ADMIN (or SUPER) privilege, DDL on a table already read waits until the snapshot ends")
	}
	return nil
}

func (s *snapshot) closeWorkers() {
	for _, c := range s.workers {
		if c != nil {
			c.Close()
		}
	}
}

// onWorkers runs f on every worker at once.
func (s *snapshot) onWorkers(f func(c *client.Conn) error) error {
	errs := make([]error, len(s.workers))
	var wg sync.WaitGroup
	for i, c := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lockWait bounds how long taking the lock may wait for running
// statements (FLUSH TABLES WITH READ LOCK waits for every running query;
// BACKUP STAGE BLOCK_COMMIT for running commits).
const lockWait = 10 * time.Second

// lock takes the global lock that stops commits: MariaDB's backup stages
// where the server has them (they wait for no running query, unlike FLUSH
// TABLES WITH READ LOCK, which waits for every long SELECT to end and
// blocks every table meanwhile).
func (s *snapshot) lock(ctx context.Context) error {
	// Writers queue behind a lock that waits: give up after a while
	// rather than stall production behind a long query.
	if err := mysqlx.Exec(ctx, s.main, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(lockWait.Seconds()))); err != nil {
		return err
	}
	if s.srv.Flavor == position.MariaDB && s.srv.AtLeast(10, 4, 1) {
		s.lockName = "BACKUP STAGE BLOCK_COMMIT"
		return mysqlx.Exec(ctx, s.main, "BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT")
	}
	s.lockName = "FLUSH TABLES WITH READ LOCK"
	return mysqlx.Exec(ctx, s.main, "FLUSH TABLES WITH READ LOCK")
}

func (s *snapshot) unlock(ctx context.Context) error {
	if s.lockName == "BACKUP STAGE BLOCK_COMMIT" {
		return mysqlx.Exec(ctx, s.main, "BACKUP STAGE END")
	}
	return mysqlx.Exec(ctx, s.main, "UNLOCK TABLES")
}

// position reads the binlog point the snapshot is consistent with, while
// the lock keeps it still.
func (s *snapshot) position(ctx context.Context) (snapfmt.BinlogPos, string, error) {
	var pos snapfmt.BinlogPos
	if !s.srv.LogBin {
		return pos, "", nil
	}
	var q string
	if s.srv.Flavor == position.MariaDB {
		// The snapshot's own view of the binlog, readable without
		// privileges, exact for the transaction it was started with.
		q = "SHOW STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')"
		rows, err := mysqlx.Query(ctx, s.workers[0], q)
		if err != nil {
			return pos, "", classify(fmt.Errorf("binlog position: %w", err))
		}
		for _, r := range rows {
			switch r.Str(0) {
			case "Binlog_snapshot_file", "binlog_snapshot_file":
				pos.File = r.Str(1)
			case "Binlog_snapshot_position", "binlog_snapshot_position":
				pos.Pos = r.Uint(1)
			}
		}
		g, err := mysqlx.Query(ctx, s.main, "SELECT @@GLOBAL.gtid_binlog_pos")
		if err != nil {
			return pos, "", classify(fmt.Errorf("gtid position: %w", err))
		}
		return pos, g[0].Str(0), nil
	}
	q = "SHOW MASTER STATUS"
	if s.srv.AtLeast(8, 2, 0) {
		q = "SHOW BINARY LOG STATUS" // 8.4 removed the old name
	}
	rows, err := mysqlx.Query(ctx, s.main, q)
	if err != nil {
		return pos, "", classify(fmt.Errorf("binlog position: %w", err))
	}
	if len(rows) == 0 {
		return pos, "", nil
	}
	pos.File, pos.Pos = rows[0].Str(0), rows[0].Uint(1)
	g, err := mysqlx.Query(ctx, s.main, "SELECT @@GLOBAL.gtid_executed")
	if err != nil {
		return pos, "", classify(fmt.Errorf("gtid position: %w", err))
	}
	return pos, strings.ReplaceAll(g[0].Str(0), "\n", ""), nil
}

// take writes the stream to out.
func (s *snapshot) take(ctx context.Context, out io.Writer) (*snapfmt.Sums, error) {
	c := s.cmd
	s.started = s.env.Now()
	s.d = &dumper{chunkSize: int(c.ChunkSize), free: make(chan []byte, 4*c.Threads)}
	s.env.SetProgress(s.progress)
	defer s.env.SetProgress(nil)

	// The consistent point: lock, start a snapshot on every worker,
	// read the position and every definition, then (after the
	// non-transactional tables are read) unlock.
	locked := time.Now()
	if err := s.lock(ctx); err != nil {
		err = classify(fmt.Errorf("%s: lock: %w", s.spec, err))
		if mysqlx.ErrorCode(err) == 1205 {
			err = cli.WithHint(err, fmt.Sprintf("the lock waited %s for running statements; try again when no long query or commit runs", lockWait))
		}
		return nil, err
	}
	unlocked := false
	defer func() {
		if !unlocked {
			s.unlock(context.Background())
		}
	}()
	err := s.onWorkers(func(w *client.Conn) error {
		return mysqlx.Exec(ctx, w, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
	})
	if err != nil {
		return nil, classify(fmt.Errorf("%s: %w", s.spec, err))
	}
	s.env.Debugf("locked; snapshots started after %s", time.Since(locked))
	pos, gtids, err := s.position(ctx)
	if err != nil {
		return nil, err
	}
	s.env.Debugf("position read after %s", time.Since(locked))
	s.cat, err = readCatalog(ctx, s.main, s.sel)
	if err != nil {
		return nil, classify(err)
	}
	s.env.Debugf("catalog read after %s", time.Since(locked))
	if err := capture(ctx, s.main, s.cat); err != nil {
		return nil, err
	}
	s.env.Debugf("definitions read after %s", time.Since(locked))
	var grants []byte
	if c.Grants {
		if grants, err = captureGrants(ctx, s.main); err != nil {
			return nil, err
		}
	}
	s.manifest = s.buildManifest(pos, gtids)
	w, err := snapfmt.NewWriter(out, s.manifest, snapfmt.WriterOptions{Compress: c.Compress})
	if err != nil {
		return nil, cli.WithCode(cli.ExitIO, fmt.Errorf("write manifest: %w", err))
	}
	defer w.Abort()
	s.d.w = w
	if err := s.addSchema(); err != nil {
		return nil, err
	}
	if err := s.onWorkers(func(w *client.Conn) error {
		return mysqlx.Exec(ctx, w, "SET character_set_results = binary")
	}); err != nil {
		return nil, classify(fmt.Errorf("%s: %w", s.spec, err))
	}

	var locked1, free []*table
	for _, t := range s.cat.tables() {
		if t.transactional() {
			free = append(free, t)
		} else {
			locked1 = append(locked1, t)
		}
	}
	jobs, err := planJobs(ctx, s.workers[0], locked1, c.Threads, int(c.ChunkSize))
	if err != nil {
		return nil, err
	}
	if err := s.d.run(ctx, s.workers, jobs); err != nil {
		return nil, s.interrupted(ctx, err)
	}
	if err := s.unlock(ctx); err != nil {
		return nil, classify(fmt.Errorf("%s: unlock: %w", s.spec, err))
	}
	unlocked = true
	s.lockTime = time.Since(locked)
	s.env.Infof("lock held %s (%s), %s read under it", fmtDuration(s.lockTime), s.lockName, cli.Count(int64(len(locked1)), "non-transactional table"))

	// Throttled only now: under the lock, reading slowly would only make
	// every writer wait longer.
	if c.MaxRate > 0 {
		s.d.lim = ratelimit.New(c.MaxRate)
	}
	if err := readSizes(ctx, s.main, s.cat); err != nil {
		return nil, err
	}
	jobs, err = planJobs(ctx, s.workers[0], free, c.Threads, int(c.ChunkSize))
	if err != nil {
		return nil, err
	}
	if err := s.d.run(ctx, s.workers, jobs); err != nil {
		return nil, s.interrupted(ctx, err)
	}
	if err := s.addObjects(grants); err != nil {
		return nil, err
	}
	sum := &snapfmt.Sums{Finished: s.env.Now().UTC(), LockTime: snapfmt.Duration(s.lockTime)}
	if err := w.Close(sum); err != nil {
		return nil, cli.WithCode(cli.ExitIO, fmt.Errorf("write: %w", err))
	}
	s.onWorkers(func(w *client.Conn) error { return mysqlx.Exec(ctx, w, "COMMIT") })
	return sum, nil
}

// interrupted turns an error caused by SIGINT/SIGTERM into ErrInterrupted.
func (s *snapshot) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return cli.ErrInterrupted
	}
	return err
}

func (s *snapshot) buildManifest(pos snapfmt.BinlogPos, gtids string) *snapfmt.Manifest {
	c := s.cmd
	m := &snapfmt.Manifest{
		Tool:    Name + " " + cli.VersionString(),
		Created: s.started.UTC(),
		Source: snapfmt.Source{
			ServerID: s.srv.ServerID, ServerUUID: s.srv.ServerUUID,
			Flavor: string(s.srv.Flavor), Version: s.srv.Version, Address: s.spec.String(),
		},
		Binlog:  pos,
		GTIDSet: gtids,
		Lock:    s.lockName,
		Options: snapfmt.Options{
			Databases: c.Databases, Tables: c.Tables, Exclude: c.Exclude,
			Threads: c.Threads, ChunkSize: int64(c.ChunkSize), Compress: c.Compress,
		},
		Grants: c.Grants,
	}
	for _, d := range s.cat.dbs {
		md := snapfmt.Database{Name: d.name}
		for _, t := range d.tables {
			mt := snapfmt.Table{Name: t.name, Engine: t.engine}
			if t.sequence {
				mt.Engine = "SEQUENCE"
			} else if t.hasData() && !t.transactional() {
				mt.Lock = s.lockName
			}
			md.Tables = append(md.Tables, mt)
		}
		for _, v := range d.views {
			md.Views = append(md.Views, v.name)
		}
		for _, t := range d.triggers {
			md.Triggers = append(md.Triggers, t.name)
		}
		for _, r := range d.routines {
			if r.kind == "PROCEDURE" {
				md.Procedures = append(md.Procedures, r.name)
			} else {
				md.Functions = append(md.Functions, r.name)
			}
		}
		for _, e := range d.events {
			md.Events = append(md.Events, e.name)
		}
		m.Databases = append(m.Databases, md)
	}
	return m
}

func (s *snapshot) add(m snapfmt.Member, data []byte) error {
	if err := s.d.w.Add(m, data, 0); err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("write %s: %w", m, err))
	}
	s.d.written.Add(int64(len(data)))
	return nil
}

// addSchema writes every database and table definition, before any data.
func (s *snapshot) addSchema() error {
	for _, d := range s.cat.dbs {
		if err := s.add(snapfmt.Member{Kind: snapfmt.KindDatabase, DB: d.name}, dbMember(d)); err != nil {
			return err
		}
		for _, t := range d.tables {
			if t.sysVersion {
				s.env.Warnf("%s is system-versioned: its current rows are in the snapshot, not its history", t)
			}
			if err := s.add(snapfmt.Member{Kind: snapfmt.KindTable, DB: d.name, Table: t.name}, tableMember(t)); err != nil {
				return err
			}
		}
	}
	return nil
}

// addObjects writes views, triggers, routines and events after all data,
// routines first (a view may call a function), and the grants last.
func (s *snapshot) addObjects(grants []byte) error {
	for _, d := range s.cat.dbs {
		if len(d.routines) > 0 {
			if err := s.add(snapfmt.Member{Kind: snapfmt.KindRoutines, DB: d.name}, delimited(d.name, d.routines)); err != nil {
				return err
			}
		}
		if len(d.views) > 0 {
			if err := s.add(snapfmt.Member{Kind: snapfmt.KindViews, DB: d.name}, viewsMember(d)); err != nil {
				return err
			}
		}
		if len(d.triggers) > 0 {
			if err := s.add(snapfmt.Member{Kind: snapfmt.KindTriggers, DB: d.name}, delimited(d.name, d.triggers)); err != nil {
				return err
			}
		}
		if len(d.events) > 0 {
			if err := s.add(snapfmt.Member{Kind: snapfmt.KindEvents, DB: d.name}, delimited(d.name, d.events)); err != nil {
				return err
			}
		}
	}
	if grants != nil {
		return s.add(snapfmt.Member{Kind: snapfmt.KindGrants}, grants)
	}
	return nil
}

func (s *snapshot) progress() string {
	read := s.d.readBytes.Load()
	return fmt.Sprintf("%d rows, %s read (%s), %s written", s.d.rows.Load(), cli.Bytes(read), cli.Rate(read, time.Since(s.started)), cli.Bytes(s.d.written.Load()))
}

// summary is what --json prints.
type summary struct {
	Source    string            `json:"source"`
	Output    string            `json:"output"`
	Binlog    snapfmt.BinlogPos `json:"binlog"`
	GTIDSet   string            `json:"gtid_set"`
	Lock      string            `json:"lock"`
	LockMS    float64           `json:"lock_ms"`
	Databases int               `json:"databases"`
	Tables    int               `json:"tables"`
	Rows      int64             `json:"rows"`
	Bytes     int64             `json:"bytes"`
	Members   int               `json:"members"`
	Seconds   float64           `json:"seconds"`
}

func (s *snapshot) report(sum *snapfmt.Sums) error {
	m := s.manifest
	r := summary{
		Source: s.spec.String(), Output: s.cmd.Output, Binlog: m.Binlog, GTIDSet: m.GTIDSet,
		Lock: s.lockName, LockMS: float64(s.lockTime.Microseconds()) / 1000,
		Databases: len(m.Databases), Tables: len(s.cat.tables()),
		Rows: sum.Totals.Rows, Bytes: sum.Totals.Bytes, Members: sum.Totals.Members,
		Seconds: s.env.Now().Sub(s.started).Seconds(),
	}
	if s.cmd.JSON {
		b, _ := json.Marshal(r)
		w := s.env.Stderr
		if s.cmd.Output != "-" {
			w = s.env.Stdout
		}
		_, err := fmt.Fprintf(w, "%s\n", b)
		return err
	}
	at := "binlog off: the snapshot cannot be rolled forward"
	if m.Binlog.File != "" {
		at = fmt.Sprintf("binlog %s:%d", m.Binlog.File, m.Binlog.Pos)
		if m.GTIDSet != "" {
			at += ", GTID " + m.GTIDSet
		}
	}
	s.env.Infof("%s, %s, %s, %s in %.2f s; %s", cli.Count(int64(r.Databases), "database"), cli.Count(int64(r.Tables), "table"),
		cli.Count(r.Rows, "row"), cli.Bytes(r.Bytes), r.Seconds, at)
	return nil
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
