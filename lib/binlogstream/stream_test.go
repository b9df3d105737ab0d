package binlogstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// tcpPair returns the two ends of a loopback TCP connection: the replica
// (client) side and the server side.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// newStream makes a Stream reading the dump from conn, as Start leaves it.
// packets frames payload as the server does: pieces of at most 2^24-1
// bytes, and an empty packet after a payload that is an exact multiple.
func packets(seq byte, payload []byte) []byte {
	var out []byte
	for {
		n := min(len(payload), maxPacketPayload)
		out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
		out = append(out, payload[:n]...)
		payload = payload[n:]
		seq++
		if n < maxPacketPayload {
			return out
		}
	}
}

func okEvent(ev []byte) []byte { return append([]byte{mysql.OK_HEADER}, ev...) }

// realEvents cuts the events of a real binlog file (written by MariaDB
// 10.11, see lib/binlogdir/testdata) out of it.
func realEvents(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile("../binlogdir/testdata/mysql-bin.000001")
	if err != nil {
		t.Fatal(err)
	}
	var evs [][]byte
	for off := 4; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+9:]))
		evs = append(evs, data[off:off+n])
		off += n
	}
	return evs
}

func TestNextOKPackets(t *testing.T) {
	client, server := tcpPair(t)
	s := newStream(client, Config{ReadTimeout: 5 * time.Second})
	evs := realEvents(t)
	var all []byte
	for i, ev := range evs {
		all = append(all, packets(byte(i+1), okEvent(ev))...)
	}
	go server.Write(all)
	var allocs []int
	alloc := func(n int) []byte {
		allocs = append(allocs, n)
		return make([]byte, n, n+7)
	}
	for i, want := range evs {
		ev, err := s.Next(alloc)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !bytes.Equal(ev.Data, want) || ev.NeedAck {
			t.Fatalf("event %d: got %d bytes (NeedAck %v), want %d", i, len(ev.Data), ev.NeedAck, len(want))
		}
		if allocs[i] != len(want)+1 {
			t.Errorf("event %d: alloc(%d), want %d", i, allocs[i], len(want)+1)
		}
		// Data is the caller's buffer, after the OK byte.
		if cap(ev.Data) != len(want)+7 {
			t.Errorf("event %d: Data not taken from alloc (cap %d)", i, cap(ev.Data))
		}
		if i < len(evs)-1 && !s.Buffered() {
			t.Logf("event %d: nothing buffered (the write was split)", i)
		}
	}
	if s.Buffered() {
		t.Error("Buffered after the last event")
	}
	// A nil alloc allocates.
	go server.Write(packets(1, okEvent(evs[0])))
	ev, err := s.Next(nil)
	if err != nil || !bytes.Equal(ev.Data, evs[0]) {
		t.Fatalf("nil alloc: %v", err)
	}
}

func TestNextBigEvent(t *testing.T) {
	tests := []struct {
		name string
		size int // of the event; the payload is one more (the OK byte)
	}{
		{"20 MiB", 20 << 20},
		{"payload exactly 2^24-1", maxPacketPayload - 1},
		{"payload 2^24", maxPacketPayload},
		{"payload exactly 2*(2^24-1)", 2*maxPacketPayload - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			s := newStream(client, Config{ReadTimeout: 20 * time.Second})
			ev := make([]byte, tt.size)
			rand.New(rand.NewSource(int64(tt.size))).Read(ev)
			stream := packets(1, okEvent(ev))
			if tt.name == "20 MiB" {
				// The first payload is exactly 2^24-1 bytes, the second the rest.
				if n := int(stream[0]) | int(stream[1])<<8 | int(stream[2])<<16; n != maxPacketPayload {
					t.Fatalf("first packet %d", n)
				}
			}
			small := []byte{1, 2, 3}
			stream = append(stream, packets(9, okEvent(small))...)
			go server.Write(stream)
			got, err := s.Next(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, ev) {
				t.Fatalf("got %d bytes, want %d byte-exact", len(got.Data), len(ev))
			}
			// The stream continues with the next packet.
			got, err = s.Next(nil)
			if err != nil || !bytes.Equal(got.Data, small) {
				t.Fatalf("next event: %v %v", got.Data, err)
			}
		})
	}
}

func TestNextSemiSync(t *testing.T) {
	ev := realEvents(t)[3]
	tests := []struct {
		name     string
		semi     bool
		payload  []byte
		wantData []byte
		wantAck  bool
	}{
		{"needs ack", true, append([]byte{0x00, 0xef, 0x01}, ev...), ev, true},
		{"no ack", true, append([]byte{0x00, 0xef, 0x00}, ev...), ev, false},
		{"semi-sync off: not stripped", false, append([]byte{0x00, 0xef, 0x01}, ev...), append([]byte{0xef, 0x01}, ev...), false},
		{"semi-sync on, no indicator", true, okEvent(ev), ev, false},
		{"indicator alone", true, []byte{0x00, 0xef}, []byte{0xef}, false},
		{"indicator and flag only", true, []byte{0x00, 0xef, 0x01}, []byte{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			s := newStream(client, Config{SemiSync: tt.semi, ReadTimeout: 5 * time.Second})
			go server.Write(packets(1, tt.payload))
			got, err := s.Next(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, tt.wantData) || got.NeedAck != tt.wantAck {
				t.Errorf("got %x NeedAck %v, want %x %v", got.Data, got.NeedAck, tt.wantData, tt.wantAck)
			}
		})
	}
}

func TestNextErrorPackets(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		check   func(t *testing.T, err error)
	}{
		{"ERR with state", append([]byte{0xff, 0xd4, 0x04, '#', 'H', 'Y', '0', '0', '0'}, "Could not find first log file name in binary log index file"...),
			func(t *testing.T, err error) {
				var me *mysql.MyError
				if !errors.As(err, &me) || me.Code != 1236 || me.State != "HY000" || me.Message != "Could not find first log file name in binary log index file" {
					t.Errorf("%#v", err)
				}
			}},
		{"ERR without state", append([]byte{0xff, 0x15, 0x04}, "Access denied"...),
			func(t *testing.T, err error) {
				var me *mysql.MyError
				if !errors.As(err, &me) || me.Code != 1045 || me.State != "" || me.Message != "Access denied" {
					t.Errorf("%#v", err)
				}
			}},
		{"ERR with only a code", []byte{0xff, 0xd4, 0x04},
			func(t *testing.T, err error) {
				var me *mysql.MyError
				if !errors.As(err, &me) || me.Code != 1236 || me.Message != "" {
					t.Errorf("%#v", err)
				}
			}},
		{"ERR header alone", []byte{0xff},
			func(t *testing.T, err error) {
				var me *mysql.MyError
				if !errors.As(err, &me) {
					t.Errorf("%#v", err)
				}
			}},
		{"EOF", []byte{0xfe, 0, 0, 2, 0},
			func(t *testing.T, err error) {
				if err != io.EOF {
					t.Errorf("%v, want io.EOF", err)
				}
			}},
		{"EOF header alone", []byte{0xfe},
			func(t *testing.T, err error) {
				if err != io.EOF {
					t.Errorf("%v, want io.EOF", err)
				}
			}},
		{"0xfe of 9 bytes is not EOF", []byte{0xfe, 0, 0, 0, 0, 0, 0, 0, 0},
			func(t *testing.T, err error) {
				if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "0xfe") {
					t.Errorf("%v", err)
				}
			}},
		{"empty packet", []byte{},
			func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "empty packet") {
					t.Errorf("%v", err)
				}
			}},
		{"unknown first byte", []byte{0x01, 2, 3},
			func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "0x01") {
					t.Errorf("%v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			s := newStream(client, Config{ReadTimeout: 5 * time.Second})
			go server.Write(packets(1, tt.payload))
			ev, err := s.Next(nil)
			if err == nil {
				t.Fatalf("no error; event %x", ev.Data)
			}
			if errors.Is(err, ErrLost) || errors.Is(err, ErrTimeout) {
				t.Fatalf("%v: a packet the server sent whole is not a lost connection", err)
			}
			tt.check(t, err)
		})
	}
}

func TestNextTimeout(t *testing.T) {
	for _, partial := range [][]byte{
		nil,                          // nothing at all
		{10, 0},                      // half a header
		{10, 0, 0, 1, 0x00, 1, 2, 3}, // part of the payload
	} {
		client, server := tcpPair(t)
		s := newStream(client, Config{ReadTimeout: 150 * time.Millisecond})
		server.Write(partial)
		start := time.Now()
		_, err := s.Next(nil)
		el := time.Since(start)
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("after %x: %v, want ErrTimeout", partial, err)
		}
		if errors.Is(err, ErrLost) {
			t.Errorf("after %x: a timeout is not a lost connection", partial)
		}
		if el < 100*time.Millisecond || el > 3*time.Second {
			t.Errorf("after %x: timed out after %v, want about 150ms", partial, el)
		}
	}
}

// A source that keeps sending, only slowly, is alive: ReadTimeout is how
// long it may stay silent ("a peer that sends nothing for ReadTimeout is
// dead"), not how long one packet may take to arrive. A 16 MiB chunk of a
// big event over a 10 Mbit/s link takes 13 s, more than dr-binlog-pull's
// 10 s ReadTimeout, with bytes arriving all the while.
func TestNextSlowButAlive(t *testing.T) {
	client, server := tcpPair(t)
	s := newStream(client, Config{ReadTimeout: 300 * time.Millisecond})
	ev := bytes.Repeat([]byte("x"), 99)
	stream := packets(1, okEvent(ev))
	go func() {
		for len(stream) > 0 {
			n := min(10, len(stream))
			if _, err := server.Write(stream[:n]); err != nil {
				return
			}
			stream = stream[n:]
			time.Sleep(100 * time.Millisecond) // never silent for 300ms
		}
	}()
	got, err := s.Next(nil)
	if err != nil {
		t.Fatalf("a packet trickling in 10 bytes every 100ms with ReadTimeout 300ms fails with %q: stream.go (*Stream).read sets one deadline of ReadTimeout for the whole io.ReadFull of b (up to 16 MiB) instead of per read from the socket", err)
	}
	if !bytes.Equal(got.Data, ev) {
		t.Errorf("got %q", got.Data)
	}
}

func TestNextConnectionLost(t *testing.T) {
	for _, partial := range [][]byte{
		nil,
		{10, 0},
		{10, 0, 0, 1},
		{10, 0, 0, 1, 0x00, 1, 2, 3},
		append(packets(1, []byte{0x00, 1, 2, 3}), 0xff, 0xff, 0xff, 2, 0x00), // a whole event, then a big one cut
	} {
		client, server := tcpPair(t)
		s := newStream(client, Config{ReadTimeout: 5 * time.Second})
		server.Write(partial)
		server.Close()
		var err error
		for range 3 {
			if _, err = s.Next(nil); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrLost) {
			t.Errorf("closed after %x: %v, want ErrLost", partial, err)
		}
		if errors.Is(err, io.EOF) {
			t.Errorf("closed after %x: %v must not be io.EOF (the clean end of a non-blocking dump)", partial, err)
		}
	}
	// net.Pipe: the other end closed mid-packet.
	client, server := net.Pipe()
	defer client.Close()
	s := newStream(client, Config{})
	go func() {
		server.Write([]byte{50, 0, 0, 1, 0x00, 1, 2})
		server.Close()
	}()
	if _, err := s.Next(nil); !errors.Is(err, ErrLost) {
		t.Errorf("net.Pipe closed mid-packet: %v, want ErrLost", err)
	}
}

func TestNextLocalClose(t *testing.T) {
	// Cancelling the context closes the socket under a blocked read: the
	// reader gets an error, neither a timeout nor io.EOF.
	client, _ := tcpPair(t)
	s := newStream(client, Config{})
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	client.Close()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, ErrTimeout) || err == io.EOF {
			t.Errorf("%v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked after the socket was closed")
	}
}

func TestAck(t *testing.T) {
	tests := []struct {
		file string
		pos  uint64
	}{
		{"mysql-bin.000001", 2199},
		{"mysql-bin.1000000", 1<<32 + 5},
		{"", 4},
	}
	for _, tt := range tests {
		client, server := tcpPair(t)
		s := newStream(client, Config{SemiSync: true})
		if err := s.Ack(tt.file, tt.pos); err != nil {
			t.Fatal(err)
		}
		n := 1 + 8 + len(tt.file)
		want := []byte{byte(n), byte(n >> 8), byte(n >> 16), 0, 0xef}
		want = binary.LittleEndian.AppendUint64(want, tt.pos)
		want = append(want, tt.file...)
		got := make([]byte, len(want))
		server.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(server, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Ack(%q, %d) wrote %x, want %x", tt.file, tt.pos, got, want)
		}
		// Nothing more.
		server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _ := server.Read(make([]byte, 1)); n != 0 {
			t.Error("Ack wrote more than one packet")
		}
	}
}

func TestAckConcurrentWithNext(t *testing.T) {
	// Acks are written from another goroutine than the reader's: each
	// lands whole.
	client, server := tcpPair(t)
	s := newStream(client, Config{SemiSync: true})
	const n = 50
	done := make(chan error, n)
	for i := range n {
		go func() { done <- s.Ack("mysql-bin.000001", uint64(1000+i)) }()
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(server)
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	seen := map[uint64]bool{}
	for range n {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatal(err)
		}
		size := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if size != 1+8+16 || hdr[3] != 0 {
			t.Fatalf("header %x", hdr)
		}
		p := make([]byte, size)
		io.ReadFull(r, p)
		if p[0] != 0xef || string(p[9:]) != "mysql-bin.000001" {
			t.Fatalf("payload %x", p)
		}
		seen[binary.LittleEndian.Uint64(p[1:])] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct acks, want %d", len(seen), n)
	}
}

func TestAckClosed(t *testing.T) {
	client, _ := tcpPair(t)
	s := newStream(client, Config{SemiSync: true})
	client.Close()
	if err := s.Ack("mysql-bin.000001", 4); err == nil || !strings.Contains(err.Error(), "semi-sync ack") {
		t.Errorf("%v", err)
	}
}

func TestReadErrClassification(t *testing.T) {
	s := &Stream{cfg: Config{ReadTimeout: time.Second}}
	if err := s.readErr(io.EOF); !errors.Is(err, ErrLost) {
		t.Errorf("io.EOF: %v", err)
	}
	if err := s.readErr(io.ErrUnexpectedEOF); !errors.Is(err, ErrLost) {
		t.Errorf("io.ErrUnexpectedEOF: %v", err)
	}
	if err := s.readErr(os.ErrDeadlineExceeded); !errors.Is(err, ErrTimeout) {
		t.Errorf("deadline: %v", err)
	}
	other := errors.New("connection reset by peer")
	if err := s.readErr(other); !errors.Is(err, other) || errors.Is(err, ErrLost) || errors.Is(err, ErrTimeout) {
		t.Errorf("other: %v", err)
	}
}
