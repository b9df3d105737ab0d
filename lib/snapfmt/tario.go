package snapfmt

import (
	"bytes"
	"fmt"
	"io"
)

const blockSize = 512 // tar's block

// align rounds a tar stream offset up to the next block.
func align(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

// srcReader remembers the first error of the caller's reader, so that an
// I/O failure is not mistaken for a corrupt stream.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// counter sits between archive/tar and the uncompressed stream. It counts
// bytes, which gives members their offsets, and while recording keeps
// what archive/tar reads for a header: archive/tar reads exactly the
// blocks it needs, so the record is the previous member's padding and
// the header blocks, nothing more.
type counter struct {
	r         io.Reader
	n         int64
	recording bool
	rec       []byte
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.recording {
		c.rec = append(c.rec, p[:n]...)
	}
	return n, err
}

// checkPadding checks the bytes archive/tar consumed for one header, rec,
// starting at stream offset start: the previous member's padding, then
// header blocks, each extended header (PAX 'x' and 'g', GNU 'L' and 'K')
// followed by its records and their padding. archive/tar verifies the
// header checksums and parses the records, but skips padding unseen;
// checking it too means no single byte of a stream can change unnoticed.
func checkPadding(rec []byte, start int64) error {
	pad := int(align(start) - start)
	if len(rec) < pad {
		return fmt.Errorf("tar padding is short")
	}
	if err := checkZeros(rec[:pad]); err != nil {
		return err
	}
	for p := pad; ; {
		if len(rec)-p < blockSize {
			return fmt.Errorf("unexpected tar header layout")
		}
		h := rec[p : p+blockSize]
		p += blockSize
		if err := checkChksumField(h[148:156]); err != nil {
			return err
		}
		switch h[156] { // typeflag
		case 'x', 'g', 'L', 'K':
			size, ok := parseOctal(h[124:136])
			if !ok || size > int64(len(rec)-p) {
				return fmt.Errorf("unexpected tar header layout")
			}
			end := p + int(align(size))
			if end > len(rec) {
				return fmt.Errorf("unexpected tar header layout")
			}
			if err := checkZeros(rec[p+int(size) : end]); err != nil {
				return err
			}
			p = end
		default:
			if p != len(rec) {
				return fmt.Errorf("unexpected tar header layout")
			}
			return nil
		}
	}
}

// checkZeros says whether b is all zero, as tar padding must be.
func checkZeros(b []byte) error {
	for i, c := range b {
		if c != 0 {
			return fmt.Errorf("tar padding holds a non-zero byte (%d bytes from its start)", i)
		}
	}
	return nil
}

// parseOctal parses a tar numeric field as archive/tar writes it: octal
// digits, ended by NUL or space.
func parseOctal(f []byte) (int64, bool) {
	f = bytes.TrimRight(f, " \x00")
	f = bytes.TrimLeft(f, " ")
	if len(f) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range f {
		if c < '0' || c > '7' || n > 1<<40 {
			return 0, false
		}
		n = n<<3 | int64(c-'0')
	}
	return n, true
}

// checkChksumField insists on the header checksum field as tar writers
// write it, six octal digits, NUL, space: archive/tar also accepts
// leading spaces and NULs, so a flipped bit there would go unnoticed.
func checkChksumField(f []byte) error {
	for _, c := range f[:6] {
		if c < '0' || c > '7' {
			return fmt.Errorf("tar header checksum field %q is not six octal digits", f)
		}
	}
	if f[6] != 0 || f[7] != ' ' {
		return fmt.Errorf("tar header checksum field %q does not end in NUL, space", f)
	}
	return nil
}
