package snap

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// systemDBs are left out unless named in --databases: they belong to the
// server (or, dr_replay, to the restore that made this server a standby).
var systemDBs = []string{"information_schema", "performance_schema", "mysql", "sys", "dr_replay"}

// neverDBs cannot be snapshotted even when named: they are views of the
// server (information_schema, performance_schema), its own accounts and
// settings, which a restore must not overwrite (mysql: use --grants), or
// state of dr itself (dr_replay).
var neverDBs = []string{"information_schema", "performance_schema", "mysql", "sys", "dr_replay"}

// kind says how a column's text-protocol value becomes an SQL literal.
type kind uint8

const (
	kindNumber kind = iota // the server's digits, as they are
	kindString             // escaped string literal
	kindHex                // 0x... (binary strings, BLOBs, BIT, spatial)
	// A string that must be read as text: types that also take a binary
	// form (INET6, UUID) would take the bytes of a binary literal as that,
	// and MySQL's JSON refuses one.
	kindText
)

type column struct {
	name      string
	dataType  string // information_schema DATA_TYPE, lowercase
	generated bool   // VIRTUAL or STORED: not dumped, the target computes it
	invisible bool   // not in SELECT *, so always named
	kind      kind
}

type table struct {
	db, name   string
	engine     string
	sysVersion bool // SYSTEM VERSIONED: history is not dumped
	sequence   bool // a SEQUENCE: no data members
	cols       []column
	key        []string // primary key, or a unique NOT NULL key; nil: storage order
	intKey     bool     // key is one integer column: ranges can split the table
	dataLength int64    // information_schema estimate, for splitting
	create     string   // SHOW CREATE TABLE (or SEQUENCE), captured under the lock
	setval     string   // a SEQUENCE's SETVAL, captured under the lock
}

// hasData reports whether the table's rows belong in the snapshot. A MERGE
// table's rows are its MyISAM tables' (dumping both would load them
// twice); FEDERATED, CONNECT and SPIDER rows live on another server, which
// a restore must not write to; BLACKHOLE keeps none; S3 tables are read
// only. Their definitions are kept.
func (t *table) hasData() bool {
	switch strings.ToUpper(t.engine) {
	case "MRG_MYISAM", "MRG_MYISAMMRG", "FEDERATED", "CONNECT", "SPIDER", "BLACKHOLE", "S3":
		return false
	}
	return !t.sequence
}

// transactional reports whether the table can be read in a consistent
// snapshot transaction. Aria is crash-safe but not MVCC: it is read under
// the lock like MyISAM.
func (t *table) transactional() bool {
	switch strings.ToLower(t.engine) {
	case "innodb", "rocksdb", "tokudb":
		return true
	}
	return false
}

func (t *table) String() string { return sqltext.QuoteIdent(t.db) + "." + sqltext.QuoteIdent(t.name) }

// object is a view, trigger, routine or event and its definition.
type object struct {
	kind string // "VIEW", "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"
	name string
	on   string // TRIGGER: its table
	sql  string // the member text for it, built under the lock
	refs []string
}

type database struct {
	name       string
	create     string
	tables     []*table
	views      []*object
	triggers   []*object
	routines   []*object
	events     []*object
	onlyTables bool // --tables: no views, routines, events
}

// catalog is what the snapshot holds.
type catalog struct {
	dbs []*database
}

// tables returns the tables whose rows are dumped (see hasData).
func (c *catalog) tables() []*table {
	var ts []*table
	for _, d := range c.dbs {
		for _, t := range d.tables {
			if t.hasData() {
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// selection is what the command line asks for.
type selection struct {
	databases []string
	tables    map[string][]string // db -> tables; nil: all
	exclude   []string
}

func (s *selection) excluded(db, name string) bool {
	for _, p := range s.exclude {
		if ok, _ := path.Match(p, db+"."+name); ok {
			return true
		}
	}
	return false
}

func newSelection(c *Cmd) (*selection, error) {
	s := &selection{databases: c.Databases, exclude: c.Exclude}
	for _, p := range c.Exclude {
		if _, err := path.Match(p, ""); err != nil {
			return nil, cli.Errorf(cli.ExitUsage, "--exclude %q: %v", p, err)
		}
	}
	for _, db := range c.Databases {
		if slices.Contains(neverDBs, strings.ToLower(db)) {
			return nil, cli.WithHint(cli.Errorf(cli.ExitUsage, "--databases: %s is a system database, which dr-snap does not snapshot", db),
				"users and grants come with --grants")
		}
	}
	if len(c.Tables) > 0 {
		if len(c.Databases) > 0 {
			return nil, cli.Errorf(cli.ExitUsage, "--tables and --databases exclude each other")
		}
		s.tables = map[string][]string{}
		for _, t := range c.Tables {
			db, name, ok := strings.Cut(t, ".")
			if !ok || db == "" || name == "" {
				return nil, cli.Errorf(cli.ExitUsage, "--tables: %q is not DB.TABLE", t)
			}
			if !slices.Contains(s.databases, db) {
				s.databases = append(s.databases, db)
			}
			s.tables[db] = append(s.tables[db], name)
		}
	}
	return s, nil
}

// readCatalog lists what the selection covers, from information_schema.
// It runs under the lock, so that what it lists is exactly what exists at
// the snapshot's point.
func readCatalog(ctx context.Context, c *client.Conn, sel *selection) (*catalog, error) {
	rows, err := mysqlx.Query(ctx, c, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Str(0))
	}
	var want []string
	if len(sel.databases) > 0 {
		for _, db := range sel.databases {
			if !slices.Contains(names, db) {
				return nil, cli.Errorf(cli.ExitUsage, "database %s does not exist", sqltext.QuoteIdent(db))
			}
			if !slices.Contains(want, db) {
				want = append(want, db)
			}
		}
		slices.Sort(want)
	} else {
		for _, n := range names {
			if !slices.Contains(systemDBs, strings.ToLower(n)) {
				want = append(want, n)
			}
		}
	}
	cat := &catalog{}
	if len(want) == 0 {
		return cat, nil
	}
	byName := map[string]*database{}
	for _, n := range want {
		d := &database{name: n, onlyTables: sel.tables != nil}
		cat.dbs = append(cat.dbs, d)
		byName[n] = d
	}
	in := sqltext.InList(want)

	tables := map[[2]string]*table{}
	rows, err = mysqlx.Query(ctx, c, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE "+
		"FROM information_schema.TABLES WHERE TABLE_SCHEMA IN "+in+" ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, r := range rows {
		db, name, typ := r.Str(0), r.Str(1), r.Str(2)
		d := byName[db]
		if sel.tables != nil && !slices.Contains(sel.tables[db], name) {
			continue
		}
		if sel.excluded(db, name) {
			continue
		}
		switch typ {
		case "BASE TABLE", "SYSTEM VERSIONED":
			t := &table{db: db, name: name, engine: r.Str(3), sysVersion: typ == "SYSTEM VERSIONED"}
			d.tables = append(d.tables, t)
			tables[[2]string{db, name}] = t
		case "VIEW":
			if !d.onlyTables {
				d.views = append(d.views, &object{kind: "VIEW", name: name})
			}
		case "SEQUENCE":
			// A MariaDB SEQUENCE is a one-row table; its schema member
			// creates it and sets its next value, and it has no data.
			t := &table{db: db, name: name, engine: r.Str(3), sequence: true}
			d.tables = append(d.tables, t)
			tables[[2]string{db, name}] = t
		}
	}
	for db, ts := range sel.tables {
		for _, t := range ts {
			if tables[[2]string{db, t}] == nil {
				return nil, cli.Errorf(cli.ExitUsage, "table %s.%s does not exist", sqltext.QuoteIdent(db), sqltext.QuoteIdent(t))
			}
		}
	}

	rows, err = mysqlx.Query(ctx, c, "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), EXTRA "+
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN "+in+" ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION")
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	for _, r := range rows {
		t := tables[[2]string{r.Str(0), r.Str(1)}]
		if t == nil {
			continue
		}
		extra := strings.ToUpper(r.Str(4))
		t.cols = append(t.cols, column{
			name:     r.Str(2),
			dataType: r.Str(3),
			// VIRTUAL GENERATED / STORED GENERATED (not MySQL's
			// DEFAULT_GENERATED: a default expression, whose values are
			// data); system versioning's row_start and row_end too.
			generated: strings.Contains(extra, "VIRTUAL GENERATED") || strings.Contains(extra, "STORED GENERATED") ||
				strings.Contains(extra, "PERSISTENT GENERATED") || strings.Contains(extra, "ROW START") || strings.Contains(extra, "ROW END"),
			invisible: strings.Contains(extra, "INVISIBLE"),
			kind:      kindOf(r.Str(3)),
		})
	}

	// The ordering key: the primary key, else the first unique index
	// (by name) whose columns are all NOT NULL and whole.
	rows, err = mysqlx.Query(ctx, c, "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, NULLABLE, SUB_PART "+
		"FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN "+in+
		" ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX")
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	type idx struct {
		cols []string
		ok   bool
	}
	indexes := map[[2]string][]*idx{}
	var cur *idx
	var curKey [3]string
	for _, r := range rows {
		k := [3]string{r.Str(0), r.Str(1), r.Str(2)}
		if k != curKey || cur == nil {
			curKey = k
			cur = &idx{ok: r.Str(3) == "0"}
			indexes[[2]string{k[0], k[1]}] = append(indexes[[2]string{k[0], k[1]}], cur)
		}
		cur.cols = append(cur.cols, r.Str(4))
		if r.Str(5) == "YES" || !r.Null(6) {
			cur.ok = false
		}
	}
	for k, t := range tables {
		for _, ix := range indexes[k] {
			if ix.ok {
				t.key = ix.cols
				break
			}
		}
		if len(t.key) == 1 {
			for _, col := range t.cols {
				if col.name == t.key[0] && isInteger(col.dataType) {
					t.intKey = true
				}
			}
		}
	}

	if sel.tables == nil {
		if err := listObjects(ctx, c, in, byName, sel); err != nil {
			return nil, err
		}
	} else {
		// --tables: the triggers of the tables asked for.
		if err := listTriggers(ctx, c, in, byName, func(db, table string) bool { return tables[[2]string{db, table}] != nil }); err != nil {
			return nil, err
		}
	}
	return cat, nil
}

func listObjects(ctx context.Context, c *client.Conn, in string, byName map[string]*database, sel *selection) error {
	if err := listTriggers(ctx, c, in, byName, func(db, t string) bool { return !sel.excluded(db, t) }); err != nil {
		return err
	}
	rows, err := mysqlx.Query(ctx, c, "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "+
		"WHERE ROUTINE_SCHEMA IN "+in+" ORDER BY ROUTINE_SCHEMA, ROUTINE_TYPE, ROUTINE_NAME")
	if err != nil {
		return fmt.Errorf("list routines: %w", err)
	}
	for _, r := range rows {
		switch typ := r.Str(2); typ {
		case "PROCEDURE", "FUNCTION":
			d := byName[r.Str(0)]
			d.routines = append(d.routines, &object{kind: typ, name: r.Str(1)})
		default:
			return cli.WithHint(cli.Errorf(cli.ExitUsage, "%s.%s is a %s, which dr-snap does not snapshot",
				sqltext.QuoteIdent(r.Str(0)), sqltext.QuoteIdent(r.Str(1)), typ), "snapshot the other databases with --databases")
		}
	}
	rows, err = mysqlx.Query(ctx, c, "SELECT EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS "+
		"WHERE EVENT_SCHEMA IN "+in+" ORDER BY EVENT_SCHEMA, EVENT_NAME")
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	for _, r := range rows {
		d := byName[r.Str(0)]
		d.events = append(d.events, &object{kind: "EVENT", name: r.Str(1)})
	}
	return nil
}

func listTriggers(ctx context.Context, c *client.Conn, in string, byName map[string]*database, keep func(db, table string) bool) error {
	// ACTION_ORDER: several triggers on one table and event fire in the
	// order they were created; creating them again in that order keeps it.
	rows, err := mysqlx.Query(ctx, c, "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "+
		"WHERE TRIGGER_SCHEMA IN "+in+" ORDER BY TRIGGER_SCHEMA, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER")
	if err != nil {
		return fmt.Errorf("list triggers: %w", err)
	}
	for _, r := range rows {
		if !keep(r.Str(0), r.Str(2)) {
			continue
		}
		d := byName[r.Str(0)]
		d.triggers = append(d.triggers, &object{kind: "TRIGGER", name: r.Str(1), on: r.Str(2)})
	}
	return nil
}

func isInteger(dataType string) bool {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// kindOf maps a DATA_TYPE to how its values are written. Everything not
// known to be a number or binary is a string: dates, times, ENUM, SET,
// JSON, INET6, UUID... come back from their text form.
func kindOf(dataType string) kind {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint",
		"decimal", "numeric", "float", "double", "real", "year":
		return kindNumber
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection":
		return kindHex
	case "inet4", "inet6", "uuid", "json":
		// MySQL's JSON refuses a binary string; MariaDB's is text anyway.
		return kindText
	}
	return kindString
}

// readSizes fills in the tables' size estimates, which decide how a table
// is split. Reading them opens every table's statistics, which takes
// time the lock should not be held for, so it runs after.
func readSizes(ctx context.Context, c *client.Conn, cat *catalog) error {
	byName := map[[2]string]*table{}
	var dbs []string
	for _, d := range cat.dbs {
		dbs = append(dbs, d.name)
		for _, t := range d.tables {
			byName[[2]string{t.db, t.name}] = t
		}
	}
	if len(dbs) == 0 {
		return nil
	}
	rows, err := mysqlx.Query(ctx, c, "SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(DATA_LENGTH,0) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN "+sqltext.InList(dbs))
	if err != nil {
		return classify(fmt.Errorf("table sizes: %w", err))
	}
	for _, r := range rows {
		if t := byName[[2]string{r.Str(0), r.Str(1)}]; t != nil {
			t.dataLength = int64(r.Uint(2))
		}
	}
	return nil
}
