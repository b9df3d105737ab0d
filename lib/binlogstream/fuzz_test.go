package binlogstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// FuzzReadPacket feeds an arbitrary byte stream to Next. The first byte
// turns semi-sync on or off; the rest is what the socket delivers. Next
// must not panic, must end (every packet consumes at least its 4-byte
// header), and must not ask alloc for more than the stream can hold plus
// one maximal packet.
func FuzzReadPacket(f *testing.F) {
	var seed []byte
	for i, ev := range realEvents(f) {
		seed = append(seed, packets(byte(i), okEvent(ev))...)
	}
	f.Add(append([]byte{0}, seed...))
	f.Add(append([]byte{1}, packets(1, append([]byte{0, 0xef, 1}, realEvents(f)[2]...))...))
	f.Add(append([]byte{0}, packets(1, append([]byte{0xff, 0xd4, 0x04, '#', 'H', 'Y', '0', '0', '0'}, "gone"...))...))
	f.Add([]byte{0, 1, 0, 0, 1, 0xfe})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0})
	// One buffer for all inputs: a random length field asks for up to
	// 16 MiB, and allocating that afresh per input would stall the fuzzer.
	buf := make([]byte, maxPacketPayload)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		cfg := Config{SemiSync: data[0]&1 != 0}
		stream := data[1:]
		s := &Stream{r: bufio.NewReader(bytes.NewReader(stream)), cfg: cfg, semi: cfg.SemiSync}
		var asked int
		alloc := func(n int) []byte {
			if n < 0 || n >= maxPacketPayload {
				t.Fatalf("alloc(%d)", n)
			}
			asked += n
			return buf[:n]
		}
		for i := 0; ; i++ {
			if i > len(stream)/4+1 {
				t.Fatalf("%d events from %d bytes", i, len(stream))
			}
			ev, err := s.Next(alloc)
			if err == nil {
				if len(ev.Data) > len(stream) {
					t.Fatalf("event of %d bytes from a %d-byte stream", len(ev.Data), len(stream))
				}
				continue
			}
			var me *mysql.MyError
			switch {
			case err == io.EOF, errors.As(err, &me), errors.Is(err, ErrLost):
			case errors.Is(err, ErrTimeout):
				t.Fatalf("timeout without a deadline: %v", err)
			default:
				// malformed packets: empty, unknown header byte, long 0xfe
			}
			break
		}
		if asked > len(stream)+maxPacketPayload {
			t.Fatalf("alloc asked for %d bytes from a %d-byte stream", asked, len(stream))
		}
	})
}
