package snapfmt

import (
	"bytes"
	"io"
	"strconv"
)

// Span is where one member lies in an uncompressed stream.
type Span struct {
	Name   string
	Header int64 // offset of its first header block (the PAX extended header)
	Data   int64 // offset of the first byte of its content
	Size   int64 // bytes of content
}

// End is the offset just past the member's padding, where the next
// member's header begins.
func (s Span) End() int64 { return align(s.Data + s.Size) }

// maxHeaders bounds the header blocks and extended records of one member
// a SpanReader collects: the Writer's take about 1.5 KiB.
const maxHeaders = 1 << 20

// SpanReader passes a stream through unchanged and tells where its
// members lie, for a caller that handles the raw bytes (dr-ship put cuts
// chunks at member boundaries). It calls fn with each member's Span as
// soon as the member's headers have been read, before any byte of its
// content. It reads only the tar headers, loosely, and checks nothing
// else (a Reader does): on the first thing it does not understand (a
// gzip stream, anything but tar) and after the end of the archive it
// stops calling fn and only passes the bytes through.
type SpanReader struct {
	r    io.Reader
	fn   func(Span)
	off  int64  // bytes read so far
	next int64  // offset of the headers being collected, or of the next ones
	hdr  []byte // the bytes from next on, while collecting headers
	need int    // bytes of hdr wanted before the next step
	pos  int    // offset in hdr of the header block to parse
	ext  [][2]int
	done bool
}

// NewSpanReader returns a SpanReader reading r.
func NewSpanReader(r io.Reader, fn func(Span)) *SpanReader {
	return &SpanReader{r: r, fn: fn, need: blockSize}
}

func (s *SpanReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && !s.done {
		s.scan(p[:n])
	}
	s.off += int64(n)
	return n, err
}

// scan looks at b, the bytes at stream offset s.off.
func (s *SpanReader) scan(b []byte) {
	off := s.off
	for len(b) > 0 && !s.done {
		if off < s.next { // content or padding
			k := int(min(int64(len(b)), s.next-off))
			b, off = b[k:], off+int64(k)
			continue
		}
		k := min(len(b), s.need-len(s.hdr))
		s.hdr = append(s.hdr, b[:k]...)
		b, off = b[k:], off+int64(k)
		if len(s.hdr) == s.need {
			s.step()
		}
	}
}

// step parses the header block at s.pos, which s.hdr now holds (with the
// records of any extended header before it).
func (s *SpanReader) step() {
	h := s.hdr[s.pos : s.pos+blockSize]
	if s.pos == 0 && isZero(h) { // the end of the archive
		s.stop()
		return
	}
	if string(h[257:263]) != "ustar\x00" {
		s.stop()
		return
	}
	size, ok := parseOctal(h[124:136])
	switch h[156] {
	case 'x', 'g', 'L', 'K': // an extended header: records, then the next header
		if !ok || size > maxHeaders || s.pos+2*blockSize+int(align(size)) > maxHeaders {
			s.stop()
			return
		}
		if h[156] == 'x' {
			s.ext = append(s.ext, [2]int{s.pos + blockSize, int(size)})
		}
		s.pos += blockSize + int(align(size))
		s.need = s.pos + blockSize
		return
	}
	name := string(h[:cstrLen(h[:100])])
	if prefix := h[345:500]; prefix[0] != 0 {
		name = string(prefix[:cstrLen(prefix)]) + "/" + name
	}
	for _, e := range s.ext {
		for k, v := range paxRecords(s.hdr[e[0] : e[0]+e[1]]) {
			switch k {
			case "path":
				name = v
			case "size":
				n, err := strconv.ParseInt(v, 10, 64)
				size, ok = n, err == nil && n >= 0
			}
		}
	}
	if !ok {
		s.stop()
		return
	}
	sp := Span{Name: name, Header: s.next, Data: s.next + int64(s.pos) + blockSize, Size: size}
	s.next = sp.End()
	s.hdr, s.pos, s.need, s.ext = s.hdr[:0], 0, blockSize, s.ext[:0]
	s.fn(sp)
}

func (s *SpanReader) stop() {
	s.done, s.hdr, s.ext = true, nil, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func cstrLen(b []byte) int {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return i
	}
	return len(b)
}

// paxRecords returns the "LEN KEY=VALUE\n" records of a PAX extended
// header, as many as parse.
func paxRecords(b []byte) map[string]string {
	out := map[string]string{}
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 1 {
			break
		}
		n, err := strconv.Atoi(string(b[:sp]))
		if err != nil || n <= sp+1 || n > len(b) || b[n-1] != '\n' {
			break
		}
		k, v, ok := bytes.Cut(b[sp+1:n-1], []byte{'='})
		if !ok {
			break
		}
		out[string(k)] = string(v)
		b = b[n:]
	}
	return out
}
