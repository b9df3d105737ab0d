package binlogdir

import (
	"encoding/binary"
	"testing"

	"github.com/dr-mysql/dr/lib/position"
)

// TestTrackerRealFiles checks transaction boundaries and GTIDs against
// what mariadb-binlog says about the real files (see testFiles).
func TestTrackerRealFiles(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			tr := NewTracker(position.NewSet(position.MariaDB))
			var boundaries []int64
			gtids := map[int64]string{}
			for _, ev := range splitEvents(t, readTestdata(t, fi.name)) {
				h, err := ParseHeader(ev.b)
				if err != nil {
					t.Fatal(err)
				}
				wasIn := tr.InTransaction()
				b := tr.Observe(h, ev.b)
				ended := b && wasIn
				if b {
					boundaries = append(boundaries, ev.end())
				}
				if ended && tr.HasGTID {
					gtids[ev.end()] = tr.GTID.String()
				}
				if got := tr.InTransaction(); got == b {
					t.Errorf("at %d: boundary %v but InTransaction %v", ev.end(), b, got)
				}
			}
			if tr.Alg != fi.alg {
				t.Errorf("Alg = %d, want %d", tr.Alg, fi.alg)
			}
			if !equalInt64s(boundaries, fi.boundaries) {
				t.Errorf("boundaries %v\nwant %v", boundaries, fi.boundaries)
			}
			if len(gtids) != len(fi.gtids) {
				t.Errorf("transactions ended with GTIDs %v\nwant %v", gtids, fi.gtids)
			}
			for end, g := range fi.gtids {
				if gtids[end] != g {
					t.Errorf("transaction ending at %d: GTID %q, want %q", end, gtids[end], g)
				}
			}
			if got := tr.Set.String(); got != fi.set {
				t.Errorf("GTID set %q, want %q", got, fi.set)
			}
		})
	}
}

// TestTrackerObserveRealFiles goes through Tracker.Observe only, across
// the two files of one series, as a reader of the directory does.
func TestTrackerObserveRealFiles(t *testing.T) {
	tr := NewTracker(position.NewSet(position.MariaDB))
	var got []string
	for _, name := range []string{"mysql-bin.000001", "mysql-bin.000002"} {
		fi := testFile(name)
		var boundaries []int64
		for _, ev := range splitEvents(t, readTestdata(t, name)) {
			h, _ := ParseHeader(ev.b)
			if tr.Observe(h, ev.b) {
				boundaries = append(boundaries, ev.end())
				if fi.gtids[ev.end()] != "" {
					got = append(got, tr.Set.String())
				}
			}
		}
		if !equalInt64s(boundaries, fi.boundaries) {
			t.Errorf("%s: boundaries %v\nwant %v", name, boundaries, fi.boundaries)
		}
	}
	// The set after each transaction: 0-7-1 ... 0-7-10.
	want := []string{"0-7-1", "0-7-2", "0-7-3", "0-7-4", "0-7-5", "0-7-6", "0-7-7", "0-7-8", "0-7-9", "0-7-10"}
	if len(got) != len(want) {
		t.Fatalf("sets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after transaction %d: %q, want %q", i+1, got[i], want[i])
		}
	}
}

// A tracker seeded from the state file and fed the next file alone: the
// GTID_LIST of the file must not move the set backwards or lose domains.
func TestTrackerGTIDListSeeds(t *testing.T) {
	set, err := position.ParseSet(position.MariaDB, "1-9-100")
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(set)
	for _, ev := range splitEvents(t, readTestdata(t, "mysql-bin.000002")) {
		h, _ := ParseHeader(ev.b)
		tr.Observe(h, ev.b)
	}
	if got := tr.Set.String(); got != "0-7-10,1-9-100" {
		t.Errorf("set %q, want 0-7-10,1-9-100", got)
	}
}

type synthEvent struct {
	typ      byte
	body     []byte
	boundary bool
	ended    bool
	gtid     string // t.GTID after the event when ended and HasGTID
}

func TestTrxSynthetic(t *testing.T) {
	sid := [16]byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	xid := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	rows := []byte{1, 2, 3}
	tests := []struct {
		name   string
		flavor position.Flavor
		evs    []synthEvent
	}{
		{"mysql row transaction", position.MySQL, []synthEvent{
			{typ: GTIDEvent, body: mysqlGTIDBody(sid, 23)},
			{typ: QueryEvent, body: queryBody("db", "BEGIN")},
			{typ: 19, body: rows}, // TABLE_MAP
			{typ: 30, body: rows}, // WRITE_ROWS v2
			{typ: XIDEvent, body: xid, boundary: true, ended: true, gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"},
		}},
		{"mysql ddl", position.MySQL, []synthEvent{
			{typ: GTIDEvent, body: mysqlGTIDBody(sid, 24)},
			{typ: QueryEvent, body: queryBody("db", "CREATE TABLE t (a INT)"), boundary: true, ended: true, gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:24"},
		}},
		{"mysql anonymous gtid", position.MySQL, []synthEvent{
			{typ: AnonymousGTIDEvent, body: mysqlGTIDBody([16]byte{}, 0)},
			{typ: QueryEvent, body: queryBody("db", "BEGIN")},
			{typ: XIDEvent, body: xid, boundary: true, ended: true},
		}},
		{"no gtids, statement based myisam", position.MySQL, []synthEvent{
			{typ: QueryEvent, body: queryBody("db", "BEGIN")},
			{typ: IntvarEvent, body: make([]byte, 9)},
			{typ: QueryEvent, body: queryBody("db", "INSERT INTO t VALUES (NULL)")},
			{typ: QueryEvent, body: queryBody("db", "COMMIT"), boundary: true, ended: true},
		}},
		{"rollback", position.MySQL, []synthEvent{
			{typ: QueryEvent, body: queryBody("db", " begin ")},
			{typ: QueryEvent, body: queryBody("db", "UPDATE t SET a=1")},
			{typ: QueryEvent, body: queryBody("db", "rollback"), boundary: true, ended: true},
		}},
		{"context events before a standalone statement", position.MySQL, []synthEvent{
			{typ: UserVarEvent, body: rows},
			{typ: RandEvent, body: make([]byte, 16)},
			{typ: IntvarEvent, body: make([]byte, 9)},
			{typ: QueryEvent, body: queryBody("db", "INSERT INTO t VALUES (RAND())"), boundary: true, ended: false},
		}},
		{"events outside transactions", position.MySQL, []synthEvent{
			{typ: RotateEvent, body: append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, "b.2"...), boundary: true},
			{typ: StopEvent, boundary: true},
			{typ: PreviousGTIDsEvent, body: make([]byte, 8), boundary: true},
		}},
		{"mariadb standalone ddl", position.MariaDB, []synthEvent{
			{typ: MariaDBGTIDEvent, body: mariaGTIDBody(0, 5, 0x29)},
			{typ: QueryEvent, body: queryBody("db", "DROP TABLE t"), boundary: true, ended: true, gtid: "0-7-5"},
		}},
		{"mariadb transaction", position.MariaDB, []synthEvent{
			{typ: MariaDBGTIDEvent, body: mariaGTIDBody(2, 99, 0x0c)},
			{typ: MariaDBAnnotateRows, body: []byte("INSERT ...")},
			{typ: 19, body: rows},
			{typ: 23, body: rows},
			{typ: QueryEvent, body: queryBody("db", "SAVEPOINT a")},
			{typ: XIDEvent, body: xid, boundary: true, ended: true, gtid: "2-7-99"},
		}},
		{"mariadb compressed query inside a transaction", position.MariaDB, []synthEvent{
			{typ: MariaDBGTIDEvent, body: mariaGTIDBody(0, 6, 0x00)},
			{typ: MariaDBQueryCompressed, body: make([]byte, 20)},
			{typ: QueryEvent, body: queryBody("db", "COMMIT"), boundary: true, ended: true, gtid: "0-7-6"},
		}},
		{"mariadb compressed standalone ddl", position.MariaDB, []synthEvent{
			{typ: MariaDBGTIDEvent, body: mariaGTIDBody(0, 7, 0x01)},
			{typ: MariaDBQueryCompressed, body: make([]byte, 20), boundary: true, ended: true, gtid: "0-7-7"},
		}},
		{"mariadb xa prepare", position.MariaDB, []synthEvent{
			{typ: MariaDBGTIDEvent, body: mariaGTIDBody(0, 8, 0x40)},
			{typ: QueryEvent, body: queryBody("db", "XA START 'x'")},
			{typ: 23, body: rows},
			{typ: QueryEvent, body: queryBody("db", "XA END 'x'")},
			{typ: XAPrepareEvent, body: make([]byte, 20), boundary: true, ended: true, gtid: "0-7-8"},
		}},
		{"mariadb short gtid body", position.MariaDB, []synthEvent{
			{typ: MariaDBGTIDEvent, body: make([]byte, 12)},
			{typ: QueryEvent, body: queryBody("db", "CREATE TABLE x (a INT)"), boundary: true, ended: true},
		}},
	}
	for _, tt := range tests {
		for _, alg := range []byte{ChecksumOff, ChecksumCRC32} {
			t.Run(tt.name, func(t *testing.T) {
				tr := NewTracker(position.NewSet(tt.flavor))
				tr.Alg = alg
				for i, e := range tt.evs {
					ev := mkEvent(e.typ, 7, 1000, 0, e.body, alg)
					h, err := ParseHeader(ev)
					if err != nil {
						t.Fatal(err)
					}
					b, ended := tr.Trx.Observe(h, ev, alg)
					if b != e.boundary || ended != e.ended {
						t.Errorf("event %d (type %d): boundary %v ended %v, want %v %v", i, e.typ, b, ended, e.boundary, e.ended)
					}
					if e.gtid != "" && (!tr.HasGTID || tr.GTID.String() != e.gtid) {
						t.Errorf("event %d: GTID %v (has %v), want %s", i, tr.GTID, tr.HasGTID, e.gtid)
					}
				}
				if tr.InTransaction() {
					t.Error("still in a transaction at the end")
				}
			})
		}
	}
}

func TestTrackerMySQLSet(t *testing.T) {
	sid := [16]byte{0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62}
	tr := NewTracker(position.NewSet(position.MySQL))
	for _, gno := range []int64{1, 2, 3, 5} {
		for _, e := range []struct {
			typ  byte
			body []byte
		}{
			{GTIDEvent, mysqlGTIDBody(sid, gno)},
			{QueryEvent, queryBody("db", "BEGIN")},
			{XIDEvent, make([]byte, 8)},
		} {
			ev := mkEvent(e.typ, 1, 100, 0, e.body, ChecksumOff)
			h, _ := ParseHeader(ev)
			tr.Observe(h, ev)
		}
	}
	if got := tr.Set.String(); got != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5" {
		t.Errorf("set %q", got)
	}
}

// The GTID list of a file is the binlog state, one entry per (domain,
// server) in no promised order: the domain's position is the furthest.
func TestTrackerGTIDListFurthestPerDomain(t *testing.T) {
	body := binary.LittleEndian.AppendUint32(nil, 3)
	for _, e := range [][3]uint64{{0, 1, 100}, {0, 2, 50}, {1, 2, 7}} {
		body = binary.LittleEndian.AppendUint32(body, uint32(e[0]))
		body = binary.LittleEndian.AppendUint32(body, uint32(e[1]))
		body = binary.LittleEndian.AppendUint64(body, e[2])
	}
	tr := NewTracker(position.NewSet(position.MariaDB))
	ev := mkEvent(MariaDBGTIDListEvent, 1, 0, 0, body, ChecksumOff)
	h, _ := ParseHeader(ev)
	tr.Observe(h, ev)
	if got := tr.Set.String(); got != "0-1-100,1-2-7" {
		t.Errorf("set %q, want 0-1-100,1-2-7", got)
	}
}
