package binlogdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	// The FORMAT_DESCRIPTION header of mysql-bin.000001: mariadb-binlog
	// --hexdump shows "70 80 01 6b |0f |07 00 00 00 |fc 00 00 00 |00 01 00 00 |00 00".
	fde := readTestdata(t, "mysql-bin.000001")[4 : 4+HeaderSize]
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantErr string
		short   bool
	}{
		{name: "real fde", in: fde, want: Header{Timestamp: 0x6b018070, Type: FormatDescriptionEvent, ServerID: 7, Size: 252, LogPos: 256}},
		{name: "empty", in: nil, short: true},
		{name: "18 bytes", in: fde[:18], short: true},
		{name: "longer input", in: append(append([]byte(nil), fde...), 1, 2, 3), want: Header{Timestamp: 0x6b018070, Type: FormatDescriptionEvent, ServerID: 7, Size: 252, LogPos: 256}},
		{name: "all fields", in: []byte{1, 2, 3, 4, 0xa2, 5, 6, 7, 8, 19, 0, 0, 0, 9, 10, 11, 12, 0x21, 0x80},
			want: Header{Timestamp: 0x04030201, Type: 0xa2, ServerID: 0x08070605, Size: 19, LogPos: 0x0c0b0a09, Flags: 0x8021}},
		{name: "size 18", in: []byte{0, 0, 0, 0, 2, 0, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: "smaller than its header"},
		{name: "size 0", in: make([]byte, 19), wantErr: "smaller than its header"},
		{name: "size max", in: []byte{0, 0, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0},
			want: Header{Type: 2, Size: 0xffffffff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.in)
			switch {
			case tt.short:
				if !errors.Is(err, ErrShort) {
					t.Fatalf("err = %v, want ErrShort", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if h != tt.want {
					t.Fatalf("got %+v, want %+v", h, tt.want)
				}
			}
		})
	}
}

func TestArtificial(t *testing.T) {
	tests := []struct {
		h    Header
		want bool
	}{
		{Header{Type: QueryEvent, LogPos: 100}, false},
		{Header{Type: RotateEvent, LogPos: 0}, true},
		{Header{Type: RotateEvent, LogPos: 100, Flags: FlagArtificial}, true},
		{Header{Type: FormatDescriptionEvent, LogPos: 256, Flags: FlagInUse}, false},
		{Header{Type: HeartbeatEvent, LogPos: 100}, true},
		{Header{Type: HeartbeatEventV2, LogPos: 100}, true},
		{Header{Type: XIDEvent, LogPos: 100, Flags: 0x0008}, false},
	}
	for _, tt := range tests {
		if got := tt.h.Artificial(); got != tt.want {
			t.Errorf("%+v.Artificial() = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestVerifyChecksumRealEvents(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			for _, ev := range splitEvents(t, readTestdata(t, fi.name)) {
				if err := VerifyChecksum(ev.b, fi.alg); err != nil {
					t.Errorf("event at %d: %v", ev.off, err)
				}
				if fi.alg != ChecksumCRC32 {
					continue
				}
				// Every single flipped bit is caught.
				for i := range ev.b {
					if ev.b[4] == FormatDescriptionEvent && i == 17 {
						continue // the in-use flag is outside the checksum
					}
					bad := append([]byte(nil), ev.b...)
					bad[i] ^= 0x10
					if VerifyChecksum(bad, fi.alg) == nil {
						t.Fatalf("event at %d: byte %d flipped, checksum still verifies", ev.off, i)
					}
				}
			}
		})
	}
}

func TestVerifyChecksumInUseFlag(t *testing.T) {
	// A closed file's FORMAT_DESCRIPTION with the flag set by hand, as the
	// server has it while it writes the file.
	closed := splitEvents(t, readTestdata(t, "mysql-bin.000001"))[0].b
	if closed[17]&FlagInUse != 0 {
		t.Fatal("closed file has the in-use flag")
	}
	set := append([]byte(nil), closed...)
	set[17] |= FlagInUse
	if err := VerifyChecksum(set, ChecksumCRC32); err != nil {
		t.Errorf("closed FDE with the in-use flag set by hand: %v", err)
	}
	// The real thing: copied from a running server.
	active := splitEvents(t, readTestdata(t, "mysql-bin.000003.inuse"))[0].b
	if active[17]&FlagInUse == 0 {
		t.Fatal("active file's FDE lacks the in-use flag")
	}
	if err := VerifyChecksum(active, ChecksumCRC32); err != nil {
		t.Errorf("FDE of an active file: %v", err)
	}
	cleared := append([]byte(nil), active...)
	cleared[17] &^= FlagInUse
	if err := VerifyChecksum(cleared, ChecksumCRC32); err != nil {
		t.Errorf("FDE of an active file with the flag cleared: %v", err)
	}
	// Other flag bits are covered by the checksum.
	other := append([]byte(nil), active...)
	other[17] ^= 0x02
	if VerifyChecksum(other, ChecksumCRC32) == nil {
		t.Error("flag 0x02 flipped on FDE: checksum still verifies")
	}
	other = append([]byte(nil), active...)
	other[18] ^= 0x01
	if VerifyChecksum(other, ChecksumCRC32) == nil {
		t.Error("high flag byte flipped on FDE: checksum still verifies")
	}
	// The exemption is for FORMAT_DESCRIPTION only.
	q := mkEvent(QueryEvent, 7, 100, 0, queryBody("db", "BEGIN"), ChecksumCRC32)
	if err := VerifyChecksum(q, ChecksumCRC32); err != nil {
		t.Fatal(err)
	}
	q[17] |= FlagInUse
	if VerifyChecksum(q, ChecksumCRC32) == nil {
		t.Error("flag 0x01 flipped on a QUERY event: checksum still verifies")
	}
}

func TestVerifyChecksumEdges(t *testing.T) {
	if err := VerifyChecksum(nil, ChecksumOff); err != nil {
		t.Errorf("alg off: %v", err)
	}
	if err := VerifyChecksum([]byte{1, 2, 3}, 7); err != nil {
		t.Errorf("unknown alg is not checked: %v", err)
	}
	if err := VerifyChecksum(make([]byte, HeaderSize+3), ChecksumCRC32); !errors.Is(err, ErrShort) {
		t.Errorf("22 bytes: %v, want ErrShort", err)
	}
	ev := mkEvent(XIDEvent, 1, 50, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8}, ChecksumCRC32)
	if err := VerifyChecksum(ev, ChecksumCRC32); err != nil {
		t.Error(err)
	}
	ev[len(ev)-1] ^= 1
	if err := VerifyChecksum(ev, ChecksumCRC32); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("bad crc: %v", err)
	}
}

func TestParseFormatDescriptionReal(t *testing.T) {
	for _, fi := range testFiles {
		t.Run(fi.name, func(t *testing.T) {
			data := readTestdata(t, fi.name)
			ev := splitEvents(t, data)[0].b
			fd, err := ParseFormatDescription(ev)
			if err != nil {
				t.Fatal(err)
			}
			if fd.BinlogVersion != 4 || fd.ServerVersion != "10.11.19-MariaDB-0+deb12u1-log" || fd.ChecksumAlg != fi.alg {
				t.Errorf("got %+v", fd)
			}
			if fd.Timestamp != binary.LittleEndian.Uint32(ev) {
				t.Errorf("Timestamp %d, want the header's", fd.Timestamp)
			}
		})
	}
	// "created ... at startup" in mariadb-binlog: Created is set on the
	// first file after a start and 0 on a file opened by FLUSH BINARY LOGS.
	fd1, _ := ParseFormatDescription(splitEvents(t, readTestdata(t, "mysql-bin.000001"))[0].b)
	fd2, _ := ParseFormatDescription(splitEvents(t, readTestdata(t, "mysql-bin.000002"))[0].b)
	if fd1.Created != fd1.Timestamp {
		t.Errorf("000001 Created %d, want %d", fd1.Created, fd1.Timestamp)
	}
	if fd2.Created != 0 {
		t.Errorf("000002 Created %d, want 0", fd2.Created)
	}
}

func TestParseFormatDescriptionErrors(t *testing.T) {
	good := splitEvents(t, readTestdata(t, "mysql-bin.000001"))[0].b
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		ev   []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"header only", good[:HeaderSize], "too short"},
		{"one short of minimum", good[:HeaderSize+57+4], "too short"},
		{"binlog v3", mod(func(b []byte) { b[HeaderSize] = 3 }), "binlog format version 3"},
		{"header length 13", mod(func(b []byte) { b[HeaderSize+56] = 13 }), "event header length 13"},
		{"unknown alg", mod(func(b []byte) { b[len(b)-5] = 2 }), "unknown binlog checksum algorithm 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFormatDescription(tt.ev)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// The minimum length is accepted (the algorithm byte and 4 bytes).
	min := append(append([]byte(nil), good[:HeaderSize+57]...), ChecksumOff, 0, 0, 0, 0)
	if fd, err := ParseFormatDescription(min); err != nil || fd.ChecksumAlg != ChecksumOff {
		t.Errorf("minimal FDE: %+v, %v", fd, err)
	}
	// A server version filling all 50 bytes, without a NUL.
	full := mod(func(b []byte) { copy(b[HeaderSize+2:HeaderSize+52], bytes.Repeat([]byte("x"), 50)) })
	if fd, err := ParseFormatDescription(full); err != nil || fd.ServerVersion != strings.Repeat("x", 50) {
		t.Errorf("50-byte version: %q, %v", fd.ServerVersion, err)
	}
}

func TestBody(t *testing.T) {
	ev := mkEvent(XIDEvent, 1, 50, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8}, ChecksumCRC32)
	if got := Body(ev, ChecksumCRC32); !bytes.Equal(got, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("crc32: %v", got)
	}
	ev = mkEvent(XIDEvent, 1, 50, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8}, ChecksumOff)
	if got := Body(ev, ChecksumOff); !bytes.Equal(got, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("off: %v", got)
	}
	// A bare header with CRC32 announced: too short to hold one, no panic.
	if got := Body(make([]byte, HeaderSize), ChecksumCRC32); len(got) != 0 {
		t.Errorf("bare header: %v", got)
	}
}

func TestParseRotate(t *testing.T) {
	evs := splitEvents(t, readTestdata(t, "mysql-bin.000001"))
	rot := evs[len(evs)-1].b
	if rot[4] != RotateEvent {
		t.Fatalf("last event of mysql-bin.000001 has type %d", rot[4])
	}
	// mariadb-binlog: "Rotate to mysql-bin.000002  pos: 4"
	name, pos, err := ParseRotate(Body(rot, ChecksumCRC32))
	if err != nil || name != "mysql-bin.000002" || pos != 4 {
		t.Errorf("got %q %d %v", name, pos, err)
	}
	tests := []struct {
		body    []byte
		name    string
		pos     uint64
		wantErr bool
	}{
		{nil, "", 0, true},
		{make([]byte, 7), "", 0, true},
		{[]byte{4, 0, 0, 0, 0, 0, 0, 0}, "", 4, false},
		{append([]byte{0x10, 0x27, 0, 0, 0, 0, 0, 0}, "b.1"...), "b.1", 10000, false},
	}
	for _, tt := range tests {
		name, pos, err := ParseRotate(tt.body)
		if (err != nil) != tt.wantErr || name != tt.name || pos != tt.pos {
			t.Errorf("ParseRotate(%v) = %q %d %v", tt.body, name, pos, err)
		}
	}
}

func TestQueryText(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
		ok   bool
	}{
		{"begin", queryBody("shop", "BEGIN"), "BEGIN", true},
		{"no db", queryBody("", "COMMIT"), "COMMIT", true},
		{"empty query", queryBody("db", ""), "", true},
		{"short", make([]byte, 12), "", false},
		{"status vars past end", func() []byte {
			b := queryBody("db", "x")
			binary.LittleEndian.PutUint16(b[11:], 500)
			return b
		}(), "", false},
		{"db length past end", func() []byte {
			b := queryBody("db", "x")
			b[8] = 200
			return b
		}(), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, ok := queryText(tt.body)
			if ok != tt.ok || string(q) != tt.want {
				t.Errorf("got %q %v, want %q %v", q, ok, tt.want, tt.ok)
			}
		})
	}
	// The real events: the statements mariadb-binlog prints.
	data := readTestdata(t, "mysql-bin.000001")
	want := map[int64]string{
		370:  "CREATE DATABASE shop",
		499:  "CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT) ENGINE=InnoDB",
		1672: "COMMIT",
	}
	for _, ev := range splitEvents(t, data) {
		if w, ok := want[ev.off]; ok {
			q, ok := queryText(Body(ev.b, ChecksumCRC32))
			if !ok || string(q) != w {
				t.Errorf("query at %d: %q %v, want %q", ev.off, q, ok, w)
			}
		}
	}
}
