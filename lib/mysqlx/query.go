package mysqlx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dr-mysql/dr/lib/sqltext"
)

// QueryRaw runs q over the text protocol and hands each row to onRow as
// the bytes the server sent: one slice a column, nil for NULL, plus the
// size of the row's packet. Nothing is parsed or converted, so a FLOAT
// is exactly the server's digits and a string exactly its bytes; and
// nothing is allocated per row. The slices are valid only during the
// call. onFields, if not nil, sees the column definitions first.
//
// go-mysql's own result reading parses numbers into Go values (and back
// would not give the same digits) and keeps whole results in memory;
// dumps need neither.
//
// If a callback fails, or ctx ends, the connection is closed: it is left
// in the middle of a result and cannot be used again.
func QueryRaw(ctx context.Context, c *client.Conn, q string, onFields func([]*mysql.Field) error, onRow func(row [][]byte, size int) error) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	err := queryRaw(c, q, onFields, onRow)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return lost(err)
}

// ErrConnLost is a connection that failed in the middle of a command.
var ErrConnLost = errors.New("connection lost")

// lost turns go-mysql's read and write failures ("io.CopyN failed. err
// unexpected EOF, copied 0, expected 192: connection was bad") into one
// line naming the cause; server errors pass as they are.
func lost(err error) error {
	if err == nil || ErrorCode(err) != 0 {
		return err
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, mysql.ErrBadConn):
		return fmt.Errorf("%w: the server closed it", ErrConnLost)
	case errors.As(err, &ne):
		return fmt.Errorf("%w: %v", ErrConnLost, ne)
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: closed", ErrConnLost)
	}
	return err
}

func queryRaw(c *client.Conn, q string, onFields func([]*mysql.Field) error, onRow func(row [][]byte, size int) error) error {
	c.ResetSequence()
	pkt := make([]byte, 5, 5+len(q))
	pkt[4] = mysql.COM_QUERY
	pkt = append(pkt, q...)
	if err := c.WritePacket(pkt); err != nil {
		return err
	}
	// The response is read off the socket here rather than by go-mysql,
	// which copies every packet twice through pooled buffers: a dump
	// spends a third of its CPU there. Nothing is buffered on go-mysql's
	// side between commands, and the next command resets the sequence.
	pr := newPacketReader(c)
	defer pr.release()
	data, err := pr.next()
	if err != nil {
		return err
	}
	switch data[0] {
	case mysql.OK_HEADER:
		return nil
	case mysql.ERR_HEADER:
		return serverError(c, data)
	case mysql.LocalInFile_HEADER:
		c.Close()
		return errors.New("server asked for a local file")
	}
	n, m := lenenc(data)
	if m != len(data) || n == 0 || n > 4096 {
		c.Close()
		return mysql.ErrMalformPacket
	}
	fields := make([]*mysql.Field, n)
	for i := range fields {
		data, err = pr.next()
		if err != nil {
			return err
		}
		// The field keeps slices of its packet, and the buffer is reused.
		f, err := mysql.FieldData(append([]byte(nil), data...)).Parse()
		if err != nil {
			c.Close()
			return err
		}
		fields[i] = f
	}
	if onFields != nil {
		if err := onFields(fields); err != nil {
			c.Close()
			return err
		}
	}
	row := make([][]byte, n)
	// Without CLIENT_DEPRECATE_EOF an EOF packet (5 bytes) follows the
	// columns; with it, none does, and the rows end with an OK packet
	// that has the EOF header (at least 7 bytes). go-mysql does not say
	// what was negotiated, but the two packets tell themselves apart.
	first := true
	for {
		data, err = pr.next()
		if err != nil {
			return err
		}
		// An EOF (or OK) packet ends the rows; a row starting with 0xfe
		// is a string of 16 MiB or more and so longer than any such
		// packet.
		if data[0] == mysql.EOF_HEADER && len(data) < 0xffffff {
			if first && len(data) <= 5 {
				first = false
				continue
			}
			return nil
		}
		first = false
		if data[0] == mysql.ERR_HEADER {
			return serverError(c, data)
		}
		if err := parseRow(data, row); err != nil {
			c.Close()
			return err
		}
		if err := onRow(row, len(data)); err != nil {
			c.Close()
			return err
		}
	}
}

// packetReader reads protocol packets off a socket through one buffer,
// handing out payloads that alias it: valid until the next call.
type packetReader struct {
	c   io.Closer // the connection, closed when its stream is lost
	r   *bufio.Reader
	big []byte // payloads that do not fit the buffer, or span packets
}

// readers keeps the buffers of packet readers between commands: replay
// runs thousands of small commands a second, and a fresh 256 KiB buffer
// for each would be most of the memory it allocates.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}

func newPacketReader(c *client.Conn) *packetReader {
	return readPackets(c.Conn.Conn, c)
}

func readPackets(r io.Reader, c io.Closer) *packetReader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &packetReader{c: c, r: br}
}

// release gives the buffer back; the payloads handed out are invalid from
// then on.
func (p *packetReader) release() {
	p.r.Reset(nil)
	readers.Put(p.r)
	p.r = nil
}

const maxPayload = 1<<24 - 1

// serverError is the error an ERR packet carries. go-mysql's message and
// SQLSTATE point into the packet, and the packet into a buffer that the
// next command, on any connection, overwrites: they get a copy.
func serverError(c *client.Conn, data []byte) error {
	return c.HandleErrorPacket(bytes.Clone(data))
}

// next returns the next payload. An empty one is never a whole response
// packet: the connection is closed, as it is lost in the stream.
func (p *packetReader) next() ([]byte, error) {
	n, err := p.header()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		p.c.Close()
		return nil, mysql.ErrMalformPacket
	}
	if n < maxPayload && n <= p.r.Size() {
		b, err := p.r.Peek(n)
		if err != nil {
			return nil, midPacket(err)
		}
		p.r.Discard(n)
		return b, nil
	}
	// A payload of exactly 2^24-1 bytes continues in the next packet.
	p.big = p.big[:0]
	for {
		start := len(p.big)
		p.big = append(p.big, make([]byte, n)...)
		if _, err := io.ReadFull(p.r, p.big[start:]); err != nil {
			return nil, midPacket(err)
		}
		if n < maxPayload {
			return p.big, nil
		}
		if n, err = p.header(); err != nil {
			return nil, midPacket(err)
		}
	}
}

// midPacket is the error of a stream that ends where a header promised
// more: never a clean end.
func midPacket(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (p *packetReader) header() (int, error) {
	h, err := p.r.Peek(4)
	if err != nil {
		if err == io.EOF && len(h) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p.r.Discard(4)
	return n, nil
}

// parseRow cuts a text-protocol row packet into its values: each a
// length-encoded string, or 0xfb for NULL. The values alias data. Every
// byte must belong to a value.
func parseRow(data []byte, row [][]byte) error {
	pos := 0
	for i := range row {
		if pos >= len(data) {
			return mysql.ErrMalformPacket
		}
		if data[pos] == 0xfb {
			row[i] = nil
			pos++
			continue
		}
		l, w := lenenc(data[pos:])
		if w == 0 || uint64(len(data)-pos-w) < l {
			return mysql.ErrMalformPacket
		}
		pos += w
		row[i] = data[pos : pos+int(l) : pos+int(l)]
		pos += int(l)
	}
	if pos != len(data) {
		return mysql.ErrMalformPacket
	}
	return nil
}

// lenenc decodes a length-encoded integer: the value and its width, or a
// width of 0 when b is too short or does not start one (go-mysql's
// LengthEncodedInt indexes past the end of a short slice).
func lenenc(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	var w int
	switch b[0] {
	case 0xfc:
		w = 3
	case 0xfd:
		w = 4
	case 0xfe:
		w = 9
	case 0xfb, 0xff:
		return 0, 0
	default:
		return uint64(b[0]), 1
	}
	if len(b) < w {
		return 0, 0
	}
	var v uint64
	for i := w - 1; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, w
}

// Row is one row of a small result: nil for NULL.
type Row [][]byte

// Str is column i as a string; "" for NULL.
func (r Row) Str(i int) string { return string(r[i]) }

// Null reports whether column i is NULL.
func (r Row) Null(i int) bool { return r[i] == nil }

// Uint is column i as an unsigned number; 0 for NULL or anything else.
func (r Row) Uint(i int) uint64 {
	n, _ := strconv.ParseUint(string(r[i]), 10, 64)
	return n
}

// Query runs q and returns its rows, copied: for the small results of
// catalogue queries.
func Query(ctx context.Context, c *client.Conn, q string) ([]Row, error) {
	var rows []Row
	err := QueryRaw(ctx, c, q, nil, func(raw [][]byte, _ int) error {
		r := make(Row, len(raw))
		for i, v := range raw {
			if v != nil {
				r[i] = append(make([]byte, 0, len(v)), v...)
			}
		}
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

// Exec runs statements that return no rows, one after the other, and
// stops at the first that fails, naming it.
func Exec(ctx context.Context, c *client.Conn, stmts ...string) error {
	for _, s := range stmts {
		err := QueryRaw(ctx, c, s, nil, func([][]byte, int) error { return nil })
		if err != nil {
			return fmt.Errorf("%s: %w", sqltext.Abbrev(s, 120), err)
		}
	}
	return nil
}

// ErrorCode is the server's error number in err, or 0.
func ErrorCode(err error) uint16 {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me.Code
	}
	return 0
}

// ExecMulti sends statements joined by ';' as one COM_QUERY, which needs
// a connection with CLIENT_MULTI_STATEMENTS (set with WithClientOptions), and
// returns the affected-row count of each: one round trip for many small
// statements. The server stops at the first statement that fails; its
// error is returned with the counts of those before it, so
// len(affected) is the failed statement's index. Statements must not
// return rows.
func ExecMulti(ctx context.Context, c *client.Conn, stmts []string) (affected []uint64, err error) {
	if len(stmts) == 0 {
		return nil, nil
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	affected, err = execMulti(c, stmts)
	if err != nil && ctx.Err() != nil {
		return affected, ctx.Err()
	}
	return affected, lost(err)
}

// serverMoreResults is SERVER_MORE_RESULTS_EXISTS in an OK packet's status.
const serverMoreResults = 0x0008

func execMulti(c *client.Conn, stmts []string) ([]uint64, error) {
	n := 5
	for _, s := range stmts {
		n += len(s) + 1
	}
	c.ResetSequence()
	pkt := make([]byte, 5, n)
	pkt[4] = mysql.COM_QUERY
	for i, s := range stmts {
		if i > 0 {
			pkt = append(pkt, ';')
		}
		pkt = append(pkt, s...)
	}
	if err := c.WritePacket(pkt); err != nil {
		return nil, err
	}
	pr := newPacketReader(c)
	defer pr.release()
	affected := make([]uint64, 0, len(stmts))
	for {
		data, err := pr.next()
		if err != nil {
			return affected, err
		}
		switch data[0] {
		case mysql.ERR_HEADER:
			return affected, serverError(c, data)
		case mysql.OK_HEADER:
		default:
			// A result set: not for this function, and the connection
			// is now in the middle of it.
			c.Close()
			return affected, errors.New("a statement returned rows")
		}
		rows, m := lenenc(data[1:])
		_, m2 := lenenc(data[1+m:]) // last insert id
		at := 1 + m + m2
		if m == 0 || m2 == 0 || at+2 > len(data) {
			c.Close()
			return affected, mysql.ErrMalformPacket
		}
		affected = append(affected, rows)
		if data[at]&serverMoreResults == 0 {
			if len(affected) != len(stmts) {
				return affected, fmt.Errorf("the server answered %d of %d statements", len(affected), len(stmts))
			}
			return affected, nil
		}
	}
}
