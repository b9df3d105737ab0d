package snapfmt

import (
	"archive/tar"
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/zeebo/blake3"
)

// Reader reads a snapshot stream and verifies it as it goes: a member's
// content against the BLAKE3 in its header, the members against the
// manifest, and, at the end, the whole stream against SUMS.json. Next
// returns io.EOF only when all of that holds. A Reader is not safe for
// concurrent use.
//
// Errors about the stream are *FormatError (wrapping ErrChecksum,
// ErrTruncated or ErrVersion where they apply); an error of the
// underlying reader comes back wrapped, but not as a *FormatError, since
// reading again may help. Once Next has failed it keeps failing.
type Reader struct {
	src *srcReader
	gz  *gzip.Reader // nil for a plain stream
	cnt *counter     // the uncompressed tar stream
	tr  *tar.Reader

	man     *Manifest
	manHash string // BLAKE3 of MANIFEST.json, which SUMS.json repeats
	idx     *index
	sums    *Sums
	seen    []Sum // verified members, in stream order

	last string        // the last member whose header was read, for messages
	cur  *memberReader // the member Next returned last
	err  error         // sticky; io.EOF after a verified end
}

// NewReader starts reading a stream, plain or gzip (told apart by the
// gzip magic), and reads and verifies MANIFEST.json. A stream of a newer
// format gives a *FormatError wrapping ErrVersion.
func NewReader(r io.Reader) (*Reader, error) {
	src := &srcReader{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	rd := &Reader{src: src}
	var in io.Reader = br
	magic, err := br.Peek(2)
	switch {
	case len(magic) == 0 && err == io.EOF:
		return nil, &FormatError{Offset: 0, Err: truncated("the stream is empty")}
	case len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, rd.streamError(fmt.Errorf("gzip: %w", err), "", 0, "in the gzip header")
		}
		rd.gz, in = gz, gz
	}
	rd.cnt = &counter{r: in}
	rd.tr = tar.NewReader(rd.cnt)
	if err := rd.readManifest(); err != nil {
		rd.close()
		return nil, err
	}
	return rd, nil
}

// Manifest returns the stream's manifest, verified against its BLAKE3.
func (r *Reader) Manifest() *Manifest { return r.man }

// ID is the BLAKE3 of MANIFEST.json, lowercase hex: it names the
// snapshot (two streams with the same ID are the same snapshot, whatever
// their compression), and SUMS.json repeats it.
func (r *Reader) ID() string { return r.manHash }

// Sums returns SUMS.json once Next has returned io.EOF, else nil.
func (r *Reader) Sums() *Sums { return r.sums }

// Sum returns what the stream says of the member Next returned last: its
// name, stored BLAKE3, size and rows.
func (r *Reader) Sum() Sum {
	if r.cur == nil {
		return Sum{}
	}
	return r.cur.sum
}

// Close releases the decompressor. It does not close the underlying
// reader. Reading to io.EOF or to an error releases it too.
func (r *Reader) Close() error {
	r.close()
	if r.err == nil {
		r.err = errors.New("snapshot reader is closed")
	}
	return nil
}

func (r *Reader) close() {
	if r.gz != nil {
		r.gz.Close()
	}
}

// fail makes err sticky and returns it.
func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
		r.close()
	}
	return r.err
}

// Next moves to the next member and returns it with a reader of its
// content. That reader hashes what it returns and, at the end of the
// member, returns an error wrapping ErrChecksum instead of io.EOF if the
// content does not match: a caller streaming it somewhere learns only at
// the end. Use NextBytes to act on verified content only. Next verifies
// and skips what the caller left unread of the previous member.
//
// After the last member Next returns io.EOF, but only when SUMS.json is
// present, agrees with every member, and nothing follows it.
func (r *Reader) Next() (Member, io.Reader, error) {
	m, err := r.next()
	if err != nil {
		return Member{}, nil, err
	}
	return m, r.cur, nil
}

// NextBytes reads the next member whole and verifies it before returning
// it: what it returns can be applied. The slice is new on every call.
func (r *Reader) NextBytes() (Member, []byte, error) {
	m, err := r.next()
	if err != nil {
		return Member{}, nil, err
	}
	data, err := r.cur.readAll()
	if err != nil {
		return Member{}, nil, err
	}
	return m, data, nil
}

func (r *Reader) next() (Member, error) {
	if r.err != nil {
		return Member{}, r.err
	}
	if r.cur != nil && r.cur.err == nil {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return Member{}, err
		}
	}
	m, err := r.nextMember()
	if err != nil {
		return Member{}, r.fail(err)
	}
	return m, nil
}

// header reads the next tar header. It returns io.EOF only at a clean end
// of the tar stream; any other error is already described. It also checks
// what archive/tar skips without looking, the zero padding after the
// previous member's content and after each PAX record block, so that a
// flipped byte anywhere in the stream is an error.
func (r *Reader) header() (*tar.Header, int64, error) {
	start := r.cnt.n
	off := align(start)
	r.cnt.rec = r.cnt.rec[:0]
	r.cnt.recording = true
	hdr, err := r.tr.Next()
	r.cnt.recording = false
	if err == io.EOF {
		return nil, off, io.EOF
	}
	if err != nil {
		where := "in the tar header after this member"
		if r.last == "" {
			where = "in the first tar header"
		}
		return nil, off, r.streamError(err, r.last, off, where)
	}
	if err := checkPadding(r.cnt.rec, start); err != nil {
		return nil, off, &FormatError{Member: r.last, Offset: off, Err: fmt.Errorf("after this member: %w", err)}
	}
	return hdr, off, nil
}

func (r *Reader) readManifest() error {
	hdr, off, err := r.header()
	if err == io.EOF {
		return &FormatError{Offset: 0, Err: truncated("the tar stream has no members")}
	}
	if err != nil {
		if fe := (*FormatError)(nil); errors.As(err, &fe) && errors.Is(err, tar.ErrHeader) {
			fe.Err = fmt.Errorf("not a snapshot stream (%w)", fe.Err)
		}
		return err
	}
	bad := func(err error) error { return &FormatError{Member: ManifestName, Offset: off, Err: err} }
	if hdr.Name != ManifestName {
		return &FormatError{Member: hdr.Name, Offset: off, Err: fmt.Errorf("not a snapshot stream: the first member is not %s", ManifestName)}
	}
	if hdr.Typeflag != tar.TypeReg {
		return bad(fmt.Errorf("tar entry of type %q, want a regular file", hdr.Typeflag))
	}
	r.last = ManifestName
	// The version first, before anything a newer format may have changed
	// (how it hashes, what its header holds).
	mr := r.newMember(hdr, off, Sum{Name: ManifestName, Size: hdr.Size})
	b, err := mr.readRaw()
	if err != nil {
		return err
	}
	if v := peekFormat(b); v > FormatVersion {
		return bad(&versionError{Got: v})
	}
	want, _, err := paxSums(hdr, false)
	if err != nil {
		return bad(err)
	}
	mr.sum.BLAKE3 = want
	sum := blake3.Sum256(b)
	if err := mr.verify(sum[:]); err != io.EOF {
		return err
	}
	r.manHash = want
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return bad(fmt.Errorf("not valid JSON: %w", err))
	}
	if m.Format != FormatVersion {
		return bad(fmt.Errorf("format %d is not a snapshot format (this dr reads %d)", m.Format, FormatVersion))
	}
	idx, err := newIndex(&m)
	if err != nil {
		return bad(err)
	}
	r.man, r.idx = &m, idx
	return nil
}

// peekFormat returns the "format" of a manifest, or 0 if b has none.
func peekFormat(b []byte) int {
	var v struct {
		Format int `json:"format"`
	}
	if json.Unmarshal(b, &v) != nil {
		return 0
	}
	return v.Format
}

func (r *Reader) nextMember() (Member, error) {
	hdr, off, err := r.header()
	if err == io.EOF {
		return Member{}, &FormatError{Member: r.last, Offset: off, Err: truncated("the stream ends after this member, without %s", SumsName)}
	}
	if err != nil {
		return Member{}, err
	}
	if hdr.Name == SumsName {
		return Member{}, r.readSums(hdr, off)
	}
	r.last = hdr.Name
	bad := func(err error) (Member, error) {
		return Member{}, &FormatError{Member: hdr.Name, Offset: off, Err: err}
	}
	if hdr.Name == ManifestName {
		return bad(fmt.Errorf("appears twice"))
	}
	m, err := ParseName(hdr.Name)
	if err != nil {
		return bad(err)
	}
	hash, rows, err := paxSums(hdr, m.Kind == KindData)
	if err != nil {
		return bad(err)
	}
	if err := r.idx.admit(m, hdr.Name); err != nil {
		return bad(err)
	}
	r.newMember(hdr, off, Sum{Name: hdr.Name, BLAKE3: hash, Size: hdr.Size, Rows: rows})
	return m, nil
}

// paxSums returns the BLAKE3 and the row count a member's header carries
// and checks the entry is a plain file.
func paxSums(hdr *tar.Header, data bool) (string, int64, error) {
	if hdr.Typeflag != tar.TypeReg {
		return "", 0, fmt.Errorf("tar entry of type %q, want a regular file", hdr.Typeflag)
	}
	hash, ok := hdr.PAXRecords[PAXBlake3]
	if !ok {
		return "", 0, fmt.Errorf("no %s record in its tar header", PAXBlake3)
	}
	if len(hash) != 64 || !isLowerHex(hash) {
		return "", 0, fmt.Errorf("%s record %q is not 64 lowercase hex digits", PAXBlake3, hash)
	}
	s, ok := hdr.PAXRecords[PAXRows]
	if !data {
		if ok {
			return "", 0, fmt.Errorf("%s record in a member that is not data", PAXRows)
		}
		return hash, 0, nil
	}
	if !ok {
		return "", 0, fmt.Errorf("no %s record in its tar header", PAXRows)
	}
	rows, err := strconv.ParseInt(s, 10, 64)
	if err != nil || rows < 0 || strconv.FormatInt(rows, 10) != s {
		return "", 0, fmt.Errorf("%s record %q is not a row count", PAXRows, s)
	}
	return hash, rows, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// readSums reads and checks SUMS.json and the end of the stream.
func (r *Reader) readSums(hdr *tar.Header, off int64) error {
	bad := func(err error) error { return &FormatError{Member: SumsName, Offset: off, Err: err} }
	want, _, err := paxSums(hdr, false)
	if err != nil {
		return bad(err)
	}
	r.last = SumsName
	mr := r.newMember(hdr, off, Sum{Name: SumsName, BLAKE3: want, Size: hdr.Size})
	b, err := mr.readAll()
	if err != nil {
		return err
	}
	var s Sums
	if err := json.Unmarshal(b, &s); err != nil {
		return bad(fmt.Errorf("not valid JSON: %w", err))
	}
	if err := r.checkSums(&s); err != nil {
		return bad(err)
	}
	if err := r.idx.complete(); err != nil {
		return bad(fmt.Errorf("the stream does not hold what its manifest lists: %w", err))
	}
	if err := r.end(); err != nil {
		return err
	}
	r.sums = &s
	return io.EOF
}

// checkSums compares SUMS.json with the members read.
func (r *Reader) checkSums(s *Sums) error {
	if s.ManifestBLAKE3 != r.manHash {
		return fmt.Errorf("manifest BLAKE3 %s differs from %s's, %s: the two are from different snapshots", s.ManifestBLAKE3, ManifestName, r.manHash)
	}
	for i, got := range r.seen {
		if i >= len(s.Members) {
			return fmt.Errorf("lists %d members; the stream holds %d (first unlisted: %q)", len(s.Members), len(r.seen), got.Name)
		}
		want := s.Members[i]
		switch {
		case want.Name != got.Name:
			return fmt.Errorf("member %d is %q, the stream holds %q there", i+1, want.Name, got.Name)
		case want.BLAKE3 != got.BLAKE3:
			return fmt.Errorf("member %q: BLAKE3 %s, the stream holds %s", got.Name, want.BLAKE3, got.BLAKE3)
		case want.Size != got.Size:
			return fmt.Errorf("member %q: %d bytes, the stream holds %d", got.Name, want.Size, got.Size)
		case want.Rows != got.Rows:
			return fmt.Errorf("member %q: %d rows, its header says %d", got.Name, want.Rows, got.Rows)
		}
	}
	if len(s.Members) > len(r.seen) {
		return fmt.Errorf("lists %d members; the stream holds %d (first missing: %q)", len(s.Members), len(r.seen), s.Members[len(r.seen)].Name)
	}
	if err := s.checkTotals(); err != nil {
		return err
	}
	if s.LockTime < 0 {
		return fmt.Errorf("negative lock time %v", s.LockTime)
	}
	return nil
}

// end checks that SUMS.json is followed by the end-of-archive marker and
// by nothing but zeros (padding some tools add), and reads the input to
// its end so that gzip checks its trailer.
func (r *Reader) end() error {
	dataEnd := r.cnt.n
	hdr, off, err := r.header()
	if err == nil {
		return &FormatError{Member: hdr.Name, Offset: off, Err: fmt.Errorf("follows %s", SumsName)}
	}
	if err != io.EOF {
		return err
	}
	// archive/tar also says io.EOF when the input just stops: insist on
	// the two zero blocks.
	if r.cnt.n != align(dataEnd)+2*blockSize {
		return &FormatError{Member: SumsName, Offset: off, Err: truncated("the stream ends without the tar end-of-archive marker")}
	}
	if err := checkZeros(r.cnt.rec); err != nil {
		return &FormatError{Member: SumsName, Offset: off, Err: fmt.Errorf("after this member: %w", err)}
	}
	buf := make([]byte, 4<<10)
	for {
		n, err := r.cnt.Read(buf)
		for i, c := range buf[:n] {
			if c != 0 {
				return &FormatError{Offset: r.cnt.n - int64(n) + int64(i), Err: fmt.Errorf("data after the end of the snapshot")}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return r.streamError(err, SumsName, off, "after the end of the tar stream")
		}
	}
}

// streamError describes an error of the layers under tar: the caller's
// reader (an I/O error, not a FormatError), gzip, or the tar format.
func (r *Reader) streamError(err error, member string, off int64, where string) error {
	if r.src.err != nil {
		if member == "" {
			return fmt.Errorf("read snapshot stream: %w", r.src.err)
		}
		return fmt.Errorf("read snapshot stream after member %q: %w", member, r.src.err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = truncated("the stream ends %s", where)
	}
	return &FormatError{Member: member, Offset: off, Err: err}
}

// memberReader returns one member's content, hashing it on the way.
type memberReader struct {
	r    *Reader
	off  int64
	sum  Sum // as the header states it
	h    *blake3.Hasher
	left int64
	err  error // io.EOF once read and verified, or why not
}

func (r *Reader) newMember(hdr *tar.Header, off int64, s Sum) *memberReader {
	mr := &memberReader{r: r, off: off, sum: s, left: hdr.Size}
	r.cur = mr
	return mr
}

func (mr *memberReader) Read(p []byte) (int, error) {
	if mr.r.cur != mr {
		return 0, fmt.Errorf("snapshot member %q: read after Next moved on", mr.sum.Name)
	}
	if mr.err != nil {
		return 0, mr.err
	}
	if mr.h == nil {
		mr.h = blake3.New()
	}
	n, err := mr.r.tr.Read(p)
	mr.h.Write(p[:n])
	mr.left -= int64(n)
	if err == io.EOF || err == nil && mr.left == 0 {
		return n, mr.verify(mr.h.Sum(nil))
	}
	if err != nil {
		mr.err = mr.r.fail(mr.r.streamError(err, mr.sum.Name, mr.off, "inside this member"))
		return n, mr.err
	}
	return n, nil
}

// readRaw reads the whole member into a new slice without verifying it.
// A header claiming a huge size costs memory only as data arrives.
func (mr *memberReader) readRaw() ([]byte, error) {
	buf := make([]byte, min(mr.left, 16<<20))
	n := 0
	for mr.left > 0 {
		if n == len(buf) {
			more := min(int64(n), mr.left)
			buf = append(buf, make([]byte, more)...)
		}
		k, err := mr.r.tr.Read(buf[n:])
		n += k
		mr.left -= int64(k)
		if err == io.EOF && mr.left > 0 {
			err = io.ErrUnexpectedEOF // archive/tar says so itself; be sure
		}
		if err != nil && err != io.EOF {
			mr.err = mr.r.fail(mr.r.streamError(err, mr.sum.Name, mr.off, "inside this member"))
			return nil, mr.err
		}
	}
	return buf[:n], nil
}

// readAll reads the whole member and verifies it.
func (mr *memberReader) readAll() ([]byte, error) {
	b, err := mr.readRaw()
	if err != nil {
		return nil, err
	}
	sum := blake3.Sum256(b)
	if err := mr.verify(sum[:]); err != io.EOF {
		return nil, err
	}
	return b, nil
}

// verify checks the hash at the end of the member, and returns io.EOF
// when it matches.
func (mr *memberReader) verify(sum []byte) error {
	got := hex.EncodeToString(sum)
	if got != mr.sum.BLAKE3 {
		mr.err = mr.r.fail(&FormatError{Member: mr.sum.Name, Offset: mr.off, Err: &checksumError{Stored: mr.sum.BLAKE3, Computed: got}})
		return mr.err
	}
	mr.err = io.EOF
	switch mr.sum.Name {
	case ManifestName, SumsName:
	default:
		mr.r.seen = append(mr.r.seen, mr.sum)
	}
	return io.EOF
}
