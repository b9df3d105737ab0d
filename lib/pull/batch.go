package pull

import "github.com/dr-mysql/dr/lib/binlogstream"

// batch is a run of events read off the socket in one go, kept in one
// buffer that goes back to the reader once written: the hot path of a
// pull allocates nothing per event.
type batch struct {
	events []binlogstream.Event
	buf    []byte
}

const batchBuf = 4 << 20 // events larger than a quarter of this get their own slice

func newBatch(free chan *batch) *batch {
	select {
	case b := <-free:
		return b
	default:
		return &batch{buf: make([]byte, 0, batchBuf)}
	}
}

func (b *batch) alloc(n int) []byte {
	if n > batchBuf/4 || n > cap(b.buf)-len(b.buf) {
		return make([]byte, n)
	}
	off := len(b.buf)
	b.buf = b.buf[:off+n]
	return b.buf[off : off+n : off+n]
}

// full reports whether another event might not fit.
func (b *batch) full() bool { return cap(b.buf)-len(b.buf) < batchBuf/4 }

func (b *batch) recycle(free chan *batch) {
	clear(b.events)
	b.events, b.buf = b.events[:0], b.buf[:0]
	select {
	case free <- b:
	default:
	}
}
