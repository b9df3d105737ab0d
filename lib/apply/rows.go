package apply

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"

	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// Column is what writing a column's values needs to know of it. Row
// images carry values by position and, by default, no names nor
// signedness: both come from the target's definition.
type Column struct {
	Name      string
	DataType  string // information_schema DATA_TYPE, lower case
	Unsigned  bool
	Charset   string // of a character column; "" otherwise
	Generated bool   // virtual, stored or system-versioning: never written
}

// Table is a target table as row events are applied to it.
type Table struct {
	DB, Name string
	Cols     []Column
	// Key lists the columns that identify a row: the primary key, else a
	// unique key of NOT NULL columns; nil means all columns.
	Key   []int
	Trans bool // transactional: its changes go with their transaction
	// Uniques lists every unique key (the primary key first), each as
	// its columns, for the conflicts of parallel apply (see Keys).
	Uniques [][]int
	// Family names the tables that foreign keys link to this one,
	// directly or through others (the first of their names), "" for a
	// table without foreign keys: their rows are checked, and cascade,
	// across tables.
	Family string
	// Triggers: the target has triggers on the table. Its rows go through
	// the server's own row applier (BinlogSQL), which does not fire them:
	// what they did on the source is in the binlog as rows already.
	Triggers bool
}

func (t *Table) String() string { return qualified(t.DB, t.Name) }

// ServerApplies reports whether the table's rows go to the server's own
// row applier (BinlogSQL) rather than statements: when the target has
// triggers on it (see Triggers), or a column whose bytes in the binlog
// are not a value SQL can write back: a UUID is stored with its groups
// in another order than it is written.
func (t *Table) ServerApplies() bool {
	return t.Triggers || slices.ContainsFunc(t.Cols, func(c Column) bool { return c.DataType == "uuid" })
}

func qualified(db, t string) string { return sqltext.QuoteIdent(db) + "." + sqltext.QuoteIdent(t) }

// Catalog reads table definitions from the target and keeps them until
// DDL may have changed them.
type Catalog struct {
	// Families: Table fills in Family, for Keys. Without it the
	// server-wide read of foreign keys, again after every Forget, is
	// spared.
	Families bool

	c          *client.Conn
	tables     map[string]*Table
	collations map[uint32]Collation
	families   map[string]string // qualified table: its foreign-key family
}

// NewCatalog reads definitions over c.
func NewCatalog(c *client.Conn) *Catalog { return &Catalog{c: c, tables: map[string]*Table{}} }

// Forget drops what is known: after DDL.
func (k *Catalog) Forget() { clear(k.tables); k.families = nil }

// Table returns the definition of db.name on the target.
func (k *Catalog) Table(ctx context.Context, db, name string) (*Table, error) {
	key := db + "\x00" + name
	if t := k.tables[key]; t != nil {
		return t, nil
	}
	q := sqltext.QuoteString
	where := " WHERE TABLE_SCHEMA = " + q(db) + " AND TABLE_NAME = " + q(name)
	rows, err := mysqlx.Query(ctx, k.c, "SELECT ENGINE FROM information_schema.TABLES"+where)
	if err != nil {
		return nil, fmt.Errorf("read definition of %s: %w", qualified(db, name), err)
	}
	if len(rows) == 0 {
		return nil, &DivergedError{Msg: fmt.Sprintf("table %s does not exist on the target", qualified(db, name))}
	}
	t := &Table{DB: db, Name: name}
	switch strings.ToUpper(rows[0].Str(0)) {
	case "INNODB", "ROCKSDB", "TOKUDB", "NDBCLUSTER", "XTRADB":
		t.Trans = true
	}
	rows, err = mysqlx.Query(ctx, k.c, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, EXTRA FROM information_schema.COLUMNS"+where+" ORDER BY ORDINAL_POSITION")
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", t, err)
	}
	byName := map[string]int{}
	for i, r := range rows {
		extra := strings.ToUpper(r.Str(4))
		t.Cols = append(t.Cols, Column{
			Name:     r.Str(0),
			DataType: strings.ToLower(r.Str(1)),
			Unsigned: strings.Contains(strings.ToLower(r.Str(2)), "unsigned"),
			Charset:  r.Str(3),
			Generated: strings.Contains(extra, "VIRTUAL GENERATED") || strings.Contains(extra, "STORED GENERATED") ||
				strings.Contains(extra, "PERSISTENT GENERATED") || strings.Contains(extra, "ROW START") || strings.Contains(extra, "ROW END"),
		})
		byName[strings.ToLower(r.Str(0))] = i
	}
	// LEFT JOIN: MySQL's functional key parts have no column.
	rows, err = mysqlx.Query(ctx, k.c, "SELECT s.INDEX_NAME, s.COLUMN_NAME, s.SUB_PART, c.IS_NULLABLE FROM information_schema.STATISTICS s "+
		"LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME "+
		"WHERE s.NON_UNIQUE = 0 AND s.TABLE_SCHEMA = "+q(db)+" AND s.TABLE_NAME = "+q(name)+
		" ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX")
	if err != nil {
		return nil, fmt.Errorf("read keys of %s: %w", t, err)
	}
	// Key: the first key whose columns are all whole and NOT NULL.
	var cur string
	var cols, all []int
	var names []string // of the unique keys, as Uniques
	ok := true
	for i := 0; i <= len(rows); i++ {
		if i == len(rows) || rows[i].Str(0) != cur {
			if cur != "" {
				t.Uniques = append(t.Uniques, all)
				names = append(names, cur)
			}
			if cur != "" && ok && len(cols) > 0 && t.Key == nil {
				t.Key = cols
			}
			if i == len(rows) {
				break
			}
			cur, cols, all, ok = rows[i].Str(0), nil, nil, true
		}
		r := rows[i]
		idx, found := byName[strings.ToLower(r.Str(1))]
		if !found || r.Null(1) || !r.Null(2) {
			// An expression, or a prefix of the column: values this
			// code cannot compare as the index does (see Keys).
			ok = false
			all = append(all, -1)
			continue
		}
		all = append(all, idx)
		if r.Str(3) != "NO" || t.Cols[idx].Generated {
			ok = false
			continue
		}
		cols = append(cols, idx)
	}
	if err := k.periodKeys(ctx, t, names); err != nil {
		return nil, err
	}
	if k.Families {
		if t.Family, err = k.family(ctx, t.String()); err != nil {
			return nil, err
		}
	}
	rows, err = mysqlx.Query(ctx, k.c, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = "+q(db)+" AND EVENT_OBJECT_TABLE = "+q(name))
	if err != nil {
		return nil, fmt.Errorf("read triggers of %s: %w", t, err)
	}
	t.Triggers = rows[0].Uint(0) > 0
	k.tables[key] = t
	return t, nil
}

// periodKeys finds the unique keys WITHOUT OVERLAPS (MariaDB's
// application-time periods) among t's, named names, and makes them count
// as one value for their whole index (see Keys): two rows meet in such a
// key when their periods overlap, not when their values are equal. The
// index lists the period's end and start columns last; only a table with
// a unique key that ends in two temporal columns is asked for its
// definition.
func (k *Catalog) periodKeys(ctx context.Context, t *Table, names []string) error {
	temporal := func(c int) bool {
		if c < 0 {
			return false
		}
		switch t.Cols[c].DataType {
		case "date", "datetime", "timestamp":
			return true
		}
		return false
	}
	maybe := slices.ContainsFunc(t.Uniques, func(u []int) bool {
		return len(u) >= 2 && temporal(u[len(u)-1]) && temporal(u[len(u)-2])
	})
	if !maybe {
		return nil
	}
	rows, err := mysqlx.Query(ctx, k.c, "SHOW CREATE TABLE "+t.String())
	if err != nil {
		return fmt.Errorf("read definition of %s: %w", t, err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("read definition of %s: SHOW CREATE TABLE returned nothing", t)
	}
	for _, line := range strings.Split(rows[0].Str(1), "\n") {
		if !strings.Contains(line, " WITHOUT OVERLAPS") {
			continue
		}
		for u, name := range names {
			if strings.Contains(line, " KEY "+sqltext.QuoteIdent(name)+" (") {
				t.Uniques[u] = append(t.Uniques[u], -1)
			}
		}
	}
	return nil
}

// family returns the foreign-key family of the table named (qualified):
// the first name of the tables linked to it, directly or through others,
// or "" when no foreign key links it. The links are read once, until
// Forget.
func (k *Catalog) family(ctx context.Context, table string) (string, error) {
	if k.families == nil {
		rows, err := mysqlx.Query(ctx, k.c, "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME "+
			"FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL")
		if err != nil {
			return "", fmt.Errorf("read foreign keys: %w", err)
		}
		parent := map[string]string{}
		var find func(string) string
		find = func(x string) string {
			p, ok := parent[x]
			if !ok || p == x {
				parent[x] = x
				return x
			}
			root := find(p)
			parent[x] = root
			return root
		}
		for _, r := range rows {
			a, b := find(qualified(r.Str(0), r.Str(1))), find(qualified(r.Str(2), r.Str(3)))
			parent[max(a, b)] = min(a, b)
		}
		k.families = map[string]string{}
		for x := range parent {
			k.families[x] = find(x)
		}
	}
	return k.families[table], nil
}

// Collations maps the target's collation ids to their names and
// character sets.
func (k *Catalog) Collations(ctx context.Context) (map[uint32]Collation, error) {
	if k.collations == nil {
		rows, err := mysqlx.Query(ctx, k.c, "SELECT ID, COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
		if err != nil {
			return nil, fmt.Errorf("read collations: %w", err)
		}
		k.collations = map[uint32]Collation{}
		for _, r := range rows {
			k.collations[uint32(r.Uint(0))] = Collation{Name: r.Str(1), Charset: r.Str(2)}
		}
	}
	return k.collations, nil
}

// Collation is a collation's name and its character set's.
type Collation struct{ Name, Charset string }

// DivergedError is a target that does not hold what the binlog says it
// must: a missing table or row, a duplicate key, other columns.
type DivergedError struct{ Msg string }

func (e *DivergedError) Error() string { return "the target has diverged: " + e.Msg }

// Stmt is one statement to run, with the number of rows it must affect
// (matched, for an UPDATE) to prove the target holds what the source
// held; -1 when any number will do.
type Stmt struct {
	SQL  string
	Want int64
	What string // the row, for a message when Want is not met
	// Format: a BINLOG statement of rows, which needs this format
	// description in its session first.
	Format *Format
}

// Rows flags of row events (the server's Rows_log_event flags).
const RowsNoForeignKeyChecks = 0x0002

// maxInsert is the size at which a multi-row INSERT is cut.
const maxInsert = 1 << 20

// RowsSQL turns a rows event into statements against t. With
// idempotent (and always for a non-transactional table, whose changes a
// crash does not roll back) an INSERT is a REPLACE and no count is
// checked, so applying the event twice gives the same rows.
func RowsSQL(t *Table, e *replication.RowsEvent, idempotent bool) ([]Stmt, error) {
	if int(e.ColumnCount) != len(t.Cols) {
		return nil, &DivergedError{Msg: fmt.Sprintf("table %s has %d columns, the binlog's row has %d", t, len(t.Cols), e.ColumnCount)}
	}
	check := !idempotent && t.Trans
	var out []Stmt
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		verb := "INSERT INTO "
		if !check {
			verb = "REPLACE INTO "
		}
		var b []byte
		var head []byte
		n := int64(0)
		flush := func() {
			if n > 0 {
				want := n
				if !check {
					want = -1
				}
				out = append(out, Stmt{SQL: string(b), Want: want, What: "rows inserted into " + t.String()})
			}
			b, n = nil, 0
		}
		for i, row := range e.Rows {
			cols := present(t, e, i)
			h := insertHead(verb, t, cols)
			if n > 0 && (len(b) > maxInsert || string(h) != string(head)) {
				flush()
			}
			if n == 0 {
				head = h
				b = append(b, h...)
			} else {
				b = append(b, ',')
			}
			var err error
			if b, err = appendTuple(b, t, row, cols); err != nil {
				return nil, err
			}
			n++
		}
		flush()
	case replication.EnumRowsEventTypeDelete:
		for i, row := range e.Rows {
			w, err := whereKey(t, row, present(t, e, i))
			if err != nil {
				return nil, err
			}
			out = append(out, Stmt{SQL: "DELETE FROM " + t.String() + " WHERE " + w + " LIMIT 1", Want: want1(check), What: "row " + w + " of " + t.String()})
		}
	case replication.EnumRowsEventTypeUpdate:
		if len(e.Rows)%2 != 0 {
			return nil, fmt.Errorf("UPDATE rows event on %s with an odd number of images", t)
		}
		for i := 0; i < len(e.Rows); i += 2 {
			w, err := whereKey(t, e.Rows[i], present(t, e, i))
			if err != nil {
				return nil, err
			}
			b := []byte("UPDATE " + t.String() + " SET ")
			first := true
			for _, c := range present(t, e, i+1) {
				if !first {
					b = append(b, ", "...)
				}
				first = false
				b = sqltext.AppendIdent(b, t.Cols[c].Name)
				b = append(b, " = "...)
				if b, err = appendValue(b, e.Rows[i+1][c], &t.Cols[c]); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", t, t.Cols[c].Name, err)
				}
			}
			if first {
				continue // nothing written
			}
			b = append(b, " WHERE "...)
			b = append(b, w...)
			b = append(b, " LIMIT 1"...)
			out = append(out, Stmt{SQL: string(b), Want: want1(check), What: "row " + w + " of " + t.String()})
		}
	default:
		return nil, fmt.Errorf("%w rows event on %s", ErrUnsupported, t)
	}
	return out, nil
}

func want1(check bool) int64 {
	if check {
		return 1
	}
	return -1
}

// present lists the columns that row i of e carries and the target
// writes: not the generated ones, not those a partial image leaves out.
func present(t *Table, e *replication.RowsEvent, i int) []int {
	var skipped []int
	if i < len(e.SkippedColumns) {
		skipped = e.SkippedColumns[i]
	}
	cols := make([]int, 0, len(t.Cols))
	s := 0
	for c := range t.Cols {
		for s < len(skipped) && skipped[s] < c {
			s++
		}
		if s < len(skipped) && skipped[s] == c {
			continue
		}
		if t.Cols[c].Generated {
			continue
		}
		cols = append(cols, c)
	}
	return cols
}

func insertHead(verb string, t *Table, cols []int) []byte {
	b := []byte(verb + t.String() + " (")
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = sqltext.AppendIdent(b, t.Cols[c].Name)
	}
	return append(b, ") VALUES "...)
}

func appendTuple(b []byte, t *Table, row []any, cols []int) ([]byte, error) {
	b = append(b, '(')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, row[c], &t.Cols[c]); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, t.Cols[c].Name, err)
		}
	}
	return append(b, ')'), nil
}

// whereKey is the condition that finds a row by its before image.
func whereKey(t *Table, row []any, have []int) (string, error) {
	key := t.Key
	if key == nil {
		key = have
	}
	var b []byte
	for i, c := range key {
		if !slices.Contains(have, c) {
			return "", fmt.Errorf("%w: the before image of a row of %s lacks key column %s", ErrUnsupported, t, t.Cols[c].Name)
		}
		if i > 0 {
			b = append(b, " AND "...)
		}
		b = sqltext.AppendIdent(b, t.Cols[c].Name)
		if row[c] == nil {
			b = append(b, " IS NULL"...)
			continue
		}
		b = append(b, " = "...)
		var err error
		if b, err = appendValue(b, row[c], &t.Cols[c]); err != nil {
			return "", fmt.Errorf("%s.%s: %w", t, t.Cols[c].Name, err)
		}
	}
	return string(b), nil
}

// appendValue writes v, as go-mysql decoded it from a row image, as a
// literal the target reads back to exactly the source's value.
func appendValue(b []byte, v any, c *Column) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case int8:
		if c.Unsigned {
			return strconv.AppendUint(b, uint64(uint8(x)), 10), nil
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		if c.Unsigned {
			return strconv.AppendUint(b, uint64(uint16(x)), 10), nil
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		if c.Unsigned {
			if c.DataType == "mediumint" {
				return strconv.AppendUint(b, uint64(uint32(x)&0xffffff), 10), nil
			}
			return strconv.AppendUint(b, uint64(uint32(x)), 10), nil
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		// BIT and SET are bit patterns: unsigned whatever the column.
		if c.Unsigned || c.DataType == "bit" || c.DataType == "set" {
			return strconv.AppendUint(b, uint64(x), 10), nil
		}
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float32:
		return strconv.AppendFloat(b, float64(x), 'g', -1, 32), nil
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case decimal.Decimal:
		return append(b, x.String()...), nil
	case string:
		return appendBytes(b, []byte(x), c), nil
	case []byte:
		return appendBytes(b, x, c), nil
	}
	return nil, fmt.Errorf("%w value of Go type %T", ErrUnsupported, v)
}

func appendBytes(b, v []byte, c *Column) []byte {
	switch c.DataType {
	case "date", "datetime", "timestamp", "time":
		// go-mysql's text of the value: digits, '-', ':', '.', ' '.
		return sqltext.AppendString(b, v)
	}
	// Bytes exactly as the source had them: a hex literal, with the
	// column's character set as introducer so a character column still
	// compares through its index (a bare binary literal would compare
	// as binary and scan).
	if c.Charset != "" && c.Charset != "binary" {
		b = append(b, '_')
		b = append(b, c.Charset...)
		b = append(b, ' ')
	}
	return sqltext.AppendHex(b, v)
}
