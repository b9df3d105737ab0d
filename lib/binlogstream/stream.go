// Package binlogstream speaks the replica side of the replication
// protocol: it asks a source for its binlog from a file and position and
// hands over each event as the exact bytes of the source's file, with the
// semi-sync ACK under the caller's control.
//
// go-mysql's client does the handshake and the session set-up; the dump
// stream itself is read here, straight off the socket, because
// go-mysql's BinlogSyncer acknowledges semi-sync events as soon as it has
// queued them (before anything is durable), parses every event (slow and
// not needed to store it), and checks packet sequence numbers that the
// server's semi-sync ACK thread makes unpredictable.
package binlogstream

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dr-mysql/dr/lib/position"
)

// Dump command flags.
const (
	dumpNonBlock       = 0x01 // BINLOG_DUMP_NON_BLOCK: end the stream at the end of the binlog
	dumpSendAnnotate   = 0x02 // BINLOG_SEND_ANNOTATE_ROWS_EVENT (MariaDB)
	comBinlogDump      = 0x12
	comRegisterSlave   = 0x15
	semiSyncIndicator  = 0xef
	semiSyncNeedAck    = 0x01
	maxPacketPayload   = 1<<24 - 1
	mariaDBCapability4 = 4 // MARIA_SLAVE_CAPABILITY_GTID: send GTID events as they are
)

// Config says how to ask for the stream.
type Config struct {
	ServerID    uint32          // our server_id as a replica; a second connection with the same id replaces the first
	Flavor      position.Flavor // the source's
	Heartbeat   time.Duration   // the source sends a heartbeat after this much silence
	ReadTimeout time.Duration   // no packet for this long means the peer is dead
	SemiSync    bool            // ask the source to flag events that wait for our ACK
	NonBlock    bool            // end the stream (io.EOF) at the current end of the binlog
	Hostname    string          // shown in SHOW SLAVE HOSTS
}

// Stream is one dump session.
type Stream struct {
	c   *client.Conn
	nc  net.Conn
	r   *bufio.Reader
	cfg Config

	wmu  sync.Mutex
	semi bool
	hdr  [4]byte
	stop func() bool
}

// Start prepares the session on c, registers as a replica and asks for the
// binlog from file at pos. The stream owns c from then on.
func Start(ctx context.Context, c *client.Conn, cfg Config, file string, pos uint32) (*Stream, error) {
	s := &Stream{c: c, cfg: cfg}
	// The server must send events with the checksums of its files: we
	// store them byte for byte. Both spellings, for MySQL before and after
	// 8.0.26; on MariaDB a user variable more is harmless.
	q := []string{
		"SET @master_binlog_checksum = @@global.binlog_checksum",
		"SET @source_binlog_checksum = @@global.binlog_checksum",
	}
	if cfg.Flavor == position.MariaDB {
		q = append(q, fmt.Sprintf("SET @mariadb_slave_capability = %d", mariaDBCapability4))
	}
	if cfg.Heartbeat > 0 {
		ns := cfg.Heartbeat.Nanoseconds()
		q = append(q, fmt.Sprintf("SET @master_heartbeat_period = %d", ns), fmt.Sprintf("SET @source_heartbeat_period = %d", ns))
	}
	if cfg.SemiSync {
		q = append(q, "SET @rpl_semi_sync_slave = 1", "SET @rpl_semi_sync_replica = 1")
	}
	for _, stmt := range q {
		if _, err := c.Execute(stmt); err != nil {
			return nil, fmt.Errorf("prepare replication session (%s): %w", stmt, err)
		}
	}
	if err := s.register(); err != nil {
		return nil, err
	}
	flags := uint16(0)
	if cfg.NonBlock {
		flags |= dumpNonBlock
	}
	if cfg.Flavor == position.MariaDB {
		// Without ANNOTATE_ROWS the server leaves those events out and the
		// files we write would not be the source's.
		flags |= dumpSendAnnotate
	}
	b := make([]byte, 4, 4+1+4+2+4+len(file))
	b = append(b, comBinlogDump)
	b = binary.LittleEndian.AppendUint32(b, pos)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint32(b, cfg.ServerID)
	b = append(b, file...)
	c.ResetSequence()
	if err := c.WritePacket(b); err != nil {
		return nil, fmt.Errorf("send binlog dump request: %w", err)
	}
	// Nothing has been read since the request, so go-mysql's buffered
	// reader is empty and the socket is ours from here on.
	s = newStream(c.Conn.Conn, cfg)
	s.c = c
	// Cancelling ctx closes the socket: that is the one way to wake a
	// read blocked on it.
	s.stop = context.AfterFunc(ctx, func() { s.nc.Close() })
	return s, nil
}

// newStream reads the dump stream off nc, the session's socket.
func newStream(nc net.Conn, cfg Config) *Stream {
	return &Stream{nc: nc, r: bufio.NewReaderSize(deadlineReader{nc, cfg.ReadTimeout}, 1<<20), cfg: cfg, semi: cfg.SemiSync}
}

func (s *Stream) register() error {
	host := s.cfg.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if len(host) > 60 {
		host = host[:60]
	}
	b := make([]byte, 4, 64)
	b = append(b, comRegisterSlave)
	b = binary.LittleEndian.AppendUint32(b, s.cfg.ServerID)
	b = append(b, byte(len(host)))
	b = append(b, host...)
	b = append(b, 0, 0)                        // user, password: not reported
	b = binary.LittleEndian.AppendUint16(b, 0) // port
	b = binary.LittleEndian.AppendUint32(b, 0) // replication rank
	b = binary.LittleEndian.AppendUint32(b, 0) // source id: filled in by the server
	s.c.ResetSequence()
	if err := s.c.WritePacket(b); err != nil {
		return fmt.Errorf("register as replica: %w", err)
	}
	if _, err := s.c.ReadOKPacket(); err != nil {
		return fmt.Errorf("register as replica: %w", err)
	}
	return nil
}

// Event is one event of the stream.
type Event struct {
	Data    []byte // header, body and checksum, as in the source's file
	NeedAck bool   // the source waits for our ACK of this event (semi-sync)
}

// Next reads the next event. It returns io.EOF when the source ends the
// stream (NonBlock at the end of the binlog) and a *mysql.MyError when it
// reports an error (1236: the position is gone, and the like). The
// packet is read into memory from alloc (nil: a new slice), so a caller
// can hand out pieces of a reused buffer.
func (s *Stream) Next(alloc func(n int) []byte) (Event, error) {
	p, err := s.readPacket(alloc)
	if err != nil {
		return Event{}, err
	}
	if len(p) == 0 {
		return Event{}, errors.New("empty packet in binlog stream")
	}
	switch p[0] {
	case mysql.OK_HEADER:
	case mysql.ERR_HEADER:
		return Event{}, parseErr(p)
	case mysql.EOF_HEADER:
		if len(p) < 9 {
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("unexpected packet 0xfe of %d bytes in binlog stream", len(p))
	default:
		return Event{}, fmt.Errorf("unexpected packet 0x%02x in binlog stream", p[0])
	}
	p = p[1:]
	var ev Event
	if s.semi && len(p) >= 2 && p[0] == semiSyncIndicator {
		ev.NeedAck = p[1] == semiSyncNeedAck
		p = p[2:]
	}
	ev.Data = p
	return ev, nil
}

// Buffered reports whether more of the stream is already read from the
// socket, so the caller can batch work until it is not.
func (s *Stream) Buffered() bool { return s.r.Buffered() > 0 }

func (s *Stream) readPacket(alloc func(n int) []byte) ([]byte, error) {
	if alloc == nil {
		alloc = func(n int) []byte { return make([]byte, n) }
	}
	if err := s.fill(4); err != nil {
		return nil, err
	}
	n := int(s.hdr[0]) | int(s.hdr[1])<<8 | int(s.hdr[2])<<16
	if n < maxPacketPayload {
		out := alloc(n)
		if err := s.read(out); err != nil {
			return nil, err
		}
		return out, nil
	}
	// A payload of exactly 2^24-1 bytes continues in the next packet:
	// that is how events larger than 16 MiB arrive.
	var out []byte
	for {
		start := len(out)
		out = append(out, make([]byte, n)...)
		if err := s.read(out[start:]); err != nil {
			return nil, err
		}
		if n < maxPacketPayload {
			return out, nil
		}
		if err := s.fill(4); err != nil {
			return nil, err
		}
		n = int(s.hdr[0]) | int(s.hdr[1])<<8 | int(s.hdr[2])<<16
	}
}

// fill reads a packet header into s.hdr.
func (s *Stream) fill(n int) error { return s.read(s.hdr[:n]) }

// read fills b from the stream.
func (s *Stream) read(b []byte) error {
	if _, err := io.ReadFull(s.r, b); err != nil {
		return s.readErr(err)
	}
	return nil
}

// deadlineReader pushes the read deadline forward before every read of
// the socket: a peer that sends nothing for the timeout is dead, one that
// sends a large event slowly is not.
type deadlineReader struct {
	c       net.Conn
	timeout time.Duration
}

func (d deadlineReader) Read(b []byte) (int, error) {
	if d.timeout > 0 {
		d.c.SetReadDeadline(time.Now().Add(d.timeout))
	}
	return d.c.Read(b)
}

func (s *Stream) readErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no data from source for %s: %w", s.cfg.ReadTimeout, ErrTimeout)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("source closed the connection: %w", ErrLost)
	}
	return fmt.Errorf("read binlog stream: %w", err)
}

// ErrTimeout and ErrLost tell a dead peer from other failures.
var (
	ErrTimeout = errors.New("read timeout")
	ErrLost    = errors.New("connection lost")
)

func parseErr(p []byte) error {
	e := &mysql.MyError{}
	if len(p) >= 3 {
		e.Code = binary.LittleEndian.Uint16(p[1:])
		m := p[3:]
		if len(m) >= 6 && m[0] == '#' {
			e.State = string(m[1:6])
			m = m[6:]
		}
		e.Message = string(m)
	}
	return e
}

// Ack tells a semi-sync source that everything up to pos in file is
// durable here. Call it only after the bytes are fsync'd: that is what
// makes RPO zero.
func (s *Stream) Ack(file string, pos uint64) error {
	b := make([]byte, 4, 4+1+8+len(file))
	b = append(b, semiSyncIndicator)
	b = binary.LittleEndian.AppendUint64(b, pos)
	b = append(b, file...)
	n := len(b) - 4
	b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), 0 // an ACK always starts a new exchange
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.nc.Write(b); err != nil {
		return fmt.Errorf("send semi-sync ack: %w", err)
	}
	return nil
}

// Close ends the session.
func (s *Stream) Close() error {
	if s.stop != nil {
		s.stop()
	}
	return s.c.Close()
}
