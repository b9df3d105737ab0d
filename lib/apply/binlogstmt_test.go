package apply

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dr-mysql/dr/lib/binlogdir"
)

func TestBinlogSQLEndsTheStatement(t *testing.T) {
	// A rows event: header, table id, flags 0, a body, its CRC32.
	ev := make([]byte, binlogdir.HeaderSize+6+2+5)
	binary.LittleEndian.PutUint32(ev[9:], uint32(len(ev)+4))
	copy(ev[binlogdir.HeaderSize+8:], "bodyx")
	ev = binary.LittleEndian.AppendUint32(ev, crc32.ChecksumIEEE(ev))
	tm := []byte("table map event bytes")
	c := Change{Rows: &replication.RowsEvent{Flags: 0}, Raw: ev, Map: tm}

	s, err := BinlogSQL(&Format{Alg: binlogdir.ChecksumCRC32}, c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "BINLOG '") || !strings.HasSuffix(s, "'") {
		t.Fatalf("not a BINLOG statement: %s", s)
	}
	b, err := base64.StdEncoding.DecodeString(s[len("BINLOG '") : len(s)-1])
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:len(tm)]) != string(tm) {
		t.Errorf("the table map does not come first")
	}
	got := b[len(tm):]
	if f := binary.LittleEndian.Uint16(got[binlogdir.HeaderSize+6:]); f != stmtEndFlag {
		t.Errorf("flags %#x, want the statement's end", f)
	}
	if err := binlogdir.VerifyChecksum(got, binlogdir.ChecksumCRC32); err != nil {
		t.Errorf("checksum after the change: %v", err)
	}
	if ev[binlogdir.HeaderSize+6] != 0 {
		t.Errorf("the event the decoder holds was changed")
	}

	// Flags that are not where the parser found them: refused.
	c.Rows.Flags = 4
	if _, err := BinlogSQL(&Format{Alg: binlogdir.ChecksumCRC32}, c); err == nil {
		t.Errorf("flags in the wrong place: no error")
	}
	if _, err := BinlogSQL(&Format{}, Change{Rows: c.Rows, Raw: ev}); err == nil {
		t.Errorf("no table map: no error")
	}
}
