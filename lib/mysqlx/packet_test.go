package mysqlx

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
)

// packets frames payloads as the server does: 3-byte length, sequence,
// and a payload of 2^24-1 bytes or more continued in the next packet.
func packets(payloads ...[]byte) []byte {
	var b bytes.Buffer
	seq := byte(0)
	for _, p := range payloads {
		for {
			n := min(len(p), maxPayload)
			b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq})
			b.Write(p[:n])
			seq++
			p = p[n:]
			if n < maxPayload {
				break
			}
		}
	}
	return b.Bytes()
}

type closeCount int

func (c *closeCount) Close() error { *c++; return nil }

func TestPacketReader(t *testing.T) {
	small := []byte("\x00\x01\x02")
	large := bytes.Repeat([]byte("x"), 300<<10) // more than the buffer
	huge := bytes.Repeat([]byte("y"), maxPayload+10)
	exact := bytes.Repeat([]byte("z"), maxPayload) // followed by an empty packet
	var closed closeCount
	pr := readPackets(bytes.NewReader(packets(small, large, huge, exact, small)), &closed)
	defer pr.release()
	for i, want := range [][]byte{small, large, huge, exact, small} {
		got, err := pr.next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d: %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := pr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last packet: %v, want io.EOF", err)
	}
	if closed != 0 {
		t.Fatalf("connection closed %d times on a good stream", closed)
	}
}

func TestPacketReaderBadStream(t *testing.T) {
	var closed closeCount
	pr := readPackets(bytes.NewReader(packets(nil)), &closed)
	if _, err := pr.next(); err != mysql.ErrMalformPacket || closed != 1 {
		t.Errorf("empty payload: %v, closed %d times; want ErrMalformPacket and the connection closed", err, closed)
	}
	pr.release()

	pr = readPackets(bytes.NewReader([]byte{10, 0, 0, 0, 'a', 'b'}), &closed)
	if _, err := pr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut payload: %v, want io.ErrUnexpectedEOF", err)
	}
	pr.release()

	pr = readPackets(bytes.NewReader([]byte{10, 0}), &closed)
	if _, err := pr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut header: %v, want io.ErrUnexpectedEOF", err)
	}
	pr.release()

	// Larger than the buffer, cut right after its header; and a payload
	// of 2^24-1 bytes whose continuation never comes.
	large := packets(bytes.Repeat([]byte("x"), 300<<10))
	exact := packets(bytes.Repeat([]byte("z"), maxPayload))
	for name, stream := range map[string][]byte{"large payload cut": large[:4], "continuation missing": exact[:len(exact)-4]} {
		pr = readPackets(bytes.NewReader(stream), &closed)
		if _, err := pr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v, want io.ErrUnexpectedEOF", name, err)
		}
		pr.release()
	}
}

// A server error outlives the buffer its packet was read into: the next
// command reuses that buffer.
func TestServerErrorOwnsItsText(t *testing.T) {
	errPkt := append([]byte{mysql.ERR_HEADER, 0x7a, 0x04, '#'}, "42S02Table 'db.t' doesn't exist"...)
	pr := readPackets(bytes.NewReader(packets(errPkt)), new(closeCount))
	data, err := pr.next()
	if err != nil {
		t.Fatal(err)
	}
	serr := serverError(&client.Conn{Conn: &packet.Conn{}}, data)
	want := serr.Error()
	pr.release()
	for range 4 { // the pool may hand out another buffer first
		pr = readPackets(bytes.NewReader(packets(bytes.Repeat([]byte("SECRET-ROW-DATA "), 8))), new(closeCount))
		if _, err := pr.next(); err != nil {
			t.Fatal(err)
		}
		pr.release()
	}
	if got := serr.Error(); got != want || !strings.Contains(got, "doesn't exist") {
		t.Fatalf("error after its buffer was reused: %q, want %q", got, want)
	}
	if ErrorCode(serr) != 1146 {
		t.Fatalf("error code %d, want 1146", ErrorCode(serr))
	}
}
