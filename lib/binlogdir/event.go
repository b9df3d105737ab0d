// Package binlogdir is the on-disk binlog directory that dr-binlog-pull
// writes and dr-replay reads: files byte-identical to the source's binlog
// files plus one small JSON state file naming the last durable
// transaction boundary. This file holds the little of the binlog format
// the directory itself must understand: event headers, checksums, the
// few event bodies that carry positions and GTIDs, and where
// transactions end.
package binlogdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/dr-mysql/dr/lib/position"
)

// Magic starts every binlog file.
const Magic = "\xfebin"

// HeaderSize is the size of a v4 event header.
const HeaderSize = 19

// Event types this package looks at (the numbering is the server's).
const (
	QueryEvent             = 2
	StopEvent              = 3
	RotateEvent            = 4
	IntvarEvent            = 5
	RandEvent              = 13
	UserVarEvent           = 14
	FormatDescriptionEvent = 15
	XIDEvent               = 16
	HeartbeatEvent         = 27
	GTIDEvent              = 33 // MySQL
	AnonymousGTIDEvent     = 34 // MySQL
	PreviousGTIDsEvent     = 35 // MySQL
	XAPrepareEvent         = 38
	TransactionPayload     = 40 // MySQL 8 binlog transaction compression
	HeartbeatEventV2       = 41
	GTIDTaggedEvent        = 42 // MySQL 8.4 tagged GTIDs
	MariaDBAnnotateRows    = 160
	MariaDBCheckpoint      = 161
	MariaDBGTIDEvent       = 162
	MariaDBGTIDListEvent   = 163
	MariaDBQueryCompressed = 165
)

// Header flags.
const (
	FlagInUse      = 0x0001 // LOG_EVENT_BINLOG_IN_USE_F, on the FORMAT_DESCRIPTION of a file being written
	FlagArtificial = 0x0020 // LOG_EVENT_ARTIFICIAL_F, events the server makes up for the stream
)

// InUseFlagOffset is the file offset of the low byte of the first
// FORMAT_DESCRIPTION event's flags: magic (4) + flags' offset in the header (17).
const InUseFlagOffset = len(Magic) + 17

// Checksum algorithms as FORMAT_DESCRIPTION announces them.
const (
	ChecksumOff   = 0
	ChecksumCRC32 = 1
)

// Header is a decoded v4 event header.
type Header struct {
	Timestamp uint32
	Type      byte
	ServerID  uint32
	Size      uint32
	LogPos    uint32 // end position of the event in its file (mod 2^32)
	Flags     uint16
}

// ErrShort means the bytes end before the event does.
var ErrShort = errors.New("event is truncated")

// ParseHeader decodes the header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	h := Header{
		Timestamp: binary.LittleEndian.Uint32(b[0:]),
		Type:      b[4],
		ServerID:  binary.LittleEndian.Uint32(b[5:]),
		Size:      binary.LittleEndian.Uint32(b[9:]),
		LogPos:    binary.LittleEndian.Uint32(b[13:]),
		Flags:     binary.LittleEndian.Uint16(b[17:]),
	}
	if h.Size < HeaderSize {
		return h, fmt.Errorf("event size %d is smaller than its header", h.Size)
	}
	return h, nil
}

// Artificial reports whether the server made the event up for the stream
// (the fake ROTATE at the start of a dump, a FORMAT_DESCRIPTION resent
// mid-file, heartbeats): such events are not in the source's file.
func (h Header) Artificial() bool {
	return h.Flags&FlagArtificial != 0 || h.LogPos == 0 ||
		h.Type == HeartbeatEvent || h.Type == HeartbeatEventV2
}

var crcTable = crc32.MakeTable(crc32.IEEE)

// VerifyChecksum checks the CRC32 that ends ev when the file's checksum
// algorithm is CRC32. The FORMAT_DESCRIPTION event's own checksum is
// computed as if its in-use flag were clear, so the server can clear the
// flag in place when it closes a file.
func VerifyChecksum(ev []byte, alg byte) error {
	if alg != ChecksumCRC32 {
		return nil
	}
	if len(ev) < HeaderSize+4 {
		return ErrShort
	}
	body := ev[:len(ev)-4]
	want := binary.LittleEndian.Uint32(ev[len(ev)-4:])
	var got uint32
	if ev[4] == FormatDescriptionEvent && ev[17]&FlagInUse != 0 {
		got = crc32.Update(0, crcTable, ev[:17])
		got = crc32.Update(got, crcTable, []byte{ev[17] &^ FlagInUse})
		got = crc32.Update(got, crcTable, body[18:])
	} else {
		got = crc32.Update(0, crcTable, body)
	}
	if got != want {
		return fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	return nil
}

// FormatDescription is what this package needs of a FORMAT_DESCRIPTION event.
type FormatDescription struct {
	Timestamp     uint32 // of the event's header: when the source started the file
	BinlogVersion uint16
	ServerVersion string
	Created       uint32
	ChecksumAlg   byte
}

// ParseFormatDescription decodes a whole FORMAT_DESCRIPTION event.
func ParseFormatDescription(ev []byte) (FormatDescription, error) {
	// body: binlog version (2), server version (50), create time (4),
	// header length (1), post-header lengths, checksum algorithm (1), crc (4)
	const fixed = 2 + 50 + 4 + 1
	if len(ev) < HeaderSize+fixed+5 {
		return FormatDescription{}, fmt.Errorf("format description event of %d bytes is too short", len(ev))
	}
	b := ev[HeaderSize:]
	fd := FormatDescription{
		Timestamp:     binary.LittleEndian.Uint32(ev),
		BinlogVersion: binary.LittleEndian.Uint16(b),
		Created:       binary.LittleEndian.Uint32(b[52:]),
	}
	v := b[2:52]
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	fd.ServerVersion = string(v)
	if fd.BinlogVersion != 4 {
		return fd, fmt.Errorf("binlog format version %d is not supported (only 4)", fd.BinlogVersion)
	}
	if int(b[56]) != HeaderSize {
		return fd, fmt.Errorf("event header length %d is not supported (only %d)", b[56], HeaderSize)
	}
	// Every server that writes checksummed binlogs (MySQL 5.6.1+, MariaDB
	// 5.3+) ends FORMAT_DESCRIPTION with the algorithm byte and 4 bytes of
	// checksum, whatever the algorithm.
	fd.ChecksumAlg = ev[len(ev)-5]
	if fd.ChecksumAlg != ChecksumOff && fd.ChecksumAlg != ChecksumCRC32 {
		return fd, fmt.Errorf("unknown binlog checksum algorithm %d", fd.ChecksumAlg)
	}
	return fd, nil
}

// Body returns the event's body without header and checksum.
func Body(ev []byte, alg byte) []byte {
	end := len(ev)
	if alg == ChecksumCRC32 && end >= HeaderSize+4 {
		end -= 4
	}
	return ev[HeaderSize:end]
}

// ParseRotate returns the next file's name and position from a ROTATE event body.
func ParseRotate(body []byte) (string, uint64, error) {
	if len(body) < 8 {
		return "", 0, fmt.Errorf("rotate event body of %d bytes is too short", len(body))
	}
	return string(body[8:]), binary.LittleEndian.Uint64(body), nil
}

// queryText returns the statement of a QUERY event body.
func queryText(body []byte) ([]byte, bool) {
	// post-header: thread id (4), exec time (4), db length (1), error (2), status vars length (2)
	if len(body) < 13 {
		return nil, false
	}
	dbLen := int(body[8])
	svLen := int(binary.LittleEndian.Uint16(body[11:]))
	start := 13 + svLen + dbLen + 1
	if start > len(body) {
		return nil, false
	}
	return body[start:], true
}

const mariaDBStandalone = 0x01 // FL_STANDALONE: the group has no terminating COMMIT

// Trx follows the events of a binlog and says where transactions end, so
// that writers can make durable, and readers stop at, whole transactions
// only. It also collects the GTID of each transaction.
type Trx struct {
	state   int // idle, afterGTID (a statement or BEGIN comes next), inTrx (until COMMIT/XID)
	GTID    position.GTID
	HasGTID bool
}

const (
	trxIdle = iota
	trxAfterGTID
	trxOpen
)

// Observe feeds one whole event (header, body and checksum) and reports
// whether a transaction boundary follows it. ended is true when a
// transaction (with its GTID in t.GTID when HasGTID) just committed.
func (t *Trx) Observe(h Header, ev []byte, alg byte) (boundary, ended bool) {
	switch h.Type {
	case MariaDBGTIDEvent:
		b := Body(ev, alg)
		t.HasGTID = len(b) >= 13
		if t.HasGTID {
			t.GTID = position.MariaDBGTID(binary.LittleEndian.Uint32(b[8:]), h.ServerID, binary.LittleEndian.Uint64(b))
		}
		if t.HasGTID && b[12]&mariaDBStandalone == 0 {
			t.state = trxOpen
		} else {
			t.state = trxAfterGTID
		}
		return false, false
	case GTIDEvent, GTIDTaggedEvent, AnonymousGTIDEvent:
		b := Body(ev, alg)
		t.HasGTID = false
		if h.Type == GTIDEvent && len(b) >= 25 {
			var sid [16]byte
			copy(sid[:], b[1:17])
			t.HasGTID = true
			t.GTID = position.MySQLGTID(sid, int64(binary.LittleEndian.Uint64(b[17:])))
		}
		t.state = trxAfterGTID
		return false, false
	case QueryEvent, MariaDBQueryCompressed:
		q, ok := []byte(nil), false
		if h.Type == QueryEvent {
			q, ok = queryText(Body(ev, alg))
		}
		q = bytes.TrimSpace(q)
		switch {
		case ok && bytes.EqualFold(q, []byte("BEGIN")):
			t.state = trxOpen
			return false, false
		case t.state == trxOpen && ok && (bytes.EqualFold(q, []byte("COMMIT")) || bytes.EqualFold(q, []byte("ROLLBACK"))):
			return t.end()
		case t.state == trxOpen:
			return false, false
		default: // a statement on its own (DDL), with or without a GTID before it
			return t.end()
		}
	case XIDEvent, XAPrepareEvent, TransactionPayload:
		return t.end()
	case IntvarEvent, RandEvent, UserVarEvent, MariaDBAnnotateRows:
		// context for the statement that follows
		return false, false
	}
	if t.state == trxIdle {
		return true, false
	}
	return false, false
}

func (t *Trx) end() (bool, bool) {
	had := t.state != trxIdle
	t.state = trxIdle
	return true, had
}

// InTransaction reports whether the events seen so far end inside a transaction.
func (t *Trx) InTransaction() bool { return t.state != trxIdle }
