package dr_test

// Test commands and the load program for the dr-snap and dr-replay
// scenarios: db-equal compares databases on two servers, manifest-get
// reads a field of a snapshot's manifest, dr-test-txload runs a bank
// workload whose every commit is one GTID, and bank-consistent checks
// that a restore holds exactly the transactions up to a GTID position.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/position"
	"github.com/dr-mysql/dr/lib/snapfmt"
)

// dialURL connects to a mysql:// URL (root without password in the
// sandboxes) with a session that prints things the same way on every
// server: utf8mb4, UTC, a plain sql_mode (SHOW CREATE output depends on
// the session's sql_mode, e.g. ANSI_QUOTES).
func dialURL(ctx context.Context, url string) (*client.Conn, error) {
	spec, _, err := mysqlx.ParseURL(url)
	if err != nil {
		return nil, err
	}
	c, err := spec.Dial(ctx)
	if err != nil {
		return nil, err
	}
	err = mysqlx.Exec(ctx, c,
		"SET NAMES utf8mb4",
		"SET SESSION time_zone = '+00:00'",
		"SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return c, nil
}

// sqlString quotes s as a string literal (backslash escapes on).
func sqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)
	return "'" + r.Replace(s) + "'"
}

// sqlIdent quotes s as an identifier.
func sqlIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// result is a small query result with its column names; a NULL is nil.
type result struct {
	cols []string
	rows [][]*string
}

// queryResult runs q. A server error (the query was wrong, the object
// missing) comes back as an error the caller may treat as a value;
// anything else means the connection is gone. It uses go-mysql's own
// result reading (numbers parsed, which is exact for the integers these
// queries return), not mysqlx.QueryRaw: the column names QueryRaw hands
// to onFields point into a packet buffer it has reused by then.
func queryResult(ctx context.Context, c *client.Conn, q string) (*result, error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r, err := c.Execute(q)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	res := &result{}
	if r.Resultset == nil {
		return res, nil
	}
	for _, f := range r.Fields {
		res.cols = append(res.cols, strings.Clone(string(f.Name)))
	}
	for i := range r.RowNumber() {
		row := make([]*string, len(res.cols))
		for j := range row {
			if null, _ := r.IsNull(i, j); null {
				continue
			}
			v, err := r.GetString(i, j)
			if err != nil {
				return nil, err
			}
			// GetString may share the result's memory, which Close
			// returns to a pool.
			v = strings.Clone(v)
			row[j] = &v
		}
		res.rows = append(res.rows, row)
	}
	return res, nil
}

// isServerError reports whether err is an error the server answered
// with, after which the connection is still usable.
func isServerError(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me)
}

// ---------------------------------------------------------------------
// db-equal

// dbSide is one server of a db-equal comparison.
type dbSide struct {
	url string
	c   *client.Conn
}

// dbCompare collects the differences between two servers.
type dbCompare struct {
	ts      *testscript.TestScript
	ctx     context.Context
	a, b    dbSide
	diffs   int
	replica bool // -replica: AUTO_INCREMENT counters not compared
}

func (d *dbCompare) differ(object, what, va, vb string) {
	d.diffs++
	sa, sb := diffWindow(va, vb)
	d.ts.Logf("db-equal: %s: %s differs:\n  %s: %s\n  %s: %s", object, what, d.a.url, sa, d.b.url, sb)
}

// diffWindow shows two differing values: whole when short, else a window
// around the first difference with the lengths.
func diffWindow(a, b string) (string, string) {
	const width = 240
	if len(a) <= width && len(b) <= width {
		return strconv.Quote(a), strconv.Quote(b)
	}
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	from := max(0, n-60)
	show := func(s string) string {
		to := min(len(s), from+width)
		w := strconv.Quote(s[from:to])
		if from > 0 {
			w = "..." + w
		}
		if to < len(s) {
			w += "..."
		}
		return fmt.Sprintf("%s (%d bytes, first difference at byte %d)", w, len(s), n)
	}
	return show(a), show(b)
}

// query runs q on one side; a server error is returned as the value
// "error: ...", so that an object one side cannot show is a difference
// and not a failure of the check.
func (d *dbCompare) query(s dbSide, q string) *result {
	res, err := queryResult(d.ctx, s.c, q)
	if err != nil {
		if !isServerError(err) {
			d.ts.Fatalf("db-equal: %s: %s: %v", s.url, q, err)
		}
		e := "error: " + err.Error()
		return &result{cols: []string{"error"}, rows: [][]*string{{&e}}}
	}
	return res
}

// names returns column 0 of q's rows, sorted. Errors fail the check.
func (d *dbCompare) names(s dbSide, q string) []string {
	return slices.Sorted(maps.Keys(d.pairs(s, q)))
}

// pairs returns q's rows as a map of column 0 to column 1 (if any).
// Errors fail the check.
func (d *dbCompare) pairs(s dbSide, q string) map[string]string {
	res, err := queryResult(d.ctx, s.c, q)
	if err != nil {
		d.ts.Fatalf("db-equal: %s: %s: %v", s.url, q, err)
	}
	out := make(map[string]string, len(res.rows))
	for _, r := range res.rows {
		v := ""
		if len(r) > 1 && r[1] != nil {
			v = *r[1]
		}
		if r[0] != nil {
			out[*r[0]] = v
		}
	}
	return out
}

// compareLists compares two sorted lists of names and returns those on
// both sides.
func (d *dbCompare) compareLists(object, what string, la, lb []string) []string {
	var both, onlyA, onlyB []string
	for _, x := range la {
		if _, ok := slices.BinarySearch(lb, x); ok {
			both = append(both, x)
		} else {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range lb {
		if _, ok := slices.BinarySearch(la, x); !ok {
			onlyB = append(onlyB, x)
		}
	}
	only := func(l []string) string {
		if len(l) == 0 {
			return "nothing of its own"
		}
		return "only here: " + strings.Join(l, ", ")
	}
	if len(onlyA)+len(onlyB) > 0 {
		d.differ(object, what, only(onlyA), only(onlyB))
	}
	return both
}

// compareResults compares two results column by column, leaving out the
// columns named in drop, and normalizing with norm (column name, value).
func (d *dbCompare) compareResults(object, what string, ra, rb *result, drop []string, norm func(col, v string) string) {
	show := func(r *result, row, col int) string {
		if row >= len(r.rows) || col >= len(r.rows[row]) {
			return "(missing)"
		}
		v := r.rows[row][col]
		if v == nil {
			return "NULL"
		}
		if norm != nil {
			return norm(r.cols[col], *v)
		}
		return *v
	}
	if !slices.Equal(ra.cols, rb.cols) {
		d.differ(object, what+" columns", strings.Join(ra.cols, ", "), strings.Join(rb.cols, ", "))
		return
	}
	if len(ra.rows) != len(rb.rows) {
		d.differ(object, what+" row count", strconv.Itoa(len(ra.rows)), strconv.Itoa(len(rb.rows)))
	}
	for i := range max(len(ra.rows), len(rb.rows)) {
		for j, col := range ra.cols {
			if slices.Contains(drop, col) {
				continue
			}
			va, vb := show(ra, i, j), show(rb, i, j)
			nullA := i < len(ra.rows) && ra.rows[i][j] == nil
			nullB := i < len(rb.rows) && rb.rows[i][j] == nil
			if va != vb || nullA != nullB {
				name := what + " " + col
				if len(ra.cols) == 1 {
					name = what
				}
				if len(ra.rows) > 1 {
					name = fmt.Sprintf("%s row %d %s", what, i+1, col)
				}
				d.differ(object, name, va, vb)
			}
		}
	}
}

// both runs q on each side and compares the results.
func (d *dbCompare) both(object, what, q string, drop []string, norm func(col, v string) string) {
	d.compareResults(object, what, d.query(d.a, q), d.query(d.b, q), drop, norm)
}

// autoIncrement is a table's AUTO_INCREMENT counter in SHOW CREATE TABLE.
var autoIncrement = regexp.MustCompile(` AUTO_INCREMENT=[0-9]+`)

// eventStatus is the status word of SHOW CREATE EVENT, which follows ON
// COMPLETION [NOT] PRESERVE. A restore may create events DISABLE ON SLAVE
// on purpose (a standby must not run them), so the status is not compared.
var eventStatus = regexp.MustCompile(`^((?s:.*?) ON COMPLETION (?:NOT )?PRESERVE )(?:ENABLE|DISABLE ON SLAVE|DISABLE)\b`)

func normEvent(col, v string) string {
	if col != "Create Event" {
		return v
	}
	return eventStatus.ReplaceAllString(v, "${1}ENABLE|DISABLE")
}

// db-equal [-tables-only] [-replica] URL_A URL_B DB...
// compares databases on two servers and fails on any difference (with !,
// succeeds only when there is one). For each DB: SHOW CREATE DATABASE;
// the lists of base tables, sequences, views, triggers (with table,
// timing, event and ACTION_ORDER), routines and events; for every base
// table CHECKSUM TABLE ... EXTENDED, COUNT(*) and SHOW CREATE TABLE; for
// every sequence SHOW CREATE SEQUENCE and its state row; SHOW CREATE of
// every view, trigger, routine and event, all columns except SHOW CREATE
// TRIGGER's Created (when the trigger was created: differs on every
// server). An event's ENABLE / DISABLE / DISABLE ON SLAVE is not compared.
// With -tables-only, only the base tables' list, checksums and row counts.
// With -replica, not the AUTO_INCREMENT counters of tables: a binlog
// carries rows, not the counter, which on the source may have moved past
// the rows (ids a rolled-back or bulk insert reserved), as on any replica.
// Differences go to the log, one summary line per DB to stdout.
func cmdDBEqual(ts *testscript.TestScript, neg bool, args []string) {
	tablesOnly, replica := false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch strings.TrimLeft(args[0], "-") {
		case "tables-only":
			tablesOnly = true
		case "replica":
			replica = true
		default:
			ts.Fatalf("db-equal: unknown flag %s", args[0])
		}
		args = args[1:]
	}
	if len(args) < 3 {
		ts.Fatalf("usage: db-equal [-tables-only] [-replica] URL_A URL_B DB...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d := &dbCompare{ts: ts, ctx: ctx, a: dbSide{url: args[0]}, b: dbSide{url: args[1]}, replica: replica}
	for _, s := range []*dbSide{&d.a, &d.b} {
		c, err := dialURL(ctx, s.url)
		if err != nil {
			ts.Fatalf("db-equal: %v", err)
		}
		defer c.Close()
		s.c = c
	}
	for _, db := range args[2:] {
		before := d.diffs
		summary := d.compareDB(db, tablesOnly)
		verdict := "equal"
		if n := d.diffs - before; n > 0 {
			verdict = fmt.Sprintf("%d differences", n)
		}
		fmt.Fprintf(ts.Stdout(), "db-equal: %s: %s %s\n", db, summary, verdict)
	}
	switch {
	case neg && d.diffs == 0:
		ts.Fatalf("db-equal: the databases are equal")
	case !neg && d.diffs > 0:
		ts.Fatalf("db-equal: %d differences", d.diffs)
	}
}

// compareDB compares one database and returns what it holds, for the
// summary line.
func (d *dbCompare) compareDB(db string, tablesOnly bool) string {
	lit, id := sqlString(db), sqlIdent(db)
	exists := "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " + lit
	ea, eb := d.names(d.a, exists), d.names(d.b, exists)
	if len(ea) == 0 || len(eb) == 0 {
		d.differ(db, "existence", fmt.Sprintf("%d databases", len(ea)), fmt.Sprintf("%d databases", len(eb)))
		return "missing,"
	}
	if !tablesOnly {
		d.both(db, "SHOW CREATE DATABASE", "SHOW CREATE DATABASE "+id, nil, nil)
	}

	// TABLE_TYPE is BASE TABLE, SYSTEM VERSIONED (a base table too),
	// SEQUENCE, VIEW (or TEMPORARY, never here).
	list := func(types string) string {
		return "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + lit + " AND TABLE_TYPE IN (" + types + ")"
	}
	tables := d.compareLists(db, "base tables", d.names(d.a, list("'BASE TABLE','SYSTEM VERSIONED'")), d.names(d.b, list("'BASE TABLE','SYSTEM VERSIONED'")))
	for _, t := range tables {
		obj := db + "." + t
		q := id + "." + sqlIdent(t)
		d.both(obj, "CHECKSUM TABLE", "CHECKSUM TABLE "+q+" EXTENDED", []string{"Table"}, nil)
		d.both(obj, "COUNT(*)", "SELECT COUNT(*) FROM "+q, nil, nil)
		if !tablesOnly {
			var norm func(col, v string) string
			if d.replica {
				norm = func(_, v string) string { return autoIncrement.ReplaceAllString(v, "") }
			}
			d.both(obj, "SHOW CREATE TABLE", "SHOW CREATE TABLE "+q, nil, norm)
		}
	}
	if tablesOnly {
		return fmt.Sprintf("%d tables (checksums only)", len(tables))
	}

	seqs := d.compareLists(db, "sequences", d.names(d.a, list("'SEQUENCE'")), d.names(d.b, list("'SEQUENCE'")))
	for _, s := range seqs {
		obj, q := db+"."+s, id+"."+sqlIdent(s)
		d.both(obj, "SHOW CREATE SEQUENCE", "SHOW CREATE SEQUENCE "+q, nil, nil)
		d.both(obj, "sequence state", "SELECT * FROM "+q, nil, nil)
	}

	views := d.compareLists(db, "views", d.names(d.a, list("'VIEW'")), d.names(d.b, list("'VIEW'")))
	for _, v := range views {
		d.both(db+"."+v, "SHOW CREATE VIEW", "SHOW CREATE VIEW "+id+"."+sqlIdent(v), nil, nil)
	}

	// Triggers are compared with their table, timing, event and order:
	// the order (FOLLOWS / PRECEDES) is not in SHOW CREATE TRIGGER.
	trgList := "SELECT TRIGGER_NAME, CONCAT(EVENT_OBJECT_TABLE, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' #', ACTION_ORDER) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = " + lit
	ta, tb := d.pairs(d.a, trgList), d.pairs(d.b, trgList)
	trgs := d.compareLists(db, "triggers", slices.Sorted(maps.Keys(ta)), slices.Sorted(maps.Keys(tb)))
	for _, t := range trgs {
		if ta[t] != tb[t] {
			d.differ(db+"."+t, "trigger table, timing, event and ACTION_ORDER", ta[t], tb[t])
		}
		// Created is when the trigger was created: it differs on every
		// server, so it is the one column not compared.
		d.both(db+"."+t, "SHOW CREATE TRIGGER", "SHOW CREATE TRIGGER "+id+"."+sqlIdent(t), []string{"Created"}, nil)
	}

	routines := map[string][]string{}
	for _, typ := range []string{"PROCEDURE", "FUNCTION", "PACKAGE", "PACKAGE BODY"} {
		q := "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = " + lit + " AND ROUTINE_TYPE = '" + typ + "'"
		routines[typ] = d.compareLists(db, strings.ToLower(typ)+"s", d.names(d.a, q), d.names(d.b, q))
		for _, r := range routines[typ] {
			d.both(db+"."+r, "SHOW CREATE "+typ, "SHOW CREATE "+typ+" "+id+"."+sqlIdent(r), nil, nil)
		}
	}

	evList := "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = " + lit
	events := d.compareLists(db, "events", d.names(d.a, evList), d.names(d.b, evList))
	for _, e := range events {
		d.both(db+"."+e, "SHOW CREATE EVENT", "SHOW CREATE EVENT "+id+"."+sqlIdent(e), nil, normEvent)
	}

	s := fmt.Sprintf("%d tables, %d sequences, %d views, %d triggers, %d procedures, %d functions, %d events",
		len(tables), len(seqs), len(views), len(trgs), len(routines["PROCEDURE"]), len(routines["FUNCTION"]), len(events))
	if n := len(routines["PACKAGE"]) + len(routines["PACKAGE BODY"]); n > 0 {
		s += fmt.Sprintf(", %d packages", n)
	}
	return s + ","
}

// ---------------------------------------------------------------------
// manifest-get

// readManifest reads the manifest of the snapshot stream in file (plain
// or gzip).
func readManifest(path string) (*snapfmt.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := snapfmt.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	return r.Manifest(), nil
}

// manifest-get FILE FIELD
// prints one field of the snapshot's MANIFEST.json to stdout: a JSON
// path with dots, e.g. gtid_set, binlog.file, binlog.pos, lock,
// source.server_id, options.threads, databases.0.name. A string or
// number prints bare, anything else as JSON. With !, it succeeds only
// when the manifest has no such field.
func cmdManifestGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: manifest-get FILE FIELD")
	}
	m, err := readManifest(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := json.Marshal(m)
	ts.Check(err)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	ts.Check(dec.Decode(&v))
	missing := func() {
		if !neg {
			ts.Fatalf("manifest-get: %s has no field %q", args[0], args[1])
		}
	}
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				missing()
				return
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				missing()
				return
			}
			v = x[i]
		default:
			missing()
			return
		}
	}
	if neg {
		ts.Fatalf("manifest-get: %s has a field %q", args[0], args[1])
	}
	switch x := v.(type) {
	case string:
		fmt.Fprintln(ts.Stdout(), x)
	case json.Number:
		fmt.Fprintln(ts.Stdout(), x.String())
	default:
		out, err := json.Marshal(x)
		ts.Check(err)
		fmt.Fprintln(ts.Stdout(), string(out))
	}
}

// ---------------------------------------------------------------------
// bank: dr-test-txload and bank-consistent

const (
	bankAccounts = 1000
	bankBalance  = 1000
)

// txloadMain is the test program
//
//	dr-test-txload URL [-setup] [-duration D] [-threads N]
//
// With -setup it creates database bank (dropping an old one): accounts
// (InnoDB, 1000 rows of balance 1000), ledger (InnoDB) and hits (MyISAM),
// then reads @@gtid_binlog_pos, S0, stores it in bank.meta(start_gtid)
// (one more GTID) and exits. Without it, N threads (default 4) each loop
// until D passes (default 10s) or SIGTERM/SIGINT: one InnoDB transaction
// moving a random amount between two random accounts and adding a ledger
// row (retried on deadlock or lock wait timeout), then one autocommit
// INSERT into the MyISAM table hits. Every commit is one GTID, one ledger
// or one hits row, so bank-consistent can count them. On exit it prints
// "dr-test-txload: N transactions (L ledger, H hits)" to stdout; the
// status is 0, or 1 after an error (the count is still printed).
func txloadMain() int {
	fs := flag.NewFlagSet("dr-test-txload", flag.ContinueOnError)
	setup := fs.Bool("setup", false, "create the bank database and record the start GTID position")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	threads := fs.Int("threads", 4, "client threads")
	var pos []string
	for args := os.Args[1:]; ; {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 1 || *threads < 1 {
		fmt.Fprintln(os.Stderr, "usage: dr-test-txload URL [-setup] [-duration D] [-threads N]")
		return 2
	}
	url := pos[0]
	if *setup {
		if err := bankSetup(url); err != nil {
			fmt.Fprintf(os.Stderr, "dr-test-txload: setup: %v\n", err)
			return 1
		}
		return 0
	}

	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	stop, cancel2 := context.WithTimeout(stop, *duration)
	defer cancel2()

	var (
		ledger, hits, retries int64
		mu                    sync.Mutex
		firstErr              error
		wg                    sync.WaitGroup
	)
	start := time.Now()
	for t := 1; t <= *threads; t++ {
		wg.Go(func() {
			l, h, r, err := bankWorker(stop, url, t)
			mu.Lock()
			defer mu.Unlock()
			ledger, hits, retries = ledger+l, hits+h, retries+r
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	fmt.Printf("dr-test-txload: %d transactions (%d ledger, %d hits) by %d threads in %s, %d retries\n",
		ledger+hits, ledger, hits, *threads, time.Since(start).Round(time.Millisecond), retries)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "dr-test-txload: %v\n", firstErr)
		return 1
	}
	return 0
}

func bankSetup(url string) error {
	ctx := context.Background()
	c, err := dialURL(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close()
	var vals strings.Builder
	for i := 1; i <= bankAccounts; i++ {
		if i > 1 {
			vals.WriteByte(',')
		}
		fmt.Fprintf(&vals, "(%d,%d)", i, bankBalance)
	}
	err = mysqlx.Exec(ctx, c,
		"DROP DATABASE IF EXISTS bank",
		"CREATE DATABASE bank",
		"CREATE TABLE bank.accounts (id INT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
		"INSERT INTO bank.accounts (id, balance) VALUES "+vals.String(),
		"CREATE TABLE bank.ledger (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, `from` INT NOT NULL, `to` INT NOT NULL, amount INT NOT NULL) ENGINE=InnoDB",
		"CREATE TABLE bank.hits (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, thread INT NOT NULL, n BIGINT NOT NULL) ENGINE=MyISAM",
		"CREATE TABLE bank.meta (start_gtid VARCHAR(4096) NOT NULL) ENGINE=InnoDB")
	if err != nil {
		return err
	}
	rows, err := mysqlx.Query(ctx, c, "SELECT @@gtid_binlog_pos")
	if err != nil {
		return err
	}
	s0 := rows[0].Str(0)
	if _, err := position.ParseSet(position.MariaDB, s0); err != nil {
		return err
	}
	if err := mysqlx.Exec(ctx, c, "INSERT INTO bank.meta (start_gtid) VALUES ("+sqlString(s0)+")"); err != nil {
		return err
	}
	fmt.Printf("dr-test-txload: bank ready, start position %s\n", s0)
	return nil
}

// bankWorker runs one thread's loop until stop ends; a query in flight
// is never cut, so every transaction it counts was committed or not
// started.
func bankWorker(stop context.Context, url string, thread int) (ledger, hits, retries int64, err error) {
	ctx := context.Background()
	c, err := dialURL(ctx, url)
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close()
	for n := int64(1); stop.Err() == nil; n++ {
		from := 1 + rand.IntN(bankAccounts)
		to := 1 + rand.IntN(bankAccounts-1)
		if to >= from {
			to++
		}
		amount := 1 + rand.IntN(100)
		// Rows are locked in id order, which keeps deadlocks rare.
		upd := []string{
			fmt.Sprintf("UPDATE bank.accounts SET balance = balance - %d WHERE id = %d", amount, from),
			fmt.Sprintf("UPDATE bank.accounts SET balance = balance + %d WHERE id = %d", amount, to),
		}
		if to < from {
			upd[0], upd[1] = upd[1], upd[0]
		}
		stmts := append(append([]string{"BEGIN"}, upd...),
			fmt.Sprintf("INSERT INTO bank.ledger (`from`, `to`, amount) VALUES (%d, %d, %d)", from, to, amount),
			"COMMIT")
		for attempt := 1; ; attempt++ {
			err := mysqlx.Exec(ctx, c, stmts...)
			if err == nil {
				break
			}
			code := mysqlx.ErrorCode(err)
			if (code == 1213 || code == 1205) && attempt < 100 {
				retries++
				if err := mysqlx.Exec(ctx, c, "ROLLBACK"); err != nil {
					return ledger, hits, retries, fmt.Errorf("thread %d: %w", thread, err)
				}
				continue
			}
			return ledger, hits, retries, fmt.Errorf("thread %d: transfer %d: %w", thread, n, err)
		}
		ledger++
		q := fmt.Sprintf("INSERT INTO bank.hits (thread, n) VALUES (%d, %d)", thread, n)
		if err := mysqlx.Exec(ctx, c, q); err != nil {
			return ledger, hits, retries, fmt.Errorf("thread %d: %w", thread, err)
		}
		hits++
	}
	return ledger, hits, retries, nil
}

// domainSeq returns the sequence number of domain 0 in a MariaDB GTID set.
func domainSeq(set string) (uint64, error) {
	s, err := position.ParseSet(position.MariaDB, set)
	if err != nil {
		return 0, err
	}
	for _, e := range strings.Split(s.String(), ",") {
		g, err := position.ParseGTID(position.MariaDB, e)
		if err == nil && g.Domain == 0 {
			return g.Seq, nil
		}
	}
	return 0, fmt.Errorf("gtid set %q has no domain 0", set)
}

// bank-consistent URL SNAPSHOT|GTIDSET
// checks the bank database on URL (restored from a snapshot taken under
// dr-test-txload) against a GTID position: the balances add up to
// 1000 x 1000, and ledger rows + hits rows = seq(position) - seq(S0) - 1
// (domain 0), S0 being bank.meta's start_gtid; the - 1 is the INSERT into
// bank.meta itself. The position is, when the argument names an existing
// file, the gtid_set of its manifest if it is a snapshot (plain or gzip),
// else the GTID set the file holds (e.g. the stdout of dr-sandbox sql
// NAME 'SELECT @@gtid_binlog_pos', saved with cp stdout FILE); when no
// such file exists, the argument itself as a MariaDB GTID set
// ("0-20601-1234"). Prints both numbers to stdout; with !, succeeds only
// when they differ.
func cmdBankConsistent(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: bank-consistent URL SNAPSHOT|GTIDSET")
	}
	set := args[1]
	if _, err := os.Stat(ts.MkAbs(args[1])); err == nil {
		m, err := readManifest(ts.MkAbs(args[1]))
		if err != nil {
			// Not a snapshot: a file holding a GTID set, such as the
			// stdout of dr-sandbox sql NAME 'SELECT @@gtid_binlog_pos'.
			b, rerr := os.ReadFile(ts.MkAbs(args[1]))
			ts.Check(rerr)
			if _, perr := position.ParseSet(position.MariaDB, strings.TrimSpace(string(b))); perr != nil || len(b) > 4096 {
				ts.Fatalf("bank-consistent: %v", err)
			}
			set = strings.TrimSpace(string(b))
		} else {
			set = m.GTIDSet
		}
	}
	end, err := domainSeq(set)
	ts.Check(err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := dialURL(ctx, args[0])
	ts.Check(err)
	defer c.Close()
	one := func(q string) mysqlx.Row {
		rows, err := mysqlx.Query(ctx, c, q)
		if err != nil {
			ts.Fatalf("bank-consistent: %s: %v", q, err)
		}
		if len(rows) != 1 {
			ts.Fatalf("bank-consistent: %s: %d rows, want 1", q, len(rows))
		}
		return rows[0]
	}
	s0 := one("SELECT start_gtid FROM bank.meta").Str(0)
	start, err := domainSeq(s0)
	ts.Check(err)
	acc := one("SELECT CAST(SUM(balance) AS CHAR), COUNT(*) FROM bank.accounts")
	ledger := one("SELECT COUNT(*) FROM bank.ledger").Uint(0)
	hits := one("SELECT COUNT(*) FROM bank.hits").Uint(0)

	var bad []string
	if acc.Str(0) != strconv.Itoa(bankAccounts*bankBalance) || acc.Uint(1) != bankAccounts {
		bad = append(bad, fmt.Sprintf("balances add up to %s over %d accounts, want %d over %d",
			acc.Str(0), acc.Uint(1), bankAccounts*bankBalance, bankAccounts))
	}
	want := int64(end) - int64(start) - 1
	got := int64(ledger + hits)
	if got != want {
		bad = append(bad, fmt.Sprintf("%d transactions restored, the position says %d", got, want))
	}
	fmt.Fprintf(ts.Stdout(), "bank-consistent: balance sum %s over %d accounts; ledger %d + hits %d = %d transactions; position %s - start %s - 1 = %d\n",
		acc.Str(0), acc.Uint(1), ledger, hits, got, set, s0, want)
	switch {
	case neg && len(bad) == 0:
		ts.Fatalf("bank-consistent: the bank is consistent with %s", set)
	case !neg && len(bad) > 0:
		ts.Fatalf("bank-consistent: %s", strings.Join(bad, "; "))
	}
}
