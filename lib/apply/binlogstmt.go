package apply

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/dr-mysql/dr/lib/binlogdir"
)

// BINLOG statements hand binlog events to the target's own row applier,
// the one replication uses, as mariadb-binlog's output does. dr-replay
// uses them only for tables with triggers on the target: the applier
// does not fire triggers, and the rows the triggers wrote on the source
// are in the binlog already. They need the SUPER or BINLOG REPLAY
// privilege.

// stmtEndFlag marks the last rows event of a statement: the applier
// then ends the statement (closes its tables, runs its checks).
const stmtEndFlag = 0x0001

// FormatSQL is the BINLOG statement of a file's format description,
// which a session needs before the file's rows events.
func FormatSQL(f *Format) string { return binlogStmt(f.Raw) }

// BinlogSQL is a BINLOG statement that applies the rows event of c, with
// its table map, as a statement of its own: the event is marked as the
// end of a statement (and its checksum recomputed), so that each such
// statement stands alone whatever came before or after it.
func BinlogSQL(f *Format, c Change) (string, error) {
	if c.Rows == nil || len(c.Raw) == 0 || len(c.Map) == 0 {
		return "", fmt.Errorf("rows event at %d: no table map before it", c.Pos)
	}
	// The post-header: a 6-byte table id, then the 2-byte flags.
	const flagsAt = binlogdir.HeaderSize + 6
	ev := append([]byte(nil), c.Raw...)
	if len(ev) < flagsAt+2 || binary.LittleEndian.Uint16(ev[flagsAt:]) != c.Rows.Flags {
		return "", fmt.Errorf("rows event at %d: flags not where expected", c.Pos)
	}
	binary.LittleEndian.PutUint16(ev[flagsAt:], c.Rows.Flags|stmtEndFlag)
	if f.Alg == binlogdir.ChecksumCRC32 {
		n := len(ev) - 4
		binary.LittleEndian.PutUint32(ev[n:], crc32.ChecksumIEEE(ev[:n]))
	}
	return binlogStmt(append(append([]byte(nil), c.Map...), ev...)), nil
}

func binlogStmt(events []byte) string {
	return "BINLOG '" + base64.StdEncoding.EncodeToString(events) + "'"
}
