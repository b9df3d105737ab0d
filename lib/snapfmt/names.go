package snapfmt

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FormatVersion is the version of the stream this code writes, and the
// newest it reads.
const FormatVersion = 1

// Names of the two members that frame a stream.
const (
	ManifestName = "MANIFEST.json"
	SumsName     = "SUMS.json"
)

// PAX header records of every member. GNU tar prints "Ignoring unknown
// extended header keyword" for each (silence it with
// --warning=no-unknown-keyword); it lists and extracts the stream all the
// same.
const (
	PAXBlake3 = "DR.blake3" // lowercase hex BLAKE3-256 of the member's content
	PAXRows   = "DR.rows"   // decimal row count; data members only
)

// Kind says what a member holds.
type Kind string

// The kinds of members, in the order a restore applies them.
const (
	KindDatabase Kind = "database" // <db>/_db.sql: CREATE DATABASE
	KindTable    Kind = "table"    // <db>/<table>/schema.sql: CREATE TABLE
	KindData     Kind = "data"     // <db>/<table>/data-NNNNNN.sql: multi-row INSERTs in primary-key order
	KindViews    Kind = "views"    // <db>/_views.sql
	KindTriggers Kind = "triggers" // <db>/_triggers.sql
	KindRoutines Kind = "routines" // <db>/_routines.sql: procedures and functions
	KindEvents   Kind = "events"   // <db>/_events.sql
	KindGrants   Kind = "grants"   // _grants.sql: users and grants
)

// dbFiles maps the per-database kinds to their file names. The names
// hold a literal '.', which EncodeName never emits, so no database or
// table name can collide with them.
var dbFiles = map[Kind]string{
	KindDatabase: "_db.sql",
	KindViews:    "_views.sql",
	KindTriggers: "_triggers.sql",
	KindRoutines: "_routines.sql",
	KindEvents:   "_events.sql",
}

// maxSeq bounds data chunk numbers to nine digits, which keeps names
// short and parsing simple; at a few MiB a chunk it is petabytes a table.
const maxSeq = 999_999_999

const (
	grantsFile = "_grants.sql"
	schemaFile = "schema.sql"
	dataPrefix = "data-"
	dataSuffix = ".sql"
)

// Member names one member of a stream. DB and Table are the server's
// names, not encoded; Seq numbers the data chunks of a table from 1.
type Member struct {
	Kind  Kind
	DB    string // empty for KindGrants
	Table string // KindTable and KindData only
	Seq   int    // KindData only: 1, 2, 3, ...
}

// Name returns the member's path in the tar stream:
//
//	_grants.sql
//	<db>/_db.sql  <db>/_views.sql  <db>/_triggers.sql  <db>/_routines.sql  <db>/_events.sql
//	<db>/<table>/schema.sql
//	<db>/<table>/data-000001.sql
//
// with <db> and <table> encoded by EncodeName. Seq has at least six
// digits, so up to 999999 chunks per table the names sort in Seq order.
func (m Member) Name() (string, error) {
	if err := m.check(); err != nil {
		return "", err
	}
	switch m.Kind {
	case KindGrants:
		return grantsFile, nil
	case KindTable:
		return EncodeName(m.DB) + "/" + EncodeName(m.Table) + "/" + schemaFile, nil
	case KindData:
		return EncodeName(m.DB) + "/" + EncodeName(m.Table) + "/" + dataName(m.Seq), nil
	}
	return EncodeName(m.DB) + "/" + dbFiles[m.Kind], nil
}

// String returns the member's name, or a description of what is wrong
// with it, for messages.
func (m Member) String() string {
	name, err := m.Name()
	if err != nil {
		return fmt.Sprintf("invalid member (%v)", err)
	}
	return name
}

func dataName(seq int) string {
	return fmt.Sprintf("%s%06d%s", dataPrefix, seq, dataSuffix)
}

// check says whether m names a member: the fields its Kind needs, and
// only those.
func (m Member) check() error {
	needDB, needTable, needSeq := true, false, false
	switch m.Kind {
	case KindGrants:
		needDB = false
	case KindTable:
		needTable = true
	case KindData:
		needTable, needSeq = true, true
	case KindDatabase, KindViews, KindTriggers, KindRoutines, KindEvents:
	default:
		return fmt.Errorf("unknown member kind %q", string(m.Kind))
	}
	if err := checkPart("database", m.DB, needDB); err != nil {
		return fmt.Errorf("%s member: %w", m.Kind, err)
	}
	if err := checkPart("table", m.Table, needTable); err != nil {
		return fmt.Errorf("%s member: %w", m.Kind, err)
	}
	if needSeq && (m.Seq < 1 || m.Seq > maxSeq) {
		return fmt.Errorf("data member of %q.%q: sequence number %d, want 1 to %d", m.DB, m.Table, m.Seq, maxSeq)
	}
	if !needSeq && m.Seq != 0 {
		return fmt.Errorf("%s member: has a sequence number (%d)", m.Kind, m.Seq)
	}
	return nil
}

// checkPart checks a database or table name. Names must be valid UTF-8
// because the manifest carries them in JSON, which cannot round-trip
// anything else; MySQL names always are.
func checkPart(what, name string, need bool) error {
	switch {
	case !need && name != "":
		return fmt.Errorf("has a %s name (%q)", what, name)
	case need && name == "":
		return fmt.Errorf("empty %s name", what)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name %q is not valid UTF-8", what, name)
	}
	return nil
}

// safe reports whether EncodeName keeps b as it is.
func safe(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-'
}

const upperHex = "0123456789ABCDEF"

// EncodeName makes a database or table name safe as one path component
// on every file system and in every tar: each byte outside [A-Za-z0-9_-]
// becomes %XX (uppercase hex). The result never holds '/', '.' or a
// space, so it can be neither "..", hidden, nor one of the reserved file
// names of the layout.
func EncodeName(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !safe(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	return b.String()
}

// DecodeName reverses EncodeName. It accepts only what EncodeName
// produces (uppercase hex, no escaped safe byte), so every name has one
// spelling and a stream cannot hold the same table twice under two names.
func DecodeName(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		for i := 0; i < len(s); i++ {
			if !safe(s[i]) {
				return "", fmt.Errorf("encoded name %q: byte %q at %d must be percent-encoded", s, s[i], i)
			}
		}
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) {
			out = append(out, c)
			continue
		}
		if c != '%' {
			return "", fmt.Errorf("encoded name %q: byte %q at %d must be percent-encoded", s, c, i)
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("encoded name %q: incomplete escape at %d", s, i)
		}
		hi, lo := strings.IndexByte(upperHex, s[i+1]), strings.IndexByte(upperHex, s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("encoded name %q: escape %q at %d is not two uppercase hex digits", s, s[i:i+3], i)
		}
		d := byte(hi<<4 | lo)
		if safe(d) {
			return "", fmt.Errorf("encoded name %q: escape %q at %d encodes a byte that must appear as itself", s, s[i:i+3], i)
		}
		out = append(out, d)
		i += 2
	}
	return string(out), nil
}

// ParseName is the inverse of Member.Name: it accepts exactly the names
// Name returns (not ManifestName or SumsName, which are not members).
func ParseName(name string) (Member, error) {
	m, err := parseName(name)
	if err != nil {
		return Member{}, fmt.Errorf("member name %q: %w", name, err)
	}
	if err := m.check(); err != nil {
		return Member{}, fmt.Errorf("member name %q: %w", name, err)
	}
	return m, nil
}

func parseName(name string) (Member, error) {
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 1:
		if name == grantsFile {
			return Member{Kind: KindGrants}, nil
		}
	case 2:
		db, err := decodePart(parts[0])
		if err != nil {
			return Member{}, err
		}
		for k, f := range dbFiles {
			if parts[1] == f {
				return Member{Kind: k, DB: db}, nil
			}
		}
	case 3:
		db, err := decodePart(parts[0])
		if err != nil {
			return Member{}, err
		}
		table, err := decodePart(parts[1])
		if err != nil {
			return Member{}, err
		}
		if parts[2] == schemaFile {
			return Member{Kind: KindTable, DB: db, Table: table}, nil
		}
		if seq, ok := parseSeq(parts[2]); ok {
			return Member{Kind: KindData, DB: db, Table: table, Seq: seq}, nil
		}
	}
	return Member{}, fmt.Errorf("not a name of the snapshot layout")
}

func decodePart(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty path component")
	}
	return DecodeName(s)
}

// parseSeq parses "data-000042.sql". It insists on the spelling dataName
// produces: six digits or more, no extra leading zero.
func parseSeq(f string) (int, bool) {
	digits, ok := strings.CutPrefix(f, dataPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, dataSuffix)
	if !ok || len(digits) < 6 || len(digits) > 9 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || dataName(n) != f {
		return 0, false
	}
	return n, true
}
