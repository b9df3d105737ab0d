package snap

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/ratelimit"
	"github.com/dr-mysql/dr/lib/snapfmt"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// maxStmtSize is the budget of one INSERT statement: big enough that the
// statement overhead vanishes, far below the 16 MiB max_allowed_packet
// of a default server. A row larger than this is a statement of its own.
// Small chunk sizes get smaller statements, so that members end near the
// chunk size.
const maxStmtSize = 1 << 20

func stmtBudget(chunkSize int) int { return max(min(maxStmtSize, chunkSize/4), 16<<10) }

// Server errors that mean a table changed after the snapshot's point:
// its definition (ALTER that rebuilt it), its existence (DROP, RENAME),
// or a column that is gone.
const (
	erTableDefChanged = 1412
	erNoSuchTable     = 1146
	erBadField        = 1054
)

// dataPreamble begins every data member (see lib/snapfmt, "Content").
func dataPreamble(db string) string {
	return "/*!40101 SET NAMES binary*/;\n" +
		"/*!40014 SET FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0*/;\n" +
		"SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO', time_zone='+00:00';\n" +
		useLine(db)
}

// job reads one table, or one key range of a table, into data members.
type job struct {
	t      *table
	lo, hi string // integer key range [lo, hi); "" is open
	// Ranges of one table are read in parallel but their members are
	// numbered in key order: a range adds its members once the range
	// before it is done (prev closed), and closes done when it is.
	prev <-chan struct{}
	done chan struct{}
	seq  *int // the table's next member number, shared by its ranges
}

// dumper turns rows into members.
type dumper struct {
	w         *snapfmt.Writer
	lim       *ratelimit.Limiter
	chunkSize int

	rows, readBytes, written atomic.Int64

	// Buffers of members written, for the next members of any job:
	// fresh member buffers cost page faults that were a third of a
	// dump's CPU.
	free chan []byte
}

// run reads the jobs on the connections, one job per connection at a
// time, and returns the first error.
func (d *dumper) run(ctx context.Context, conns []*client.Conn, jobs []*job) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *job)
	errc := make(chan error, len(conns))
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				if err := d.dumpJobReleasing(ctx, c, j); err != nil {
					errc <- err
					cancel()
					return
				}
			}
		}()
	}
	go func() {
		defer close(queue)
		for _, j := range jobs {
			select {
			case queue <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

// dumpJobReleasing reads a job between a savepoint and a rollback to
// it, as mysqldump --single-transaction does: the rollback releases the
// metadata lock the read took and keeps the snapshot. Without it, a DDL
// on a table read early would wait for the whole snapshot to end, and
// every query on that table would queue behind the DDL.
func (d *dumper) dumpJobReleasing(ctx context.Context, c *client.Conn, j *job) error {
	if err := mysqlx.Exec(ctx, c, "SAVEPOINT dr_job"); err != nil {
		return classify(fmt.Errorf("read %s: %w", j.t, err))
	}
	if err := d.dumpJob(ctx, c, j); err != nil {
		return err
	}
	if err := mysqlx.Exec(ctx, c, "ROLLBACK TO SAVEPOINT dr_job"); err != nil {
		return classify(fmt.Errorf("read %s: %w", j.t, err))
	}
	return nil
}

// dumpJob reads a job, and reads it once more when the table turns out
// to have changed after the snapshot's point. The second read is a
// confirmation, not a cure: a committed DDL is not undone, so the same
// snapshot fails the same way and the error is final.
func (d *dumper) dumpJob(ctx context.Context, c *client.Conn, j *job) error {
	err := d.read(ctx, c, j)
	if ddlError(err) {
		err = d.read(ctx, c, j)
	}
	if err == nil {
		if j.done != nil {
			close(j.done)
		}
		return nil
	}
	switch mysqlx.ErrorCode(err) {
	case erTableDefChanged, erNoSuchTable, erBadField:
		return cli.WithHint(cli.Errorf(cli.ExitCorrupt, "table %s was changed by DDL after the snapshot's consistent point, read twice: %w", j.t, err),
			"take the snapshot again; dr-snap holds no lock on a table before it reads it, so DDL may run meanwhile")
	}
	return classify(fmt.Errorf("read %s: %w", j.t, err))
}

// errNoRetry wraps an error after rows were emitted: reading again would
// emit them twice.
type errNoRetry struct{ error }

func (e errNoRetry) Unwrap() error { return e.error }

// ddlError reports whether err means DDL changed the table and nothing
// of it was emitted yet, so reading it again is possible.
func ddlError(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := err.(errNoRetry); ok {
		return false
	}
	switch mysqlx.ErrorCode(err) {
	case erTableDefChanged, erNoSuchTable, erBadField:
		return true
	}
	return false
}

// selectSQL reads the table's dumped columns in key order. FLOAT is read
// as DOUBLE: the server prints a FLOAT with 6 significant digits, which
// would not restore the same value; every FLOAT is exactly a DOUBLE,
// whose digits the server prints in full.
func selectSQL(t *table, lo, hi string) string {
	var b strings.Builder
	b.WriteString("SELECT " + columnList(t, func(c column) string {
		if c.dataType == "float" {
			return "CAST(" + sqltext.QuoteIdent(c.name) + " AS DOUBLE)"
		}
		return sqltext.QuoteIdent(c.name)
	}))
	b.WriteString(" FROM " + t.String())
	var where []string
	if lo != "" {
		where = append(where, sqltext.QuoteIdent(t.key[0])+" >= "+lo)
	}
	if hi != "" {
		where = append(where, sqltext.QuoteIdent(t.key[0])+" < "+hi)
	}
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	if len(t.key) > 0 {
		b.WriteString(" ORDER BY ")
		for i, k := range t.key {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(sqltext.QuoteIdent(k))
		}
	}
	return b.String()
}

// insertPrefix starts every INSERT of the table. Columns are named only
// when the table has generated or invisible ones, which a bare VALUES
// list cannot express.
func insertPrefix(t *table) string {
	named := false
	for _, c := range t.cols {
		named = named || c.generated || c.invisible
	}
	s := "INSERT INTO " + sqltext.QuoteIdent(t.name)
	if named {
		s += " (" + columnList(t, func(c column) string { return sqltext.QuoteIdent(c.name) }) + ")"
	}
	return s + " VALUES "
}

// columnList joins f of every dumped column (all but the generated) with
// commas.
func columnList(t *table, f func(column) string) string {
	var parts []string
	for _, c := range t.cols {
		if !c.generated {
			parts = append(parts, f(c))
		}
	}
	return strings.Join(parts, ",")
}

// chunker builds the members of one job. Its decisions depend only on
// the rows, so the same rows give the same bytes.
type chunker struct {
	d        *dumper
	j        *job
	preamble string
	prefix   string
	kinds    []kind
	stmtSize int

	buf      []byte
	rows     int64 // rows in buf
	stmt     int   // offset of the open statement in buf; -1: none open
	pending  []member
	emitted  bool
	rateDebt int

	// Members go to the stream from a goroutine of their own, so that
	// hashing and writing one overlaps reading the next from the server.
	adds    chan member
	addDone chan error
}

func (ch *chunker) newBuf() []byte {
	select {
	case b := <-ch.d.free:
		return b[:0]
	default:
		return make([]byte, 0, ch.d.chunkSize+ch.stmtSize+64<<10)
	}
}

type member struct {
	data []byte
	rows int64
}

func (d *dumper) read(ctx context.Context, c *client.Conn, j *job) error {
	ch := d.newChunker(j)
	err := mysqlx.QueryRaw(ctx, c, selectSQL(j.t, j.lo, j.hi), nil, func(row [][]byte, size int) error {
		return ch.add(ctx, row, size)
	})
	if err == nil {
		err = ch.finish(ctx)
	}
	if err = ch.end(err); err != nil && ch.emitted {
		return errNoRetry{err}
	}
	return err
}

// newChunker starts the members of a job; end must follow.
func (d *dumper) newChunker(j *job) *chunker {
	t := j.t
	ch := &chunker{d: d, j: j, preamble: dataPreamble(t.db), prefix: insertPrefix(t), stmt: -1}
	for _, col := range t.cols {
		if !col.generated {
			ch.kinds = append(ch.kinds, col.kind)
		}
	}
	ch.stmtSize = stmtBudget(d.chunkSize)
	ch.buf = append(ch.newBuf(), ch.preamble...)
	ch.adds, ch.addDone = make(chan member, 1), make(chan error, 1)
	go ch.adder()
	return ch
}

// end waits until every member handed on is in the stream, and returns
// err, or the first error writing them.
func (ch *chunker) end(err error) error {
	close(ch.adds)
	if aerr := <-ch.addDone; err == nil {
		err = aerr
	}
	return err
}

// adder adds the members handed to it to the stream, in order, and after
// a failure only drains.
func (ch *chunker) adder() {
	var err error
	for m := range ch.adds {
		if err != nil {
			continue
		}
		*ch.j.seq++
		mem := snapfmt.Member{Kind: snapfmt.KindData, DB: ch.j.t.db, Table: ch.j.t.name, Seq: *ch.j.seq}
		if e := ch.d.w.Add(mem, m.data, m.rows); e != nil {
			err = cli.WithCode(cli.ExitIO, fmt.Errorf("write %s: %w", mem, e))
			continue
		}
		ch.d.written.Add(int64(len(m.data)))
		select {
		case ch.d.free <- m.data:
		default:
		}
	}
	ch.addDone <- err
}

func (ch *chunker) add(ctx context.Context, row [][]byte, size int) error {
	if ch.d.lim != nil {
		// Charge the limiter in pieces of about one burst: per row it
		// would cost a lock per row, and the debt is paid smoothly.
		ch.rateDebt += size
		if b := int(ch.d.lim.Burst()); ch.rateDebt >= b || ch.rateDebt >= 64<<10 {
			if err := ch.d.lim.WaitN(ctx, ch.rateDebt); err != nil {
				return err
			}
			ch.rateDebt = 0
		}
	}
	ch.d.readBytes.Add(int64(size))
	ch.d.rows.Add(1)

	start := len(ch.buf)
	if ch.stmt < 0 {
		ch.stmt = start
		ch.buf = append(ch.buf, ch.prefix...)
	} else {
		ch.buf = append(ch.buf, ',')
	}
	rowAt := len(ch.buf)
	ch.buf = appendRow(ch.buf, row, ch.kinds)
	if len(ch.buf)-ch.stmt > ch.stmtSize && start > ch.stmt+len(ch.prefix) {
		// Over budget, and not the statement's first row: the row
		// opens the next statement instead.
		r := append([]byte(nil), ch.buf[rowAt:]...)
		ch.buf = append(ch.buf[:start], ";\n"...)
		ch.stmt = -1
		if err := ch.maybeEmit(ctx); err != nil {
			return err
		}
		ch.stmt = len(ch.buf)
		ch.buf = append(ch.buf, ch.prefix...)
		ch.buf = append(ch.buf, r...)
	}
	ch.rows++
	return nil
}

// maybeEmit ends the member once a closed statement brought it to the
// chunk size.
func (ch *chunker) maybeEmit(ctx context.Context) error {
	if len(ch.buf) < ch.d.chunkSize {
		return nil
	}
	return ch.emit(ctx)
}

func (ch *chunker) finish(ctx context.Context) error {
	if ch.stmt >= 0 {
		ch.buf = append(ch.buf, ";\n"...)
		ch.stmt = -1
	}
	if ch.rows > 0 {
		if err := ch.emit(ctx); err != nil {
			return err
		}
	}
	// Wait for the range before, then add what was held back.
	if ch.j.prev != nil {
		select {
		case <-ch.j.prev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ch.flush(); err != nil {
		return err
	}
	return nil
}

// emit hands a full member on: to the stream if the ranges before this
// one are done, else to the pending list, waiting for them when
// pendingMembers are already pending, which bounds the memory a range
// ahead of its turn can hold.
func (ch *chunker) emit(ctx context.Context) error {
	ch.pending = append(ch.pending, member{data: ch.buf, rows: ch.rows})
	ch.buf = append(ch.newBuf(), ch.preamble...)
	ch.rows = 0
	ready := ch.j.prev == nil
	if !ready {
		select {
		case <-ch.j.prev:
			ready = true
		default:
		}
	}
	if !ready && len(ch.pending) >= pendingMembers {
		select {
		case <-ch.j.prev:
			ready = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if ready {
		return ch.flush()
	}
	return nil
}

func (ch *chunker) flush() error {
	for _, m := range ch.pending {
		ch.adds <- m
		ch.emitted = true
	}
	ch.pending = ch.pending[:0]
	return nil
}

// appendRow appends one row as "(v1,v2,...)".
func appendRow(b []byte, row [][]byte, kinds []kind) []byte {
	b = append(b, '(')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case v == nil:
			b = append(b, "NULL"...)
		case kinds[i] == kindNumber:
			b = append(b, v...)
		case kinds[i] == kindHex:
			b = sqltext.AppendHex(b, v)
		case kinds[i] == kindText:
			b = append(b, "_utf8mb4"...)
			b = sqltext.AppendString(b, v)
		default:
			b = sqltext.AppendString(b, v)
		}
	}
	return append(b, ')')
}

// Ranges of a split table are read in parallel but must reach the
// stream in key order, so a range ahead of its turn holds its members.
// It may hold pendingMembers of them before it waits, and a range is
// sized to about that many, so that a connection reading the next range
// of a table seldom waits for the one reading the range before it.
const pendingMembers = 4

// planJobs makes the jobs of tables, largest first so that no big table
// is left for the end while the other connections are idle. A table is
// split into integer key ranges only when it is more than a connection's
// fair share of the whole (total / threads): a range scan costs the
// server more than a whole-table scan, and tables enough to keep every
// connection busy need no splitting. conn reads the key bounds; it must
// be in the snapshot.
func planJobs(ctx context.Context, c *client.Conn, tables []*table, threads, chunkSize int) ([]*job, error) {
	tables = slices.Clone(tables)
	slices.SortStableFunc(tables, func(a, b *table) int { return cmp.Compare(b.dataLength, a.dataLength) })
	var total int64
	for _, t := range tables {
		total += t.dataLength
	}
	rangeBytes := int64(pendingMembers * chunkSize)
	var jobs []*job
	for _, t := range tables {
		seq := new(int)
		if threads > 1 && t.intKey && t.dataLength > total/int64(threads) && t.dataLength >= 2*rangeBytes {
			k := sqltext.QuoteIdent(t.key[0])
			rows, err := mysqlx.Query(ctx, c, "SELECT MIN("+k+"), MAX("+k+") FROM "+t.String())
			if err != nil {
				return nil, classify(fmt.Errorf("key range of %s: %w", t, err))
			}
			lo, err1 := strconv.ParseInt(rows[0].Str(0), 10, 64)
			hi, err2 := strconv.ParseInt(rows[0].Str(1), 10, 64)
			if err1 == nil && err2 == nil {
				if bounds := rangeBounds(lo, hi, t.dataLength/rangeBytes); len(bounds) > 0 {
					jobs = append(jobs, rangeJobs(t, seq, bounds)...)
					continue
				}
			}
		}
		jobs = append(jobs, &job{t: t, seq: seq})
	}
	return jobs, nil
}

// rangeBounds cuts the keys lo..hi into about n ranges and returns the
// boundaries between them, or nothing when the keys are too few. The
// width of a range is a power of two and every boundary a multiple of
// it, so that tomorrow's snapshot of a table that grew a little has the
// same boundaries, and its unchanged ranges the same bytes.
func rangeBounds(lo, hi, n int64) []int64 {
	n = min(n, 10_000)
	if n < 2 || hi-lo < n { // an overflowed hi-lo is negative, so below n too
		return nil
	}
	step := int64(1) << (bits.Len64(uint64((hi-lo)/n)) - 1)
	var bounds []int64
	for b := (lo/step + 1) * step; b <= hi; b += step {
		bounds = append(bounds, b)
		if b > math.MaxInt64-step {
			break
		}
	}
	return bounds
}

// rangeJobs makes the jobs of table t split at bounds, in key order; the
// first and last ranges are open so that no row can fall outside.
func rangeJobs(t *table, seq *int, bounds []int64) []*job {
	var jobs []*job
	var prev chan struct{}
	for i := 0; i <= len(bounds); i++ {
		j := &job{t: t, seq: seq, done: make(chan struct{}), prev: prev}
		if i > 0 {
			j.lo = strconv.FormatInt(bounds[i-1], 10)
		}
		if i < len(bounds) {
			j.hi = strconv.FormatInt(bounds[i], 10)
		}
		prev = j.done
		jobs = append(jobs, j)
	}
	return jobs
}
