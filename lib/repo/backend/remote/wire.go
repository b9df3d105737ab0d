// Package remote carries the backend.Backend interface over a byte stream:
// the stdin and stdout of `ssh host dr-ship serve --repo DIR`. Serve is
// the far end, run over a local backend; Client is the near end and is
// itself a backend.Backend.
//
// # Wire format
//
// All integers are big-endian. Each side first sends a hello of 12 bytes:
//
//	"dr-ship\x00"   8 bytes of magic
//	version         uint32, currently 1
//
// The client sends its hello first and the server answers with its own
// (also on a mismatch, so the client can name both versions); this order
// keeps unbuffered transports such as net.Pipe from deadlocking.
//
// Then frames, each a 9-byte header and a payload:
//
//	length          uint32, bytes of payload, at most MaxPayload (1 MiB)
//	type            uint8
//	id              uint32, chosen by the client per request (1, 2, ...);
//	                0 in an error frame means the whole session failed
//	payload         length bytes
//
// Strings in payloads are a length (uint8 for an object type, uint16 for a
// name) then the bytes; a handle is its type then its name. Requests, from
// the client:
//
//	0x01 save       handle, size int64; then data frames and one end or abort
//	0x02 load       handle, length int64, offset int64
//	0x03 stat       handle
//	0x04 list       type
//	0x05 remove     handle
//	0x06 data       bytes of the object being saved (at most ChunkSize)
//	0x07 end        the save's data is complete
//	0x08 abort      the client's reader failed: a message; the save fails
//	0x09 cancel     stop the load or list in progress (the client stops
//	                reading: fn returned early or ctx ended)
//
// Answers, from the server, each request ending with exactly one ok or
// error frame of its id:
//
//	0x81 ok         stat: size int64; otherwise empty
//	0x82 error      kinds uint8 (bit 0 not exist, 1 exists, 2 not writable,
//	                3 unexpected EOF, 4 canceled, 5 deadline exceeded), then
//	                the message as the rest of the payload
//	0x83 data       bytes of the range being loaded
//	0x84 loading    the load's range is valid: data frames follow; a load
//	                that ends in an error before this frame never calls fn
//	0x85 entries    list entries: repeated name (uint16 + bytes), size int64
//
// Requests are serial: the client sends one request and reads its answer
// to the end before the next, guarded by a mutex. A save streams its data
// in ChunkSize frames and a load answers in ChunkSize frames, so neither
// side ever holds a whole object.
package remote

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/dr-mysql/dr/lib/repo/backend"
)

// Version is the protocol version this package speaks. Both ends must
// speak the same one: there is no negotiation, because both ends are the
// same dr-ship release in any sane deployment and a mismatch is better
// refused with a clear message than half-understood.
const Version = 1

// magic opens the hello of both ends.
const magic = "dr-ship\x00"

const helloLen = len(magic) + 4

// MaxPayload bounds a frame's payload: a peer announcing more is refused
// before anything is allocated, so garbage cannot make us allocate 4 GiB.
const MaxPayload = 1 << 20

// ChunkSize is the most data a save or load frame carries. Big enough that
// the per-frame cost is noise, small enough that both ends hold only a few.
const ChunkSize = 512 << 10

const headerLen = 9

// Frame types.
const (
	opSave   byte = 0x01
	opLoad   byte = 0x02
	opStat   byte = 0x03
	opList   byte = 0x04
	opRemove byte = 0x05
	opData   byte = 0x06
	opEnd    byte = 0x07
	opAbort  byte = 0x08
	opCancel byte = 0x09

	ansOK      byte = 0x81
	ansError   byte = 0x82
	ansData    byte = 0x83
	ansLoading byte = 0x84
	ansEntries byte = 0x85
)

func frameName(t byte) string {
	switch t {
	case opSave:
		return "save"
	case opLoad:
		return "load"
	case opStat:
		return "stat"
	case opList:
		return "list"
	case opRemove:
		return "remove"
	case opData:
		return "data"
	case opEnd:
		return "end"
	case opAbort:
		return "abort"
	case opCancel:
		return "cancel"
	case ansOK:
		return "ok"
	case ansError:
		return "error"
	case ansData:
		return "load data"
	case ansLoading:
		return "loading"
	case ansEntries:
		return "entries"
	}
	return fmt.Sprintf("unknown (0x%02x)", t)
}

// ErrProtocol is matched by the errors of a peer that breaks the protocol:
// garbage, a truncated or oversized frame, a frame out of place.
var ErrProtocol = errors.New("remote protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

func hello() []byte {
	b := make([]byte, 0, helloLen)
	b = append(b, magic...)
	return binary.BigEndian.AppendUint32(b, Version)
}

// readHello reads the peer's hello and returns its version. A peer that
// says nothing at all gives io.EOF.
func readHello(r io.Reader) (uint32, error) {
	var b [helloLen]byte
	n, err := io.ReadFull(r, b[:])
	if err == io.EOF {
		return 0, io.EOF
	}
	if n >= len(magic) && string(b[:len(magic)]) != magic || n < len(magic) && string(b[:n]) != magic[:n] {
		return 0, protoErr("not the dr-ship handshake: the stream starts with %q", b[:n])
	}
	if err != nil {
		return 0, protoErr("truncated handshake after %d of %d bytes: %v", n, helloLen, err)
	}
	return binary.BigEndian.Uint32(b[len(magic):]), nil
}

// frame is one decoded frame. Its payload may be a buffer the reader
// reuses: it is valid until the next read.
type frame struct {
	typ     byte
	id      uint32
	payload []byte
}

// readFrame reads one frame into buf (grown when too small) and returns
// it. A stream that ends exactly between frames gives io.EOF; one that
// ends inside a frame, or announces a payload over MaxPayload, gives an
// ErrProtocol error.
func readFrame(r *bufio.Reader, buf []byte) (frame, []byte, error) {
	var h [headerLen]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF {
		return frame{}, buf, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return frame{}, buf, fmt.Errorf("%w: truncated frame: the stream ended %d bytes into a %d-byte header: %w",
			ErrProtocol, n, headerLen, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return frame{}, buf, err
	}
	size := binary.BigEndian.Uint32(h[0:4])
	f := frame{typ: h[4], id: binary.BigEndian.Uint32(h[5:9])}
	if size > MaxPayload {
		return frame{}, buf, protoErr("%s frame announces a %d-byte payload, over the %d-byte limit", frameName(f.typ), size, MaxPayload)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	f.payload = buf[:size]
	if n, err := io.ReadFull(r, f.payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return frame{}, buf, fmt.Errorf("%w: truncated %s frame: the stream ended after %d of %d payload bytes: %w",
				ErrProtocol, frameName(f.typ), n, size, io.ErrUnexpectedEOF)
		}
		return frame{}, buf, err
	}
	return f, buf, nil
}

// writeFrame writes one frame whose payload is the concatenation of parts.
func writeFrame(w *bufio.Writer, typ byte, id uint32, parts ...[]byte) error {
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	if size > MaxPayload {
		// Only a bug can get here: data frames are at most ChunkSize and
		// other payloads are small.
		return fmt.Errorf("remote: %s frame of %d bytes is over the limit", frameName(typ), size)
	}
	var h [headerLen]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(size))
	h[4] = typ
	binary.BigEndian.PutUint32(h[5:9], id)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// enc builds a payload.
type enc []byte

func (e enc) u8(v byte) enc     { return append(e, v) }
func (e enc) i64(v int64) enc   { return binary.BigEndian.AppendUint64(e, uint64(v)) }
func (e enc) str8(s string) enc { return append(append(e, byte(len(s))), s...) }
func (e enc) str16(s string) enc {
	return append(binary.BigEndian.AppendUint16(e, uint16(len(s))), s...)
}

// handle encodes h. Handles are validated before they are sent, so the
// type fits in 255 bytes and the name in 65535; a peer that sends more is
// refused by the decoder on the other side.
func (e enc) handle(h backend.Handle) enc { return e.str8(string(h.Type)).str16(h.Name) }

// dec reads a payload; the first error sticks and later reads return
// zero values, so a decoder is a sequence of reads and one check.
type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = protoErr("short payload: %d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *dec) u16() int {
	if v := d.take(2); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (d *dec) i64() int64 {
	if v := d.take(8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (d *dec) str8() string  { return string(d.take(int(d.u8()))) }
func (d *dec) str16() string { return string(d.take(d.u16())) }

func (d *dec) handle() backend.Handle {
	t := d.str8()
	return backend.Handle{Type: backend.FileType(t), Name: d.str16()}
}

// done reports a decoding error or trailing bytes.
func (d *dec) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = protoErr("%d unexpected bytes at the end of a payload", len(d.b))
	}
	return d.err
}

// Error kinds: the sentinels an error matched on the server, so that
// errors.Is gives the same answer on the client.
const (
	kindNotExist byte = 1 << iota
	kindExists
	kindNotWritable
	kindUnexpectedEOF
	kindCanceled
	kindDeadline
)

// kinds maps each bit to what a server error matches (match) and what the
// client's RemoteError then matches (err).
var kinds = []struct {
	bit        byte
	match, err error
}{
	{kindNotExist, backend.ErrNotExist, backend.ErrNotExist},
	{kindExists, backend.ErrExists, backend.ErrExists},
	{kindNotWritable, backend.ErrNotWritable, backend.ErrNotWritable},
	{kindUnexpectedEOF, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
	{kindCanceled, context.Canceled, errCanceledSentinel},
	{kindDeadline, context.DeadlineExceeded, errDeadlineSentinel},
}

// The far end's cancellations are its own: a client must not mistake
// them for its ctx ending, so they do not match context.Canceled.
var (
	errCanceledSentinel = errors.New("canceled on the server")
	errDeadlineSentinel = errors.New("deadline exceeded on the server")
)

func errorKinds(err error) byte {
	var k byte
	for _, s := range kinds {
		if errors.Is(err, s.match) {
			k |= s.bit
		}
	}
	return k
}

// RemoteError is an error that happened on the far end, carried back with
// the sentinels it matched there (backend.ErrNotExist, ErrExists,
// ErrNotWritable, io.ErrUnexpectedEOF) so errors.Is works here.
type RemoteError struct {
	Msg   string
	kinds byte
}

func (e *RemoteError) Error() string { return e.Msg }

// Unwrap returns the sentinels the error matched on the far end.
func (e *RemoteError) Unwrap() []error {
	var errs []error
	for _, k := range kinds {
		if e.kinds&k.bit != 0 {
			errs = append(errs, k.err)
		}
	}
	return errs
}

func encodeError(err error) enc {
	msg := err.Error()
	// Keep the frame within bounds whatever the message.
	if len(msg) > 64<<10 {
		msg = msg[:64<<10] + "..."
	}
	return enc(nil).u8(errorKinds(err)).append(msg)
}

func (e enc) append(s string) enc { return append(e, s...) }

func decodeError(p []byte) error {
	if len(p) == 0 {
		return protoErr("empty error frame")
	}
	return &RemoteError{Msg: string(p[1:]), kinds: p[0]}
}

// int64ToInt converts a load length from the wire.
func int64ToInt(v int64) (int, bool) {
	if v > math.MaxInt || v < math.MinInt {
		return 0, false
	}
	return int(v), true
}
