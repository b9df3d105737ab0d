package apply

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/shopspring/decimal"
)

func TestIsDDL(t *testing.T) {
	for q, want := range map[string]bool{
		"ALTER TABLE t ADD c INT":                true,
		"CREATE TABLE t (id INT)":                true,
		"/* x */ DROP TABLE t":                   true,
		"INSERT INTO t VALUES (1)":               false,
		"  update t set a = 1":                   false,
		"DELETE FROM t":                          false,
		"-- c\nREPLACE INTO t VALUES (1)":        false,
		"SET @a = 1":                             false,
		"SAVEPOINT s":                            false,
		"INSERTX":                                true,
		"/*!40000 ALTER TABLE t DISABLE KEYS */": true,
		"# comment\nCREATE DATABASE d":           true,
	} {
		if got := isDDL([]byte(q)); got != want {
			t.Errorf("isDDL(%q) = %v, want %v", q, got, want)
		}
	}
}

// statusVars builds a status block as MariaDB 10.11 writes it.
func statusVars() []byte {
	var b []byte
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, optionNoForeignKeyChecks)
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint64(b, 1411383296)
	b = append(b, 6, 3, 's', 't', 'd')
	b = append(b, 4)
	b = binary.LittleEndian.AppendUint16(b, 33)
	b = binary.LittleEndian.AppendUint16(b, 33)
	b = binary.LittleEndian.AppendUint16(b, 8)
	b = append(b, 5, 6, '+', '0', '0', ':', '0', '0')
	b = append(b, 12, 2, 'a', 0, 'b', 0)
	b = append(b, 128, 0x40, 0xe2, 0x01) // 123456 µs
	b = append(b, 129)
	b = binary.LittleEndian.AppendUint64(b, 77)
	return b
}

func TestParseStatusVars(t *testing.T) {
	v, err := ParseStatusVars(statusVars())
	if err != nil {
		t.Fatal(err)
	}
	if !v.HasSQLMode || v.SQLMode != 1411383296 || v.CharsetClient != 33 || v.CollationServer != 8 || v.TimeZone != "+00:00" || v.Micros != 123456 {
		t.Fatalf("parsed %+v", v)
	}
	sql := strings.Join(v.SessionSQL(1700000000, nil), ";")
	for _, want := range []string{"SET TIMESTAMP = 1700000000.123456", "foreign_key_checks = 0", "unique_checks = 1", "sql_mode = 1411383296",
		"character_set_client = 33", "time_zone = '+00:00'"} {
		if !strings.Contains(sql, want) {
			t.Errorf("session SQL %q lacks %q", sql, want)
		}
	}
	// Every truncation is an error or a shorter block, never a panic.
	full := statusVars()
	for i := range full {
		ParseStatusVars(full[:i])
	}
}

func FuzzParseStatusVars(f *testing.F) {
	f.Add(statusVars())
	f.Add([]byte{12, 254})
	f.Add([]byte{11, 3, 'a', 'b', 'c', 1, 'h'})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseStatusVars(b)
		if err == nil {
			v.SessionSQL(1, map[uint32]Collation{33: {"utf8mb3_general_ci", "utf8mb3"}})
		}
	})
}

func TestAppendValue(t *testing.T) {
	for _, c := range []struct {
		v    any
		col  Column
		want string
	}{
		{nil, Column{}, "NULL"},
		{int8(-1), Column{Unsigned: true}, "255"},
		{int32(-1), Column{Unsigned: true, DataType: "mediumint"}, "16777215"},
		{int32(-1), Column{Unsigned: true, DataType: "int"}, "4294967295"},
		{int64(-1), Column{DataType: "bit"}, "18446744073709551615"},
		{int64(-5), Column{DataType: "bigint"}, "-5"},
		{float32(1.1), Column{}, "1.1"},
		{float64(0.1), Column{}, "0.1"},
		{decimal.RequireFromString("-12.3400"), Column{}, "-12.34"},
		{"2026-11-21 09:55:00.123456", Column{DataType: "datetime"}, "'2026-11-21 09:55:00.123456'"},
		{"caf\xe9", Column{DataType: "varchar", Charset: "latin1"}, "_latin1 0x636166e9"},
		{[]byte{0, 0xff}, Column{DataType: "blob"}, "0x00ff"},
		{"", Column{DataType: "varchar", Charset: "utf8mb4"}, "_utf8mb4 ''"},
	} {
		got, err := appendValue(nil, c.v, &c.col)
		if err != nil || string(got) != c.want {
			t.Errorf("appendValue(%#v, %+v) = %s, %v; want %s", c.v, c.col, got, err, c.want)
		}
	}
	if _, err := appendValue(nil, &replication.JsonDiff{}, &Column{}); err == nil {
		t.Error("a partial JSON diff must be refused")
	}
}

func TestKeys(t *testing.T) {
	tbl := &Table{DB: "d", Name: "t", Cols: []Column{
		{Name: "id", DataType: "int"}, {Name: "email", DataType: "varchar", Charset: "utf8mb4"},
		{Name: "code", DataType: "varbinary", Charset: "binary"}, {Name: "v", DataType: "int"},
	}, Key: []int{0}, Uniques: [][]int{{0}, {1}, {2}}}
	all := func(rows [][]any) func(int) []int {
		return func(i int) []int {
			var cols []int
			for c := range rows[i] {
				cols = append(cols, c)
			}
			return cols
		}
	}
	keys := func(tb *Table, update bool, rows ...[]any) []Key {
		var got []Key
		tb.keys(update, rows, all(rows), func(k Key) { got = append(got, k) })
		return got
	}
	// meet is the rule of parallel apply's partition: the same row key,
	// or a whole-index key and any key of that index.
	meet := func(a, b []Key) bool {
		for _, x := range a {
			for _, y := range b {
				if x.Row == y.Row || (x.Wide() || y.Wide()) && x.Index == y.Index {
					return true
				}
			}
		}
		return false
	}
	const ins = false
	a := keys(tbl, ins, []any{int32(1), "x@y", []byte("c1"), int32(5)})
	b := keys(tbl, ins, []any{int32(2), "z@y", []byte("c2"), int32(5)})
	// The collated email is one key for the table: a and b meet there.
	if !meet(a, b) {
		t.Errorf("rows with a collated unique key do not conflict")
	}
	tbl.Uniques = [][]int{{0}, {2}}
	a = keys(tbl, ins, []any{int32(1), "x@y", []byte("c1"), int32(5)})
	b = keys(tbl, ins, []any{int32(2), "z@y", []byte("c2"), int32(5)})
	c := keys(tbl, ins, []any{int32(3), "q@y", []byte("c1"), int32(5)})
	if meet(a, b) {
		t.Errorf("rows with different keys conflict")
	}
	if !meet(a, c) {
		t.Errorf("rows with the same binary unique value do not conflict")
	}
	// NULL in a unique key meets nothing.
	n1 := keys(tbl, ins, []any{int32(4), nil, nil, int32(5)})
	n2 := keys(tbl, ins, []any{int32(5), nil, nil, int32(5)})
	if meet(n1, n2) {
		t.Errorf("NULL unique values conflict")
	}
	// An UPDATE's after image without the key: the before image has it,
	// and gives the row's own key, not the whole index.
	var upd []Key
	updRows := [][]any{{int32(1), "x@y", []byte("c9"), int32(5)}, {nil, nil, nil, int32(6)}}
	tbl.keys(true, updRows, func(i int) []int {
		if i == 1 {
			return []int{3}
		}
		return []int{0, 1, 2, 3}
	}, func(k Key) { upd = append(upd, k) })
	if !meet(upd, a) {
		t.Errorf("an UPDATE of row 1 does not meet the INSERT of row 1")
	}
	if meet(upd, b) {
		t.Errorf("an UPDATE of row 1 whose after image lacks the key meets row 2: the whole index, not the before image's key")
	}
	// An unsigned key decoded without signedness metadata (a negative
	// int32) is the same value as when the binlog says it is unsigned.
	unsigned := &Table{DB: "d", Name: "u", Cols: []Column{{Name: "id", DataType: "int", Unsigned: true}}, Key: []int{0}, Uniques: [][]int{{0}}}
	if !meet(keys(unsigned, ins, []any{int32(-1)}), keys(unsigned, ins, []any{uint32(4294967295)})) {
		t.Errorf("an unsigned key decoded as signed and as unsigned does not conflict")
	}
	// A partial image without the unique column: the whole index, which
	// meets every row of it.
	rows := [][]any{{int32(1), nil, nil, nil}}
	var partial []Key
	tbl.keys(false, rows, func(int) []int { return []int{0} }, func(k Key) { partial = append(partial, k) })
	if !meet(partial, c) {
		t.Errorf("a DELETE by primary key only does not meet an INSERT of its old unique value")
	}
	// No unique key of NOT NULL columns: the whole table.
	bare := &Table{DB: "d", Name: "t2", Cols: tbl.Cols, Uniques: [][]int{{2}}}
	if !meet(keys(bare, ins, []any{int32(1), "a", nil, int32(1)}), keys(bare, ins, []any{int32(2), "b", nil, int32(2)})) {
		t.Errorf("rows of a table without a NOT NULL unique key do not conflict")
	}
	// Foreign keys: two tables of one family meet.
	child := &Table{DB: "d", Name: "c", Cols: tbl.Cols[:1], Key: []int{0}, Uniques: [][]int{{0}}, Family: "`d`.`a`"}
	other := &Table{DB: "d", Name: "o", Cols: tbl.Cols[:1], Key: []int{0}, Uniques: [][]int{{0}}, Family: "`d`.`a`"}
	if !meet(keys(child, ins, []any{int32(1)}), keys(other, ins, []any{int32(2)})) {
		t.Errorf("two tables of a foreign-key family do not conflict")
	}
}

func TestCreatesTemp(t *testing.T) {
	for q, want := range map[string]bool{
		"CREATE TEMPORARY TABLE t (a INT)":               true,
		"create or replace temporary table t (a int)":    true,
		"/* c */ CREATE TEMPORARY TABLE IF NOT EXISTS t": true,
		"CREATE TABLE t (a INT)":                         false,
		"DROP TEMPORARY TABLE t":                         false,
		"CREATE OR REPLACE TABLE t (a INT)":              false,
		"CREATE":                                         false,
	} {
		if got := createsTemp([]byte(q)); got != want {
			t.Errorf("createsTemp(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestOnDatabase(t *testing.T) {
	for q, want := range map[string]bool{
		"CREATE DATABASE `x`":                    true,
		"create schema if not exists x":          true,
		"DROP DATABASE IF EXISTS `kinds 2`":      true,
		"CREATE OR REPLACE DATABASE x":           true,
		"ALTER DATABASE DEFAULT CHARACTER SET x": false,
		"CREATE TABLE database (a INT)":          false,
		"DROP TABLE IF EXISTS t":                 false,
		"/* c */ DROP DATABASE x":                true,
	} {
		if got := (&Statement{SQL: []byte(q)}).OnDatabase(); got != want {
			t.Errorf("OnDatabase(%q) = %v, want %v", q, got, want)
		}
	}
}
