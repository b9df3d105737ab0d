package replay

import (
	"cmp"
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dr-mysql/dr/lib/apply"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/snapfmt"
)

// Parallel apply. A batch of source transactions is cut into parts that
// share no conflict key (apply.Table.Keys): transactions that touch the
// same row, or the same table where rows cannot be told apart, are in
// one part, in binlog order. Each part is applied on a connection of its
// own, in one target transaction that also records, in
// dr_replay.replay_done, which source transactions it applied. Once
// every part is committed, one more transaction moves the checkpoint
// past the batch and empties replay_done; only then does the next batch
// begin, so no transaction overtakes one of an earlier batch.
//
// A crash between the parts' commits and the checkpoint's leaves some
// parts applied: the next run starts at the checkpoint and skips the
// transactions replay_done names. Exactly once still holds.
//
// A transaction with a statement in it (DDL, statement-based DML) has
// rows nobody knows: it is applied alone, after the batch before it.

// session is a replaying connection and what its row applier knows.
type session struct {
	conn   *client.Conn
	format *apply.Format // the format description it was given last
	used   time.Time     // a temporary-table session: when it was used last
}

// work is one source transaction of the batch, as statements.
type work struct {
	t       *apply.Txn
	stmts   []apply.Stmt
	keys    []apply.Key
	barrier bool   // holds a statement: applied alone
	thread  uint32 // needs the target session of this source session (tempSession)
}

func (w *work) addKey(k apply.Key) { w.keys = append(w.keys, k) }

// statements joins the statements of a batch.
func statements(batch []*work) []apply.Stmt {
	n := 0
	for _, w := range batch {
		n += len(w.stmts)
	}
	out := make([]apply.Stmt, 0, n)
	for _, w := range batch {
		out = append(out, w.stmts...)
	}
	return out
}

// txnEnd names a source transaction in replay_done: where it ends.
func txnEnd(t *apply.Txn) snapfmt.BinlogPos {
	return snapfmt.BinlogPos{File: t.File, Pos: uint64(t.End)}
}

// openWorkers opens the connections of parallel apply: --threads of
// them when that is more than one.
func (r *replayer) openWorkers(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			r.closeWorkers()
		}
	}()
	n := r.cmd.Threads
	if n == 0 {
		// A batch of --batch transactions cut in more parts than this
		// commits more than it gains.
		n = min(runtime.NumCPU(), 8)
	}
	// --binlog logs each source transaction under its own GTID, in
	// order: one connection, one at a time.
	if n <= 1 || r.cmd.SQL || r.cmd.Binlog {
		return nil
	}
	if err := apply.EnsureSchema(ctx, r.main.conn); err != nil {
		return r.targetError(err)
	}
	for range n {
		conn, err := r.connect(ctx)
		if err != nil {
			return err
		}
		r.workers = append(r.workers, &session{conn: conn})
		// A part that waits for a lock another part holds until the
		// batch commits would wait for nothing: it gives up soon, and
		// the batch runs in one transaction instead (applyParallel).
		if err := mysqlx.Exec(ctx, conn, "SET SESSION innodb_lock_wait_timeout = 3"); err != nil {
			return r.targetError(err)
		}
	}
	return nil
}

func (r *replayer) closeWorkers() {
	for _, w := range r.workers {
		w.conn.Close()
	}
	r.workers = nil
	for _, s := range r.sessions {
		s.conn.Close()
	}
	r.sessions = nil
}

// Temporary tables belong to a session. A source session that made one
// gets a target session of its own, where its statements run from then
// on, each transaction alone: two source sessions may each have a
// temporary table of the same name. Other statements run on the main
// session, batched.

// maxTempSessions bounds the target sessions kept for source sessions
// with temporary tables; past it the least recently used is closed, and
// its temporary tables with it.
const maxTempSessions = 32

// tempThread returns the source session of t's statements when that
// session made (or makes, in t) a temporary table, else 0. A file the
// source wrote when it started ends every session before it, as the
// server's own applier knows: their temporary tables are gone, and
// their thread ids are given anew.
func (r *replayer) tempThread(t *apply.Txn) uint32 {
	if t.Format != nil && t.Format.Start && t.Format != r.startFormat {
		r.startFormat = t.Format
		for _, s := range r.sessions {
			s.conn.Close()
		}
		r.sessions, r.tempThreads = nil, nil
	}
	thread := t.Thread()
	if thread == 0 {
		return 0
	}
	for _, c := range t.Changes {
		if c.Stmt != nil && c.Stmt.CreatesTemp {
			if r.tempThreads == nil {
				r.tempThreads = map[uint32]bool{}
			}
			r.tempThreads[thread] = true
		}
	}
	if r.tempThreads[thread] {
		return thread
	}
	return 0
}

// tempSession returns the target session of a source session with
// temporary tables, opening it the first time.
func (r *replayer) tempSession(ctx context.Context, thread uint32) (*session, error) {
	if s := r.sessions[thread]; s != nil {
		s.used = time.Now()
		return s, nil
	}
	if len(r.sessions) >= maxTempSessions {
		var oldest uint32
		for id, s := range r.sessions {
			if oldest == 0 || s.used.Before(r.sessions[oldest].used) {
				oldest = id
			}
		}
		r.env.Warnf("closing the session of source thread %d, the least recently used of %d with temporary tables: its temporary tables are gone", oldest, maxTempSessions)
		r.sessions[oldest].conn.Close()
		delete(r.sessions, oldest)
		delete(r.tempThreads, oldest)
	}
	conn, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	if r.sessions == nil {
		r.sessions = map[uint32]*session{}
	}
	s := &session{conn: conn, used: time.Now()}
	r.sessions[thread] = s
	return s, nil
}

// connect opens one more replaying connection.
func (r *replayer) connect(ctx context.Context) (*client.Conn, error) {
	conn, _, err := r.spec.Connect(ctx, replayOptions)
	if err != nil {
		return nil, err
	}
	if err := r.setup(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// replayOptions: many statements a round trip, and an UPDATE's count is
// the rows it found, so a row that is there but unchanged is no
// divergence.
var replayOptions = mysqlx.WithClientOptions(func(c *client.Conn) error {
	if err := c.SetCapability(mysql.CLIENT_MULTI_STATEMENTS); err != nil {
		return err
	}
	return c.SetCapability(mysql.CLIENT_FOUND_ROWS)
})

// applyParallel applies a batch in parts, one a worker, then moves the
// checkpoint to cp. The parts commit only once every one of them has run
// and passed its checks, so a divergence anywhere rolls the whole batch
// back, as in a batch applied in one transaction.
func (r *replayer) applyParallel(ctx context.Context, batch []*work, cp *apply.Checkpoint) error {
	parts := partition(batch, len(r.workers))
	if slices.IndexFunc(parts, func(p []*work) bool { return len(p) == len(batch) }) >= 0 {
		// One part holds it all (a foreign-key family, a hot row): one
		// transaction with the checkpoint does, as without workers.
		return r.applySerial(ctx, r.main, statements(batch), cp)
	}
	each := func(f func(i int, part []*work) error) []error {
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		for i, part := range parts {
			if len(part) > 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = f(i, part)
				}()
			}
		}
		wg.Wait()
		return errs
	}
	rollback := func() {
		each(func(i int, _ []*work) error { r.abort(r.workers[i]); return nil })
	}
	errs := each(func(i int, part []*work) error { return r.runPart(ctx, i, part) })
	for _, err := range errs {
		if code := mysqlx.ErrorCode(err); code == 1213 || code == 1205 {
			// Parts share no row, but one may still wait for a lock
			// another holds until the commit (a gap, a page): the
			// batch runs again in one transaction instead.
			rollback()
			r.env.Debugf("a batch runs again in one transaction after: %v", err)
			return r.applySerial(ctx, r.main, statements(batch), cp)
		}
	}
	for _, err := range errs {
		if err != nil {
			rollback()
			return err
		}
	}
	errs = each(func(i int, _ []*work) error {
		// Not cut short by a signal: every part has passed, and all of
		// them committing leaves less for replay_done to sort out.
		if err := mysqlx.Exec(context.Background(), r.workers[i].conn, "COMMIT"); err != nil {
			return r.targetError(err)
		}
		return nil
	})
	for i, err := range errs {
		if err == nil {
			r.partial += int64(len(parts[i]))
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	ends := slices.Clone(r.consumed)
	for _, w := range batch {
		ends = append(ends, txnEnd(w.t))
	}
	err := r.commit(ctx, r.main, []apply.Stmt{
		{SQL: "BEGIN", Want: -1},
		{SQL: apply.WriteCheckpointSQL(cp), Want: -1},
		{SQL: apply.ForgetDoneSQL(ends), Want: -1},
	})
	if err == nil {
		r.partial = 0
	}
	return err
}

// runPart runs part on worker i, up to its commit, with the record of
// what it applied.
func (r *replayer) runPart(ctx context.Context, i int, part []*work) error {
	ends := make([]snapfmt.BinlogPos, len(part))
	for j, w := range part {
		ends[j] = txnEnd(w.t)
	}
	body := statements(part)
	stmts := make([]apply.Stmt, 0, len(body)+2)
	stmts = append(stmts, apply.Stmt{SQL: "BEGIN", Want: -1})
	stmts = append(stmts, body...)
	stmts = append(stmts, apply.Stmt{SQL: apply.DoneSQL(ends), Want: -1})
	return r.exec(ctx, r.workers[i], stmts)
}

// partition cuts a batch into n parts that share no conflict key, each
// in binlog order: transactions linked by a key (a row's, or an index's
// as a whole, which meets every row key of that index), directly or
// through others, form a group; groups go, largest first, to the part
// with the fewest statement bytes so far.
func partition(batch []*work, n int) [][]*work {
	parent := make([]int, len(batch))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// An index a key of the batch stands for as a whole: every key of
	// that index is the index.
	wide := map[uint64]bool{}
	for _, w := range batch {
		for _, k := range w.keys {
			if k.Wide() {
				wide[k.Index] = true
			}
		}
	}
	owner := map[uint64]int{}
	for i, w := range batch {
		for _, key := range w.keys {
			k := key.Row
			if wide[key.Index] {
				k = key.Index
			}
			if j, ok := owner[k]; ok {
				a, b := find(i), find(j)
				parent[max(a, b)] = min(a, b)
			} else {
				owner[k] = i
			}
		}
	}
	type group struct {
		members []int
		bytes   int
	}
	groups := map[int]*group{}
	var order []int
	for i, w := range batch {
		root := find(i)
		g := groups[root]
		if g == nil {
			g = &group{}
			groups[root] = g
			order = append(order, root)
		}
		g.members = append(g.members, i)
		g.bytes++ // a commit's worth, even for a transaction of nothing
		for _, s := range w.stmts {
			g.bytes += len(s.SQL)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(groups[b].bytes, groups[a].bytes) })
	parts := make([][]int, n)
	load := make([]int, n)
	for _, root := range order {
		p := 0
		for i := range load {
			if load[i] < load[p] {
				p = i
			}
		}
		parts[p] = append(parts[p], groups[root].members...)
		load[p] += groups[root].bytes
	}
	out := make([][]*work, n)
	for p, idx := range parts {
		slices.Sort(idx)
		for _, i := range idx {
			out[p] = append(out[p], batch[i])
		}
	}
	return out
}
