package snap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dr-mysql/dr/lib/snapfmt"
)

func testTable() *table {
	return &table{db: "d b", name: "t`1", cols: []column{
		{name: "id", dataType: "int", kind: kindNumber},
		{name: "s", dataType: "varchar", kind: kindString},
		{name: "b", dataType: "blob", kind: kindHex},
		{name: "g", dataType: "int", generated: true, kind: kindNumber},
		{name: "ip", dataType: "inet6", kind: kindText},
	}, key: []string{"id"}}
}

func TestSelectAndInsert(t *testing.T) {
	tb := testTable()
	tb.cols = append(tb.cols, column{name: "f", dataType: "float", kind: kindNumber})
	if got, want := selectSQL(tb, "10", "20"), "SELECT `id`,`s`,`b`,`ip`,CAST(`f` AS DOUBLE) FROM `d b`.`t``1` WHERE `id` >= 10 AND `id` < 20 ORDER BY `id`"; got != want {
		t.Errorf("selectSQL:\n got %s\nwant %s", got, want)
	}
	if got, want := insertPrefix(tb), "INSERT INTO `t``1` (`id`,`s`,`b`,`ip`,`f`) VALUES "; got != want {
		t.Errorf("insertPrefix: %s", got)
	}
	plain := &table{name: "p", cols: []column{{name: "a"}, {name: "b"}}}
	if got := insertPrefix(plain); got != "INSERT INTO `p` VALUES " {
		t.Errorf("insertPrefix without generated columns: %s", got)
	}
	if got := selectSQL(plain, "", ""); got != "SELECT `a`,`b` FROM ``.`p`" {
		t.Errorf("selectSQL without key: %s", got)
	}
}

func TestAppendRow(t *testing.T) {
	row := [][]byte{[]byte("-12.5e3"), []byte("it's\n\\"), {0, 0xff}, nil, []byte("::1")}
	got := string(appendRow(nil, row, []kind{kindNumber, kindString, kindHex, kindString, kindText}))
	want := `(-12.5e3,'it\'s\n\\',0x00ff,NULL,_utf8mb4'::1')`
	if got != want {
		t.Errorf("appendRow = %s, want %s", got, want)
	}
}

// dumpRows runs rows through a chunker into a stream and returns the data
// members' contents.
func dumpRows(t *testing.T, chunkSize int, rows [][][]byte) (members []string, rowCounts []int64) {
	t.Helper()
	tb := testTable()
	tb.cols = tb.cols[:3]
	var out bytes.Buffer
	man := &snapfmt.Manifest{Databases: []snapfmt.Database{{Name: tb.db, Tables: []snapfmt.Table{{Name: tb.name, Engine: "InnoDB"}}}}}
	w, err := snapfmt.NewWriter(&out, man, snapfmt.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Add(snapfmt.Member{Kind: snapfmt.KindDatabase, DB: tb.db}, []byte("x"), 0)
	w.Add(snapfmt.Member{Kind: snapfmt.KindTable, DB: tb.db, Table: tb.name}, []byte("x"), 0)
	d := &dumper{w: w, chunkSize: chunkSize, free: make(chan []byte, 4)}
	j := &job{t: tb, seq: new(int)}
	ch := d.newChunker(j)
	ctx := context.Background()
	for _, r := range rows {
		if err := ch.add(ctx, r, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.end(ch.finish(ctx)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(&snapfmt.Sums{}); err != nil {
		t.Fatal(err)
	}
	rd, err := snapfmt.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, data, err := rd.NextBytes()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == snapfmt.KindData {
			members = append(members, string(data))
			rowCounts = append(rowCounts, rd.Sum().Rows)
		}
	}
	return members, rowCounts
}

func genRows(n, width int) [][][]byte {
	var rows [][][]byte
	for i := 1; i <= n; i++ {
		rows = append(rows, [][]byte{[]byte(fmt.Sprint(i)), []byte(strings.Repeat("x", width+i%7)), {byte(i)}})
	}
	return rows
}

func TestChunkerBudgets(t *testing.T) {
	const chunk = 64 << 10
	rows := genRows(5000, 100)
	members, counts := dumpRows(t, chunk, rows)
	if len(members) < 5 {
		t.Fatalf("%d members for ~600 KiB at 64 KiB", len(members))
	}
	var total int64
	for i, m := range members {
		total += counts[i]
		if !strings.HasPrefix(m, dataPreamble("d b")) {
			t.Errorf("member %d lacks the preamble", i+1)
		}
		body := strings.TrimPrefix(m, dataPreamble("d b"))
		for _, stmt := range strings.SplitAfter(body, ";\n") {
			if stmt == "" {
				continue
			}
			if !strings.HasPrefix(stmt, "INSERT INTO `t``1` VALUES (") || !strings.HasSuffix(stmt, ");\n") {
				t.Fatalf("member %d: bad statement %.80q", i+1, stmt)
			}
			if len(stmt) > stmtBudget(chunk)+200 {
				t.Errorf("member %d: statement of %d bytes, budget %d", i+1, len(stmt), stmtBudget(chunk))
			}
		}
		if i < len(members)-1 && (len(m) < chunk || len(m) > chunk+stmtBudget(chunk)+200) {
			t.Errorf("member %d: %d bytes for a chunk size of %d", i+1, len(m), chunk)
		}
	}
	if total != 5000 {
		t.Errorf("rows in members: %d, want 5000", total)
	}

	// The same rows give the same bytes; a changed row changes only
	// what follows it.
	again, _ := dumpRows(t, chunk, rows)
	for i := range members {
		if members[i] != again[i] {
			t.Fatalf("member %d differs between two identical dumps", i+1)
		}
	}
	rows[4000][1] = []byte("changed")
	changed, _ := dumpRows(t, chunk, rows)
	// Row 4000 of 5000: the members before the 60% mark hold none of it.
	for i := 0; i < len(members)*3/5; i++ {
		if members[i] != changed[i] {
			t.Errorf("member %d of %d changed with a row near the end", i+1, len(members))
		}
	}
}

func TestChunkerBigRow(t *testing.T) {
	// A row larger than the statement budget is a statement of its own,
	// and is never cut.
	rows := genRows(10, 10)
	rows[5][1] = bytes.Repeat([]byte("y"), 300<<10)
	members, counts := dumpRows(t, 64<<10, rows)
	all := strings.Join(members, "")
	if !strings.Contains(all, "VALUES (6,'"+strings.Repeat("y", 300<<10)+"',0x06);\n") {
		t.Error("the big row is not a statement of its own")
	}
	var n int64
	for _, c := range counts {
		n += c
	}
	if n != 10 {
		t.Errorf("%d rows, want 10", n)
	}
}

func TestKindOf(t *testing.T) {
	for typ, want := range map[string]kind{"int": kindNumber, "decimal": kindNumber, "float": kindNumber, "year": kindNumber,
		"varchar": kindString, "json": kindText, "datetime": kindString, "enum": kindString,
		"blob": kindHex, "bit": kindHex, "point": kindHex, "varbinary": kindHex,
		"inet6": kindText, "uuid": kindText} {
		if got := kindOf(typ); got != want {
			t.Errorf("kindOf(%s) = %d, want %d", typ, got, want)
		}
	}
}

func TestWithoutAuth(t *testing.T) {
	for in, want := range map[string]string{
		"GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*AB'":                          "GRANT USAGE ON *.* TO `u`@`%`",
		"GRANT ALL PRIVILEGES ON *.* TO `r`@`h` IDENTIFIED VIA unix_socket WITH GRANT OPTION": "GRANT ALL PRIVILEGES ON *.* TO `r`@`h` WITH GRANT OPTION",
		"GRANT SELECT ON `db`.* TO `u`@`%`":                                                   "GRANT SELECT ON `db`.* TO `u`@`%`",
	} {
		if got := withoutAuth(in); got != want {
			t.Errorf("withoutAuth(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOrderViews(t *testing.T) {
	d := &database{name: "db"}
	mk := func(name, body string) *object { return &object{kind: "VIEW", name: name, sql: body} }
	d.views = []*object{
		mk("a", "CREATE VIEW `db`.`a` AS select * from `db`.`c`"),
		mk("b", "CREATE VIEW `db`.`b` AS select * from `db`.`t`"),
		mk("c", "CREATE VIEW `db`.`c` AS select * from `db`.`b`"),
	}
	orderViews(d)
	var got []string
	for _, v := range d.views {
		got = append(got, v.name)
	}
	if strings.Join(got, ",") != "b,c,a" {
		t.Errorf("order %v, want b,c,a", got)
	}
}

func TestLikeRegexp(t *testing.T) {
	for _, c := range []struct {
		pattern, db string
		want        bool
	}{
		{`t\_3`, "t_3", true}, {`t\_3`, "tx3", false}, {`t_3`, "tx3", true},
		{`cms%`, "cms_prod", true}, {`cms%`, "xcms", false}, {`a.b`, "axb", false}, {`a.b`, "a.b", true},
	} {
		if got := likeRegexp(c.pattern).MatchString(c.db); got != c.want {
			t.Errorf("%q matches %q: %v, want %v", c.pattern, c.db, got, c.want)
		}
	}
}

func TestRangeBounds(t *testing.T) {
	for _, tc := range []struct{ lo, hi, n int64 }{
		{1, 1_000_000, 13}, {-500, 500, 4}, {0, 1 << 40, 100}, {7, 9, 2},
		{math.MaxInt64 - 1000, math.MaxInt64, 10}, {math.MinInt64 + 1, math.MinInt64 + 1001, 10},
	} {
		b := rangeBounds(tc.lo, tc.hi, tc.n)
		if len(b) < int(tc.n)/2 || len(b) > 2*int(tc.n)+1 {
			t.Errorf("rangeBounds(%d, %d, %d): %d bounds, want about %d", tc.lo, tc.hi, tc.n, len(b), tc.n)
			continue
		}
		step := int64(0)
		if len(b) > 1 {
			step = b[1] - b[0]
		}
		for i, x := range b {
			if x <= tc.lo || x > tc.hi {
				t.Errorf("rangeBounds(%d, %d, %d): bound %d outside (lo, hi]", tc.lo, tc.hi, tc.n, x)
			}
			if step > 0 && (x%step != 0 || i > 0 && x-b[i-1] != step) {
				t.Errorf("rangeBounds(%d, %d, %d): bound %d is not the next multiple of %d", tc.lo, tc.hi, tc.n, x, step)
			}
		}
		if step&(step-1) != 0 {
			t.Errorf("rangeBounds(%d, %d, %d): step %d is not a power of two", tc.lo, tc.hi, tc.n, step)
		}
	}
	// A table that grew keeps its boundaries.
	a, b := rangeBounds(1, 1_000_000, 16), rangeBounds(1, 1_020_000, 16)
	if len(a) == 0 || !slices.Equal(a, b[:len(a)]) {
		t.Errorf("boundaries moved when the table grew: %v, then %v", a, b)
	}
	for _, tc := range []struct{ lo, hi, n int64 }{{1, 100, 1}, {1, 5, 10}, {math.MinInt64, math.MaxInt64, 4}} {
		if b := rangeBounds(tc.lo, tc.hi, tc.n); b != nil {
			t.Errorf("rangeBounds(%d, %d, %d) = %v, want none", tc.lo, tc.hi, tc.n, b)
		}
	}
}

func TestPlanJobsSplitsOnlyAboveTheShare(t *testing.T) {
	var tables []*table
	for i, size := range []int64{30 << 20, 40 << 20, 35 << 20} {
		tables = append(tables, &table{db: "d", name: fmt.Sprint("t", i), dataLength: size, key: []string{"id"}, intKey: true})
	}
	// Three tables, two threads: each is below half the total, none is
	// split (no query is needed, so no connection), largest first.
	jobs, err := planJobs(context.Background(), nil, tables, 2, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs {
		names = append(names, j.t.name)
	}
	if got := strings.Join(names, ","); got != "t1,t2,t0" {
		t.Errorf("jobs: %s, want t1,t2,t0", got)
	}
}
