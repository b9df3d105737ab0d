package position

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Set is a GTID set of one flavor.
//
// A MariaDB set is a position, like @@gtid_binlog_pos: it holds the last
// GTID seen per replication domain, and it contains domain-server-seq when
// its own seq for that domain is at least seq (the server id does not
// matter). A MySQL set is what @@gtid_executed is: per source uuid (and
// MySQL 8.4 tag), the intervals of transaction numbers executed.
//
// The zero Set is empty, has no flavor yet, and takes the flavor of the
// first GTID added to it. A Set holds slices, so copying the struct shares
// them: pass *Set around and use Clone for an independent copy. A Set is
// not safe for concurrent use.
type Set struct {
	flavor Flavor
	maria  []mariaEntry // sorted by domain
	mysql  []sidEntry   // sorted by sid, then tag ("" first)
	hit    int          // index in mysql of the last AddMySQL, for the hot loop
	err    error        // first misuse of a fast path, reported by Err
}

type mariaEntry struct {
	domain uint32
	server uint32
	seq    uint64
}

type sidEntry struct {
	sid [16]byte
	tag string
	iv  []interval // sorted, disjoint, never adjacent
}

// interval is the half-open range [start, stop) of transaction numbers, as
// MySQL stores it.
type interval struct{ start, stop int64 }

// NewSet returns an empty set of the given flavor.
func NewSet(flavor Flavor) *Set { return &Set{flavor: flavor} }

// ParseSet parses a GTID set as the server prints it: for MariaDB
// "0-1-42,1-2-7" (one GTID per domain, as in @@gtid_binlog_pos); for MySQL
// "uuid:1-5:7-9,uuid2:1-3" (as in @@gtid_executed, whose newlines after the
// commas are accepted), with MySQL 8.4 tags as "uuid:1-5:tag:1-3". The empty
// string, or only white space, is the empty set.
func ParseSet(flavor Flavor, s string) (*Set, error) {
	set := NewSet(flavor)
	var err error
	switch flavor {
	case MariaDB:
		err = set.parseMariaDB(s)
	case MySQL:
		err = set.parseMySQL(s)
	default:
		err = fmt.Errorf("unknown flavor %s", quote(string(flavor)))
	}
	if err != nil {
		return nil, fmt.Errorf("invalid gtid set %s: %w", quote(s), err)
	}
	return set, nil
}

func (s *Set) parseMariaDB(str string) error {
	if strings.TrimSpace(str) == "" {
		return nil
	}
	for elem := range strings.SplitSeq(str, ",") {
		elem = strings.TrimSpace(elem)
		if elem == "" {
			return fmt.Errorf("empty element")
		}
		g, err := parseMariaDBGTID(elem)
		if err != nil {
			return fmt.Errorf("element %s: %w", quote(elem), err)
		}
		// Two GTIDs for one domain say two different things about where
		// the domain is; MariaDB refuses such a position too.
		if _, ok := s.mariaFind(g.Domain); ok {
			return fmt.Errorf("element %s: domain %d appears twice", quote(elem), g.Domain)
		}
		s.AddMariaDB(g.Domain, g.ServerID, g.Seq)
	}
	return nil
}

func (s *Set) parseMySQL(str string) error {
	if strings.TrimSpace(str) == "" {
		return nil
	}
	for elem := range strings.SplitSeq(str, ",") {
		elem = strings.TrimSpace(elem)
		if elem == "" {
			return fmt.Errorf("empty element")
		}
		fields := strings.Split(elem, ":")
		sid, err := parseUUID(strings.TrimSpace(fields[0]))
		if err != nil {
			return fmt.Errorf("element %s: %w", quote(elem), err)
		}
		if len(fields) < 2 {
			return fmt.Errorf("element %s: want uuid:interval", quote(elem))
		}
		tag := ""
		pending := false // a tag was named and no interval has followed yet
		for _, f := range fields[1:] {
			f = strings.TrimSpace(f)
			if f != "" && (f[0] < '0' || f[0] > '9') {
				if pending {
					return fmt.Errorf("element %s: tag %s has no interval", quote(elem), quote(tag))
				}
				if tag, err = parseTag(f); err != nil {
					return fmt.Errorf("element %s: %w", quote(elem), err)
				}
				pending = true
				continue
			}
			iv, err := parseInterval(f)
			if err != nil {
				return fmt.Errorf("element %s: %w", quote(elem), err)
			}
			s.entry(sid, tag).addInterval(iv)
			pending = false
		}
		if pending {
			return fmt.Errorf("element %s: tag %s has no interval", quote(elem), quote(tag))
		}
	}
	return nil
}

func parseInterval(f string) (interval, error) {
	a, b, isRange := strings.Cut(f, "-")
	start, err := parseGNO(a)
	if err != nil {
		return interval{}, fmt.Errorf("interval %s: %w", quote(f), err)
	}
	stop := start
	if isRange {
		if stop, err = parseGNO(b); err != nil {
			return interval{}, fmt.Errorf("interval %s: %w", quote(f), err)
		}
		if stop < start {
			return interval{}, fmt.Errorf("interval %s ends before it starts", quote(f))
		}
	}
	return interval{start, stop + 1}, nil
}

// Flavor returns the set's flavor, "" for a zero Set nothing was added to.
func (s *Set) Flavor() Flavor {
	if s == nil {
		return ""
	}
	return s.flavor
}

// IsEmpty reports whether the set holds no GTID. A nil *Set is empty.
func (s *Set) IsEmpty() bool {
	return s == nil || (len(s.maria) == 0 && len(s.mysql) == 0)
}

// Err reports the first misuse of AddMariaDB or AddMySQL (a GTID of the
// other flavor, or a MySQL number out of range). Those calls return nothing
// so as to stay cheap in the binlog puller's loop; check Err before trusting
// the set, e.g. each time it is saved.
func (s *Set) Err() error {
	if s == nil {
		return nil
	}
	return s.err
}

// adopt lets a zero Set take its flavor from the first GTID added and
// reports whether a GTID of flavor f may be added.
func (s *Set) adopt(f Flavor) bool {
	if s.flavor == f {
		return true
	}
	if s.flavor == "" {
		s.flavor = f
		return true
	}
	return false
}

// Add adds g: for MariaDB it becomes the domain's position, replacing the
// previous one even when its seq is lower (the set follows the binlog, as
// @@gtid_binlog_pos does); for MySQL its number joins the source's
// intervals. It refuses a GTID of the other flavor.
func (s *Set) Add(g GTID) error {
	if g.Flavor != MariaDB && g.Flavor != MySQL {
		return fmt.Errorf("cannot add gtid %s: no flavor", quote(g.String()))
	}
	if !s.adopt(g.Flavor) {
		return fmt.Errorf("cannot add %s gtid %s to a %s gtid set", g.Flavor, g.String(), s.flavor)
	}
	if g.Flavor == MariaDB {
		s.AddMariaDB(g.Domain, g.ServerID, g.Seq)
		return nil
	}
	if g.GNO < 1 || g.GNO > maxGNO {
		return fmt.Errorf("cannot add gtid %s: transaction number out of range", g.String())
	}
	if g.Tag != "" {
		tag, err := parseTag(g.Tag)
		if err != nil {
			return fmt.Errorf("cannot add gtid %s: %w", quote(g.String()), err)
		}
		s.entry(g.SID, tag).addGNO(g.GNO)
		return nil
	}
	s.AddMySQL(g.SID, g.GNO)
	return nil
}

// AddMariaDB is Add for the binlog puller's loop: it records
// domain-serverID-seq as the domain's position without allocating once the
// domain is known. On a MySQL set it does nothing and records the misuse
// for Err.
func (s *Set) AddMariaDB(domain, serverID uint32, seq uint64) {
	if !s.adopt(MariaDB) {
		s.misuse(fmt.Errorf("cannot add mariadb gtid %d-%d-%d to a %s gtid set", domain, serverID, seq, s.flavor))
		return
	}
	i, ok := s.mariaFind(domain)
	if ok {
		s.maria[i].server, s.maria[i].seq = serverID, seq
		return
	}
	s.maria = slices.Insert(s.maria, i, mariaEntry{domain, serverID, seq})
}

// mariaFind returns where domain is, or where it would be inserted. Sites
// use a handful of domains, so a linear scan beats a map here.
func (s *Set) mariaFind(domain uint32) (int, bool) {
	for i := range s.maria {
		if s.maria[i].domain >= domain {
			return i, s.maria[i].domain == domain
		}
	}
	return len(s.maria), false
}

// AddMySQL is Add for the binlog puller's loop: it adds the untagged GTID
// sid:gno. In the usual case (the next number from the same source as the
// previous call) it only extends an interval. On a MariaDB set, or with gno
// out of range, it does nothing and records the misuse for Err.
func (s *Set) AddMySQL(sid [16]byte, gno int64) {
	if !s.adopt(MySQL) {
		s.misuse(fmt.Errorf("cannot add mysql gtid %s:%d to a %s gtid set", FormatUUID(sid), gno, s.flavor))
		return
	}
	if gno < 1 || gno > maxGNO {
		s.misuse(fmt.Errorf("cannot add mysql gtid %s:%d: transaction number out of range", FormatUUID(sid), gno))
		return
	}
	if s.hit < len(s.mysql) && s.mysql[s.hit].sid == sid && s.mysql[s.hit].tag == "" {
		s.mysql[s.hit].addGNO(gno)
		return
	}
	s.entry(sid, "").addGNO(gno)
}

func (s *Set) misuse(err error) {
	if s.err == nil {
		s.err = err
	}
}

func compareKey(e *sidEntry, sid [16]byte, tag string) int {
	if c := bytes.Compare(e.sid[:], sid[:]); c != 0 {
		return c
	}
	return strings.Compare(e.tag, tag)
}

// find returns where (sid, tag) is in s.mysql, or where it would go.
func (s *Set) find(sid [16]byte, tag string) (int, bool) {
	lo, hi := 0, len(s.mysql)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareKey(&s.mysql[m], sid, tag) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(s.mysql) && compareKey(&s.mysql[lo], sid, tag) == 0
}

// entry returns the intervals of (sid, tag), creating them if needed, and
// remembers the index for the next AddMySQL.
func (s *Set) entry(sid [16]byte, tag string) *sidEntry {
	i, ok := s.find(sid, tag)
	if !ok {
		s.mysql = slices.Insert(s.mysql, i, sidEntry{sid: sid, tag: tag})
	}
	s.hit = i
	return &s.mysql[i]
}

// addGNO adds one transaction number, extending a neighbouring interval
// where it can so that a stream of consecutive numbers stays one interval.
func (e *sidEntry) addGNO(gno int64) {
	iv := e.iv
	n := len(iv)
	if n > 0 {
		last := &iv[n-1]
		if last.stop == gno {
			last.stop++
			return
		}
		if gno > last.stop {
			e.iv = append(iv, interval{gno, gno + 1})
			return
		}
	}
	// First interval that ends at or after gno: gno is inside it, just past
	// it, just before it or in the gap before it.
	i, _ := slices.BinarySearchFunc(iv, gno, func(x interval, g int64) int {
		if x.stop < g {
			return -1
		}
		return 1
	})
	if i < n {
		x := &iv[i]
		switch {
		case x.start <= gno && gno < x.stop:
			return
		case x.stop == gno:
			x.stop++
			if i+1 < n && iv[i+1].start == x.stop {
				x.stop = iv[i+1].stop
				e.iv = slices.Delete(iv, i+1, i+2)
			}
			return
		case x.start == gno+1:
			x.start = gno
			return
		}
	}
	e.iv = slices.Insert(iv, i, interval{gno, gno + 1})
}

// addInterval adds a parsed interval and keeps the list sorted and merged.
func (e *sidEntry) addInterval(x interval) {
	e.iv = append(e.iv, x)
	if len(e.iv) > 1 && e.iv[len(e.iv)-2].stop < x.start {
		return // in order and apart: the common case when parsing
	}
	slices.SortFunc(e.iv, func(a, b interval) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	out := e.iv[:1]
	for _, y := range e.iv[1:] {
		last := &out[len(out)-1]
		if y.start <= last.stop {
			last.stop = max(last.stop, y.stop)
			continue
		}
		out = append(out, y)
	}
	e.iv = out
}

// contains reports whether [start, stop) lies within one interval.
func (e *sidEntry) contains(start, stop int64) bool {
	i, _ := slices.BinarySearchFunc(e.iv, start, func(x interval, g int64) int {
		if x.stop <= g {
			return -1
		}
		return 1
	})
	return i < len(e.iv) && e.iv[i].start <= start && stop <= e.iv[i].stop
}

// Contains reports whether g is in the set. For MariaDB that means the
// set's seq for g's domain is at least g's. A GTID of the other flavor is
// never contained.
func (s *Set) Contains(g GTID) bool {
	if s == nil || g.Flavor != s.flavor {
		return false
	}
	switch g.Flavor {
	case MariaDB:
		i, ok := s.mariaFind(g.Domain)
		return ok && s.maria[i].seq >= g.Seq
	case MySQL:
		i, ok := s.find(g.SID, strings.ToLower(g.Tag))
		return ok && g.GNO >= 1 && g.GNO <= maxGNO && s.mysql[i].contains(g.GNO, g.GNO+1)
	}
	return false
}

// ContainsSet reports whether every GTID of o is in s (for MariaDB: every
// domain of o is in s at a seq at least o's). Every set contains the empty
// set; a non-empty set of the other flavor is never contained.
func (s *Set) ContainsSet(o *Set) bool {
	if o.IsEmpty() {
		return true
	}
	if s.IsEmpty() || s.flavor != o.flavor {
		return false
	}
	for _, m := range o.maria {
		i, ok := s.mariaFind(m.domain)
		if !ok || s.maria[i].seq < m.seq {
			return false
		}
	}
	for _, e := range o.mysql {
		i, ok := s.find(e.sid, e.tag)
		if !ok {
			return false
		}
		for _, x := range e.iv {
			if !s.mysql[i].contains(x.start, x.stop) {
				return false
			}
		}
	}
	return true
}

// Equal reports whether s and o hold the same GTIDs; for MariaDB the
// server ids must match too. All empty sets are equal, whatever their
// flavor.
func (s *Set) Equal(o *Set) bool {
	if s.IsEmpty() || o.IsEmpty() {
		return s.IsEmpty() && o.IsEmpty()
	}
	if s.flavor != o.flavor || len(s.maria) != len(o.maria) || len(s.mysql) != len(o.mysql) {
		return false
	}
	if !slices.Equal(s.maria, o.maria) {
		return false
	}
	for i := range s.mysql {
		a, b := &s.mysql[i], &o.mysql[i]
		if a.sid != b.sid || a.tag != b.tag || !slices.Equal(a.iv, b.iv) {
			return false
		}
	}
	return true
}

// Clone returns an independent copy of s (a nil s gives an empty set).
func (s *Set) Clone() *Set {
	if s == nil {
		return &Set{}
	}
	c := &Set{flavor: s.flavor, err: s.err, maria: slices.Clone(s.maria)}
	if s.mysql != nil {
		c.mysql = make([]sidEntry, len(s.mysql))
		for i, e := range s.mysql {
			c.mysql[i] = sidEntry{sid: e.sid, tag: e.tag, iv: slices.Clone(e.iv)}
		}
	}
	return c
}

// String returns the canonical form: MariaDB GTIDs sorted by domain and
// joined by commas; MySQL sources sorted by uuid, lower-case, each with its
// merged intervals, untagged first and then tags in order, as in
// "uuid:1-5:7:tag:1-3,uuid2:4". The empty set is "".
func (s *Set) String() string {
	if s.IsEmpty() {
		return ""
	}
	var b strings.Builder
	for i, m := range s.maria {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(m.domain), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(m.server), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(m.seq, 10))
	}
	for i := range s.mysql {
		e := &s.mysql[i]
		if i == 0 || s.mysql[i-1].sid != e.sid {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			formatUUID(&b, e.sid)
		}
		if e.tag != "" {
			b.WriteByte(':')
			b.WriteString(e.tag)
		}
		for _, x := range e.iv {
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(x.start, 10))
			if x.stop-1 != x.start {
				b.WriteByte('-')
				b.WriteString(strconv.FormatInt(x.stop-1, 10))
			}
		}
	}
	return b.String()
}
