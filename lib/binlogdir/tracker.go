package binlogdir

import (
	"encoding/binary"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dr-mysql/dr/lib/position"
)

// Tracker follows the events of a directory's files in order and keeps
// where the last transaction ended and the GTID set of all transactions
// that ended, seeded by each file's GTID list (MariaDB GTID_LIST, MySQL
// PREVIOUS_GTIDS).
type Tracker struct {
	Trx
	Set *position.Set
	Alg byte // checksum algorithm of the current file
}

// NewTracker starts a tracker from a known set (which it then owns).
func NewTracker(set *position.Set) *Tracker { return &Tracker{Set: set} }

// Observe feeds one whole event and reports whether a transaction
// boundary follows it.
func (t *Tracker) Observe(h Header, ev []byte) bool {
	switch h.Type {
	case FormatDescriptionEvent:
		if fd, err := ParseFormatDescription(ev); err == nil {
			t.Alg = fd.ChecksumAlg
		}
	case MariaDBGTIDListEvent:
		b := Body(ev, t.Alg)
		if len(b) >= 4 {
			n := int(binary.LittleEndian.Uint32(b) & (1<<28 - 1))
			// The list is the binlog state: the last GTID of every
			// (domain, server) pair, in no promised order. A domain's
			// position is the furthest of them, whichever is listed last.
			for i := 0; i < n && 4+16*(i+1) <= len(b); i++ {
				e := b[4+16*i:]
				g := position.MariaDBGTID(binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint64(e[8:]))
				if !t.Set.Contains(g) {
					t.Set.AddMariaDB(g.Domain, g.ServerID, g.Seq)
				}
			}
		}
	case PreviousGTIDsEvent:
		var pe replication.PreviousGTIDsEvent
		if err := pe.Decode(Body(ev, t.Alg)); err == nil {
			if prev, err := position.ParseSet(position.MySQL, pe.GTIDSets); err == nil {
				t.Set.Union(prev)
			}
		}
	}
	boundary, ended := t.Trx.Observe(h, ev, t.Alg)
	if ended && t.HasGTID {
		if t.GTID.Flavor == position.MariaDB {
			t.Set.AddMariaDB(t.GTID.Domain, t.GTID.ServerID, t.GTID.Seq)
		} else {
			t.Set.AddMySQL(t.GTID.SID, t.GTID.GNO)
		}
	}
	return boundary
}
