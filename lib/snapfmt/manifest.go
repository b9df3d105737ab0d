package snapfmt

import (
	"encoding/json"
	"fmt"
	"time"
)

// Manifest is MANIFEST.json, the first member: where the snapshot comes
// from, the exact binlog point it is consistent with, how it was taken,
// and the table of contents a reader checks the stream against. The
// caller fills it; NewWriter sets Format.
type Manifest struct {
	Format  int       `json:"format"` // FormatVersion
	Tool    string    `json:"tool"`   // what wrote it, e.g. "dr-snap 0.3.0"
	Created time.Time `json:"created"`
	Source  Source    `json:"source"`

	// Binlog and GTIDSet are the point the snapshot is consistent with:
	// binlog replay starts exactly there (the first event at Binlog.Pos
	// is not in the snapshot). GTIDSet is in the source flavor's form
	// (MariaDB @@gtid_binlog_pos, MySQL @@gtid_executed).
	Binlog  BinlogPos `json:"binlog"`
	GTIDSet string    `json:"gtid_set"`
	// Lock is how the consistent point was taken, e.g. "FLUSH TABLES WITH
	// READ LOCK" or "BACKUP STAGE BLOCK_COMMIT"; SUMS.json says how long
	// it was held.
	Lock string `json:"lock,omitempty"`

	Options Options `json:"options"`

	// The objects the stream holds. A reader refuses a stream whose
	// members differ from this list: every database has its _db.sql,
	// every table its schema.sql, and the views, triggers, routines and
	// events members are present exactly when their lists are not empty.
	Databases []Database `json:"databases"`
	Grants    bool       `json:"grants"` // _grants.sql is present
}

// Source identifies the server the snapshot was taken from. It has the
// fields of binlogdir.Source, so the two convert to each other.
type Source struct {
	ServerID   uint32 `json:"server_id"`
	ServerUUID string `json:"server_uuid,omitempty"`
	Flavor     string `json:"flavor"`
	Version    string `json:"version"`
	Address    string `json:"address"`
}

// BinlogPos is a binlog file and a byte offset in it.
type BinlogPos struct {
	File string `json:"file"`
	Pos  uint64 `json:"pos"`
}

// Options records how the snapshot was asked for.
type Options struct {
	Databases []string `json:"databases,omitempty"`
	Tables    []string `json:"tables,omitempty"`
	Exclude   []string `json:"exclude,omitempty"`
	Threads   int      `json:"threads"`
	ChunkSize int64    `json:"chunk_size"` // bytes of INSERT statements per data member
	Compress  bool     `json:"compress"`
}

// Database lists what the stream holds of one database.
type Database struct {
	Name       string   `json:"name"`
	Tables     []Table  `json:"tables"`
	Views      []string `json:"views,omitempty"`
	Triggers   []string `json:"triggers,omitempty"`
	Procedures []string `json:"procedures,omitempty"`
	Functions  []string `json:"functions,omitempty"`
	Events     []string `json:"events,omitempty"`
}

// Table is one base table.
type Table struct {
	Name   string `json:"name"`
	Engine string `json:"engine"`
	// Lock is empty when the table was read inside the consistent
	// snapshot transaction, else the lock it was read under (MyISAM and
	// Aria cannot be read consistently without one), e.g. "FLUSH TABLES
	// WITH READ LOCK".
	Lock string `json:"lock,omitempty"`
}

// Sums is SUMS.json, the last member: every member again with its hash
// and row count, in stream order. Its presence proves the stream whole.
// The caller gives Finished and LockTime to Writer.Close, which fills in
// the rest.
type Sums struct {
	Finished time.Time `json:"finished"`
	// LockTime is how long the global lock was held, including the time
	// spent reading tables under it.
	LockTime       Duration `json:"lock_time"`
	ManifestBLAKE3 string   `json:"manifest_blake3"`
	Members        []Sum    `json:"members"`
	Totals         Totals   `json:"totals"`
}

// Sum is what the stream says of one member.
type Sum struct {
	Name   string `json:"name"`
	BLAKE3 string `json:"blake3"` // lowercase hex
	Size   int64  `json:"size"`   // bytes of content
	Rows   int64  `json:"rows,omitempty"`
}

// Totals add up Sums.Members.
type Totals struct {
	Members int   `json:"members"`
	Rows    int64 `json:"rows"`
	Bytes   int64 `json:"bytes"`
}

// Duration is a time.Duration that JSON shows as Go prints it ("85.2ms").
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"85ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// index is the manifest's table of contents, checked member by member as
// a stream is written or read. Besides what is listed, it enforces the
// order a restore relies on: a database's _db.sql before anything else of
// that database, a table's schema.sql before its data.
type index struct {
	order      []string // database names in manifest order, for messages
	dbs        map[string]*dbIndex
	names      map[string]struct{}
	wantGrants bool
	grants     bool // _grants.sql seen
}

type dbIndex struct {
	seen   bool
	order  []string // table names in manifest order
	tables map[string]*tableIndex
	want   map[Kind]bool // object members the manifest announces
	have   map[Kind]bool
}

type tableIndex struct {
	schema bool
	chunks int // data members seen
	maxSeq int
}

// newIndex checks the manifest's list of objects and indexes it. The
// index keeps no reference to m, which the caller may change afterwards.
func newIndex(m *Manifest) (*index, error) {
	x := &index{dbs: make(map[string]*dbIndex, len(m.Databases)), names: make(map[string]struct{}), wantGrants: m.Grants}
	for i := range m.Databases {
		d := &m.Databases[i]
		if err := checkPart("database", d.Name, true); err != nil {
			return nil, fmt.Errorf("manifest: database %d: %w", i+1, err)
		}
		if x.dbs[d.Name] != nil {
			return nil, fmt.Errorf("manifest: database %q is listed twice", d.Name)
		}
		di := &dbIndex{
			tables: make(map[string]*tableIndex, len(d.Tables)),
			want: map[Kind]bool{
				KindViews:    len(d.Views) > 0,
				KindTriggers: len(d.Triggers) > 0,
				KindRoutines: len(d.Procedures)+len(d.Functions) > 0,
				KindEvents:   len(d.Events) > 0,
			},
			have: make(map[Kind]bool),
		}
		for j, t := range d.Tables {
			if err := checkPart("table", t.Name, true); err != nil {
				return nil, fmt.Errorf("manifest: database %q: table %d: %w", d.Name, j+1, err)
			}
			if di.tables[t.Name] != nil {
				return nil, fmt.Errorf("manifest: database %q: table %q is listed twice", d.Name, t.Name)
			}
			di.tables[t.Name] = &tableIndex{}
			di.order = append(di.order, t.Name)
		}
		x.dbs[d.Name] = di
		x.order = append(x.order, d.Name)
	}
	return x, nil
}

// admit records member m, named name, or says why it may not come next.
func (x *index) admit(m Member, name string) error {
	if _, dup := x.names[name]; dup {
		return fmt.Errorf("member appears twice")
	}
	if m.Kind == KindGrants {
		if !x.wantGrants {
			return fmt.Errorf("the manifest announces no grants")
		}
		x.grants = true
		x.names[name] = struct{}{}
		return nil
	}
	d := x.dbs[m.DB]
	if d == nil {
		return fmt.Errorf("database %q is not in the manifest", m.DB)
	}
	if m.Kind == KindDatabase {
		d.seen = true
		x.names[name] = struct{}{}
		return nil
	}
	var t *tableIndex
	if m.Kind == KindTable || m.Kind == KindData {
		if t = d.tables[m.Table]; t == nil {
			return fmt.Errorf("table %q of database %q is not in the manifest", m.Table, m.DB)
		}
	}
	if !d.seen {
		return fmt.Errorf("comes before its database's %s", EncodeName(m.DB)+"/"+dbFiles[KindDatabase])
	}
	switch m.Kind {
	case KindTable, KindData:
		if m.Kind == KindTable {
			t.schema = true
			break
		}
		if !t.schema {
			return fmt.Errorf("comes before its table's %s", schemaFile)
		}
		t.chunks++
		t.maxSeq = max(t.maxSeq, m.Seq)
	default:
		if !d.want[m.Kind] {
			return fmt.Errorf("the manifest lists no %s in database %q", m.Kind, m.DB)
		}
		d.have[m.Kind] = true
	}
	x.names[name] = struct{}{}
	return nil
}

// complete says what the manifest announces that the stream lacks, in
// manifest order so the message is the same every time.
func (x *index) complete() error {
	for _, db := range x.order {
		di := x.dbs[db]
		if !di.seen {
			return fmt.Errorf("no member %s for database %q of the manifest", EncodeName(db)+"/"+dbFiles[KindDatabase], db)
		}
		for _, t := range di.order {
			ti := di.tables[t]
			prefix := EncodeName(db) + "/" + EncodeName(t) + "/"
			if !ti.schema {
				return fmt.Errorf("no member %s for table %q.%q of the manifest", prefix+schemaFile, db, t)
			}
			if ti.chunks != ti.maxSeq {
				// Sequence numbers are unique (names are), so chunks ==
				// maxSeq means exactly 1..maxSeq are present.
				return fmt.Errorf("table %q.%q has %d data members numbered up to %d: some are missing", db, t, ti.chunks, ti.maxSeq)
			}
		}
		for _, k := range []Kind{KindViews, KindTriggers, KindRoutines, KindEvents} {
			if di.want[k] && !di.have[k] {
				return fmt.Errorf("no member %s for the %s of database %q listed in the manifest", EncodeName(db)+"/"+dbFiles[k], k, db)
			}
		}
	}
	if x.wantGrants && !x.grants {
		return fmt.Errorf("no member %s though the manifest announces grants", grantsFile)
	}
	return nil
}

// checkTotals checks that s adds up.
func (s *Sums) checkTotals() error {
	var t Totals
	for _, m := range s.Members {
		t.Members++
		t.Rows += m.Rows
		t.Bytes += m.Size
	}
	if t != s.Totals {
		return fmt.Errorf("totals %+v do not add up: the members give %+v", s.Totals, t)
	}
	return nil
}
