package mysqlx

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
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
}
