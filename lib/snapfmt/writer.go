package snapfmt

import (
	"archive/tar"
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/zeebo/blake3"
)

// gzipBlock is the size of the blocks pgzip compresses independently. It
// is fixed, not an option, because it shapes the compressed bytes: the
// same stream compressed at the same level gives the same bytes whatever
// the concurrency.
const gzipBlock = 1 << 20

// WriterOptions say how a stream is written.
type WriterOptions struct {
	Compress    bool // gzip the stream with pgzip
	Level       int  // gzip level 1 (fastest) to 9 (smallest); 0 means pgzip.DefaultCompression
	Concurrency int  // 1 MiB blocks compressed at once; 0 means GOMAXPROCS
}

// Writer writes a snapshot stream. Add may be called from several
// goroutines at once: members are hashed in the caller's goroutine, in
// parallel, and written one at a time, in the order their Adds take the
// writer's lock. Callers that need an order (a table's schema before its
// data) get it by calling Add in that order from one goroutine.
type Writer struct {
	mu   sync.Mutex
	gz   *pgzip.Writer // nil when not compressing
	bw   *bufio.Writer // under tar, over gz or the caller's writer
	tw   *tar.Writer
	idx  *index
	man  string // BLAKE3 of MANIFEST.json
	sums []Sum
	err  error // sticky: the first failure, or errClosed
}

var errClosed = errors.New("snapshot writer is closed")

// NewWriter starts a stream on w and writes MANIFEST.json at once. It
// sets m.Format. The caller's writer is never closed by this package.
func NewWriter(w io.Writer, m *Manifest, opt WriterOptions) (*Writer, error) {
	m.Format = FormatVersion
	idx, err := newIndex(m)
	if err != nil {
		return nil, err
	}
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	man = append(man, '\n')

	sw := &Writer{idx: idx}
	out := w
	if opt.Compress {
		level := opt.Level
		if level == 0 {
			level = pgzip.DefaultCompression
		}
		gz, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		blocks := opt.Concurrency
		if blocks <= 0 {
			blocks = runtime.GOMAXPROCS(0)
		}
		if err := gz.SetConcurrency(gzipBlock, blocks); err != nil {
			return nil, err
		}
		// No time in the gzip header either: same input, same bytes.
		gz.ModTime = time.Unix(0, 0)
		sw.gz, out = gz, gz
	}
	sw.bw = bufio.NewWriterSize(out, 256<<10)
	sw.tw = tar.NewWriter(sw.bw)

	sum := blake3.Sum256(man)
	sw.man = hex.EncodeToString(sum[:])
	if err := sw.writeMember(ManifestName, man, sw.man, -1); err != nil {
		sw.release()
		return nil, fmt.Errorf("write %s: %w", ManifestName, err)
	}
	return sw, nil
}

// Add writes one member whole. data is not retained. rows is the number
// of rows in a data member's INSERTs, 0 for every other kind. The member
// must be one the manifest announces, in an order a restore can apply: a
// database's KindDatabase member before its other members, a table's
// KindTable member before its data.
//
// Any failed Add aborts the writer: every later Add and Close returns the
// same error and the stream never gets its SUMS.json.
func (w *Writer) Add(m Member, data []byte, rows int64) error {
	name, err := m.Name()
	if err != nil {
		err = fmt.Errorf("invalid snapshot member: %w", err)
	}
	if err == nil && rows < 0 {
		err = fmt.Errorf("snapshot member %q: negative row count %d", name, rows)
	}
	if err == nil && rows != 0 && m.Kind != KindData {
		err = fmt.Errorf("snapshot member %q: %d rows in a %s member", name, rows, m.Kind)
	}
	var hash string
	if err == nil {
		// Outside the lock: concurrent Adds hash in parallel.
		sum := blake3.Sum256(data)
		hash = hex.EncodeToString(sum[:])
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err != nil {
		w.err = err
		return err
	}
	if err := w.idx.admit(m, name); err != nil {
		w.err = fmt.Errorf("snapshot member %q: %w", name, err)
		return w.err
	}
	if m.Kind != KindData {
		rows = -1 // no DR.rows record
	}
	if err := w.writeMember(name, data, hash, rows); err != nil {
		w.err = fmt.Errorf("write snapshot member %q: %w", name, err)
		return w.err
	}
	w.sums = append(w.sums, Sum{Name: name, BLAKE3: hash, Size: int64(len(data)), Rows: max(rows, 0)})
	return nil
}

// writeMember writes one tar entry. Every header field that could vary
// is pinned, so the entry's bytes depend only on name, data and rows:
// mtime 0, mode 0644, uid/gid 0, no user or group names, no atime or
// ctime; archive/tar writes PAX records sorted by key.
func (w *Writer) writeMember(name string, data []byte, hash string, rows int64) error {
	pax := map[string]string{PAXBlake3: hash}
	if rows >= 0 {
		pax[PAXRows] = strconv.FormatInt(rows, 10)
	}
	hdr := &tar.Header{
		Typeflag:   tar.TypeReg,
		Name:       name,
		Size:       int64(len(data)),
		Mode:       0o644,
		ModTime:    time.Unix(0, 0),
		Format:     tar.FormatPAX,
		PAXRecords: pax,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := w.tw.Write(data)
	return err
}

// Close checks that every member the manifest announces was added,
// writes SUMS.json and ends the tar and gzip streams. The caller gives
// s.Finished and s.LockTime; Close fills in the rest of s, so the caller
// can print the totals. A Close that fails leaves a stream without
// SUMS.json, which every reader refuses.
func (w *Writer) Close(s *Sums) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.err = errClosed
	if err := w.idx.complete(); err != nil {
		w.err = fmt.Errorf("snapshot incomplete: %w", err)
		w.release()
		return w.err
	}
	s.ManifestBLAKE3 = w.man
	s.Members = w.sums
	s.Totals = Totals{}
	for _, m := range w.sums {
		s.Totals.Members++
		s.Totals.Rows += m.Rows
		s.Totals.Bytes += m.Size
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		w.err = fmt.Errorf("encode %s: %w", SumsName, err)
		w.release()
		return w.err
	}
	b = append(b, '\n')
	sum := blake3.Sum256(b)
	if err := w.writeMember(SumsName, b, hex.EncodeToString(sum[:]), -1); err != nil {
		w.err = fmt.Errorf("write %s: %w", SumsName, err)
		w.release()
		return w.err
	}
	if err := w.finish(); err != nil {
		w.err = fmt.Errorf("end snapshot stream: %w", err)
		return w.err
	}
	return nil
}

// Abort ends a stream that will not be completed: it flushes what was
// written (so a reader reports which member the stream stops after, not a
// bare gzip error), releases the compressor's goroutines and makes every
// later call fail. It writes no SUMS.json, so readers see an incomplete
// stream. Abort after Close does nothing.
func (w *Writer) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == errClosed {
		return
	}
	if w.err == nil {
		w.err = errors.New("snapshot writer was aborted")
	}
	w.release()
}

// finish ends the tar stream, flushes and ends the gzip stream.
func (w *Writer) finish() error {
	if err := w.tw.Close(); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if w.gz != nil {
		gz := w.gz
		w.gz = nil
		return gz.Close()
	}
	return nil
}

// release flushes what is buffered, without ending the tar stream, and
// stops the compressor. Errors are ignored: the stream is being given up.
func (w *Writer) release() {
	w.bw.Flush()
	if w.gz != nil {
		w.gz.Close()
		w.gz = nil
	}
}
