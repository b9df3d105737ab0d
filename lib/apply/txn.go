package apply

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dr-mysql/dr/lib/binlogdir"
	"github.com/dr-mysql/dr/lib/position"
)

// Txn is one source transaction as the binlog holds it: what to apply,
// and where it lies.
type Txn struct {
	GTID    position.GTID
	HasGTID bool
	File    string
	Pos     int64  // where its first event (the GTID event) starts
	End     int64  // just after its last event
	Time    uint32 // timestamp of its first event (the source's commit time)
	Changes []Change
	Format  *Format // of the file it is in
}

// Format is the FORMAT_DESCRIPTION event of a binlog file, which the
// server's row applier needs before the file's rows events.
type Format struct {
	Raw []byte
	Alg byte // checksum algorithm
	// Start: the source wrote the file when it started (the event's
	// create time is set), so its sessions, and their temporary
	// tables, are new.
	Start bool
}

// HasDDL reports whether the transaction holds a statement that is not
// plain DML: those commit on their own on the target and cannot share a
// transaction with others.
func (t *Txn) HasDDL() bool {
	for _, c := range t.Changes {
		if c.Stmt != nil && c.Stmt.DDL {
			return true
		}
	}
	return false
}

// Thread is the source session of the transaction's statements, 0 when
// it has none.
func (t *Txn) Thread() uint32 {
	if st := t.firstStatement(); st != nil {
		return st.Thread
	}
	return 0
}

// HasStatements reports whether the transaction holds a statement (DDL
// or statement-based DML), whose rows are not in the binlog.
func (t *Txn) HasStatements() bool { return t.firstStatement() != nil }

func (t *Txn) firstStatement() *Statement {
	for _, c := range t.Changes {
		if c.Stmt != nil {
			return c.Stmt
		}
	}
	return nil
}

// Label names the transaction for messages: its GTID and position.
func (t *Txn) Label() string {
	if t.HasGTID {
		return fmt.Sprintf("GTID %s at %s:%d", t.GTID, t.File, t.Pos)
	}
	return fmt.Sprintf("transaction at %s:%d", t.File, t.Pos)
}

// Change is one part of a transaction: a rows event, or a statement.
type Change struct {
	Rows *replication.RowsEvent
	Stmt *Statement
	Pos  int64 // of the event in its file, for messages
	// A rows event's bytes and those of its table map, as the binlog
	// holds them, for BinlogSQL.
	Raw, Map []byte
}

// Statement is a QUERY event with the session context it ran in.
type Statement struct {
	DB   string
	SQL  []byte
	Vars StatusVars
	Time uint32
	DDL  bool     // not DML: commits implicitly
	Pre  []string // SET statements from INTVAR and RAND events before it
	// UserVars: the user variables it reads, from USER_VAR events.
	UserVars []UserVar
	// Thread is the source session's id, which owns its temporary
	// tables; CreatesTemp: the statement makes one.
	Thread      uint32
	CreatesTemp bool
}

// Decoder assembles transactions from the events of a Reader. It keeps
// the table maps of go-mysql's parser across events.
type Decoder struct {
	p    *replication.BinlogParser
	cur  *Txn
	pre  []string
	vars []UserVar
	// standalone: the open transaction is one statement, with no COMMIT
	// after it (MariaDB's FL_STANDALONE, or a statement without BEGIN).
	standalone bool
	alg        byte // checksum algorithm of the current file
	format     *Format
	maps       map[uint64][]byte // table id: the raw TABLE_MAP event
}

// NewDecoder returns a decoder whose values are exact: DECIMAL as
// decimal text, temporal types as text, TIMESTAMP in UTC (so the target
// session must use time_zone '+00:00').
func NewDecoder() *Decoder {
	p := replication.NewBinlogParser()
	p.SetUseDecimal(true)
	p.SetParseTime(false)
	p.SetTimestampStringLocation(time.UTC)
	// The reader verified every checksum already.
	p.SetVerifyChecksum(false)
	return &Decoder{p: p, maps: map[uint64][]byte{}}
}

// ErrUnsupported is an event the decoder cannot turn into SQL.
var ErrUnsupported = errors.New("unsupported")

// Feed takes the next event and returns a transaction when the event
// ends one. An event outside any transaction (rotation, format
// description, GTID list, ...) returns nil.
func (d *Decoder) Feed(ev binlogdir.Event) (*Txn, error) {
	h := ev.Header
	if h.Type == binlogdir.FormatDescriptionEvent {
		// A new file: a transaction never spans files, so one still open
		// was cut off by the source's crash and never committed.
		d.cur, d.pre, d.vars = nil, nil, nil
		clear(d.maps)
		start := false
		if fd, err := binlogdir.ParseFormatDescription(ev.Data); err == nil {
			d.alg, start = fd.ChecksumAlg, fd.Created != 0
		}
		d.format = &Format{Raw: bytes.Clone(ev.Data), Alg: d.alg, Start: start}
	}
	switch h.Type {
	case binlogdir.RandEvent:
		if b := binlogdir.Body(ev.Data, d.alg); len(b) >= 16 {
			d.pre = append(d.pre, fmt.Sprintf("SET @@rand_seed1 = %d, @@rand_seed2 = %d", binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])))
		}
		return nil, nil
	case binlogdir.RotateEvent, binlogdir.StopEvent, binlogdir.HeartbeatEvent, binlogdir.MariaDBGTIDListEvent,
		binlogdir.MariaDBCheckpoint, binlogdir.PreviousGTIDsEvent, binlogdir.MariaDBAnnotateRows:
		return nil, nil
	}
	// go-mysql's values alias the bytes they were decoded from, and the
	// reader's buffer is reused.
	raw := bytes.Clone(ev.Data)
	be, err := d.p.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("decode event at %s:%d: %w", ev.File, ev.Pos, err)
	}
	switch e := be.Event.(type) {
	case *replication.FormatDescriptionEvent:
		return nil, nil
	case *replication.TableMapEvent:
		d.maps[e.TableID] = raw
		return nil, nil
	case *replication.MariadbGTIDEvent:
		d.begin(ev, position.MariaDBGTID(e.GTID.DomainID, h.ServerID, e.GTID.SequenceNumber), true)
		d.standalone = e.IsStandalone()
		return nil, nil
	case *replication.GTIDEvent:
		var sid [16]byte
		copy(sid[:], e.SID)
		d.begin(ev, position.MySQLGTID(sid, e.GNO), true)
		d.standalone = false
		return nil, nil
	case *replication.IntVarEvent:
		switch e.Type {
		case replication.LAST_INSERT_ID:
			d.pre = append(d.pre, fmt.Sprintf("SET LAST_INSERT_ID = %d", e.Value))
		case replication.INSERT_ID:
			d.pre = append(d.pre, fmt.Sprintf("SET INSERT_ID = %d", e.Value))
		}
		return nil, nil
	case *replication.RowsEvent:
		if d.cur == nil {
			d.begin(ev, position.GTID{}, false)
		}
		if e.Type() == replication.EnumRowsEventTypeUnknown {
			return nil, fmt.Errorf("%w event type %d at %s:%d", ErrUnsupported, h.Type, ev.File, ev.Pos)
		}
		d.cur.Changes = append(d.cur.Changes, Change{Rows: e, Pos: ev.Pos, Raw: raw, Map: d.maps[e.TableID]})
		return nil, nil
	case *replication.XIDEvent:
		return d.end(ev), nil
	case *replication.QueryEvent:
		q := bytes.TrimSpace(e.Query)
		switch {
		case bytes.EqualFold(q, []byte("BEGIN")):
			if d.cur == nil {
				d.begin(ev, position.GTID{}, false)
			}
			d.standalone = false
			return nil, nil
		case bytes.EqualFold(q, []byte("COMMIT")) || bytes.EqualFold(q, []byte("ROLLBACK")):
			// A ROLLBACK is logged when the transaction changed a
			// non-transactional table, whose changes stay: they are in
			// the events before it.
			return d.end(ev), nil
		}
		if d.cur == nil {
			d.begin(ev, position.GTID{}, false)
			d.standalone = true
		}
		vars, err := ParseStatusVars(e.StatusVars)
		if err != nil {
			return nil, fmt.Errorf("QUERY event at %s:%d: %w", ev.File, ev.Pos, err)
		}
		st := &Statement{DB: string(e.Schema), SQL: e.Query, Vars: vars, Time: h.Timestamp, DDL: isDDL(q), Pre: d.pre, UserVars: d.vars,
			Thread: e.SlaveProxyID, CreatesTemp: createsTemp(q)}
		d.pre, d.vars = nil, nil
		d.cur.Changes = append(d.cur.Changes, Change{Stmt: st, Pos: ev.Pos})
		if d.standalone {
			return d.end(ev), nil
		}
		return nil, nil
	}
	switch h.Type {
	case binlogdir.UserVarEvent:
		v, err := ParseUserVar(binlogdir.Body(ev.Data, d.alg))
		if err != nil {
			return nil, fmt.Errorf("USER_VAR event at %s:%d: %w", ev.File, ev.Pos, err)
		}
		d.vars = append(d.vars, v)
		return nil, nil
	case binlogdir.XAPrepareEvent, binlogdir.TransactionPayload:
		return nil, fmt.Errorf("%w event type %d at %s:%d", ErrUnsupported, h.Type, ev.File, ev.Pos)
	}
	return nil, nil
}

func (d *Decoder) begin(ev binlogdir.Event, g position.GTID, has bool) {
	d.cur = &Txn{GTID: g, HasGTID: has, File: ev.File, Pos: ev.Pos, Time: ev.Header.Timestamp, Format: d.format}
}

func (d *Decoder) end(ev binlogdir.Event) *Txn {
	t := d.cur
	if t == nil {
		// A COMMIT without a start: the start was before where reading
		// began. Nothing of it is known.
		return nil
	}
	t.End = ev.End()
	d.cur, d.pre, d.vars = nil, nil, nil
	return t
}

// isDDL reports whether a statement is not DML. Row-based binlogs carry
// DDL as statements, and DML only when a session chose statement format.
func isDDL(q []byte) bool {
	q = skipComments(q)
	for _, kw := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "ROLLBACK TO", "SET", "SELECT", "DO", "LOAD", "CALL", "XA"} {
		if len(q) >= len(kw) && bytes.EqualFold(q[:len(kw)], []byte(kw)) && (len(q) == len(kw) || !isIdentByte(q[len(kw)])) {
			return false
		}
	}
	return true
}

// OnDatabase reports whether the statement is CREATE or DROP of a
// DATABASE (or SCHEMA), which names its database. (An ALTER DATABASE
// may name none and mean the default one.)
func (st *Statement) OnDatabase() bool {
	return startsWith(st.SQL, "CREATE", "DATABASE") || startsWith(st.SQL, "CREATE", "SCHEMA") ||
		startsWith(st.SQL, "DROP", "DATABASE") || startsWith(st.SQL, "DROP", "SCHEMA")
}

// createsTemp reports whether a statement is CREATE [OR REPLACE]
// TEMPORARY TABLE.
func createsTemp(q []byte) bool { return startsWith(q, "CREATE", "TEMPORARY", "TABLE") }

// startsWith reports whether the statement's first words (after comments,
// and with CREATE's OR REPLACE left out) are these, in any case.
func startsWith(q []byte, words ...string) bool {
	// Only the words needed are read: a statement may be megabytes.
	got := firstWords(skipComments(q), len(words)+2)
	if len(got) > 3 && bytes.EqualFold(got[1], []byte("OR")) && bytes.EqualFold(got[2], []byte("REPLACE")) {
		got = append(got[:1:1], got[3:]...)
	}
	if len(got) < len(words) {
		return false
	}
	for i, w := range words {
		if !bytes.EqualFold(got[i], []byte(w)) {
			return false
		}
	}
	return true
}

// firstWords returns up to n words of q, split at white space.
func firstWords(q []byte, n int) [][]byte {
	var out [][]byte
	for len(out) < n {
		q = bytes.TrimLeft(q, " \t\r\n")
		if len(q) == 0 {
			break
		}
		end := bytes.IndexAny(q, " \t\r\n")
		if end < 0 {
			end = len(q)
		}
		out = append(out, q[:end])
		q = q[end:]
	}
	return out
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// skipComments skips leading white space and comments: /* */ but not the
// executable /*! */ form, and -- and # lines.
func skipComments(q []byte) []byte {
	for {
		q = bytes.TrimLeft(q, " \t\r\n")
		switch {
		case bytes.HasPrefix(q, []byte("/*")) && !bytes.HasPrefix(q, []byte("/*!")) && !bytes.HasPrefix(q, []byte("/*M!")):
			i := bytes.Index(q[2:], []byte("*/"))
			if i < 0 {
				return nil
			}
			q = q[i+4:]
		case bytes.HasPrefix(q, []byte("#")) || bytes.HasPrefix(q, []byte("-- ")):
			i := bytes.IndexByte(q, '\n')
			if i < 0 {
				return nil
			}
			q = q[i+1:]
		default:
			return q
		}
	}
}
