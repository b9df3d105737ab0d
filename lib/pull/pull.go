package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dr-mysql/dr/lib/binlogdir"
	"github.com/dr-mysql/dr/lib/binlogstream"
	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/position"
)

// errRefused wraps what must stop the pull for safety (exit 5).
func refused(format string, args ...any) error {
	return cli.Errorf(cli.ExitRefused, format, args...)
}

type puller struct {
	cmd  *Cmd
	env  *cli.Env
	spec *mysqlx.Spec
	dir  string

	src      binlogdir.Source
	serverID uint32
	tr       *binlogdir.Tracker
	w        *binlogdir.Writer

	stateFile string // what the state on disk says, to skip rewriting it
	statePos  int64
	lastSync  time.Time

	pendingAck bool
	ackFile    string
	ackPos     int64

	stats stats
}

type stats struct {
	file                             atomic.Pointer[string] // the active file, for progress from the signal goroutine
	size                             atomic.Int64
	bytes, events, reconnects, files atomic.Int64
	written                          atomic.Int64 // events stored, not counting those the server makes up
	lastEventTS                      atomic.Int64 // unix seconds of the last event received
	caughtUp                         atomic.Bool  // the last heartbeat said we have all the source has
}

// Run pulls until stopped, or to the end with --until-end.
func (c *Cmd) Run(ctx context.Context, env *cli.Env) error {
	if c.StartGTID != "" && c.StartFile != "" {
		return cli.Errorf(cli.ExitUsage, "--start-gtid and --start-file exclude each other")
	}
	if c.StartPos != 0 && c.StartFile == "" {
		return cli.Errorf(cli.ExitUsage, "--start-pos needs --start-file")
	}
	if c.FsyncInterval <= 0 || c.Heartbeat <= 0 || c.RetryMax <= 0 {
		return cli.Errorf(cli.ExitUsage, "--fsync-interval, --heartbeat and --retry-max must be positive")
	}
	spec, warnings, err := c.Conn.Resolve(c.Source, env.Getenv)
	if err != nil {
		return cli.WithCode(cli.ExitUsage, err)
	}
	for _, w := range warnings {
		env.Warnf("%s", w)
	}
	p := &puller{cmd: c, env: env, spec: spec, dir: c.Dir}
	return p.run(ctx)
}

func (p *puller) run(ctx context.Context) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("binlog directory: %w", err))
	}
	unlock, err := binlogdir.Lock(p.dir)
	if errors.Is(err, binlogdir.ErrLocked) {
		return cli.WithHint(cli.WithCode(cli.ExitRefused, err), "another dr-binlog-pull writes this directory; one writer per directory")
	}
	if err != nil {
		return cli.WithCode(cli.ExitIO, err)
	}
	defer unlock()

	state, err := binlogdir.ReadState(p.dir)
	if err != nil {
		return classifyLocal(err)
	}
	conn, srv, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	p.src = binlogdir.Source{
		ServerID: srv.ServerID, ServerUUID: srv.ServerUUID,
		Flavor: string(srv.Flavor), Version: srv.Version, Address: p.spec.String(),
	}
	p.serverID = p.cmd.ServerID
	if p.serverID == 0 {
		p.serverID = derivedServerID(p.dir)
	}
	if p.serverID == srv.ServerID {
		return cli.Errorf(cli.ExitUsage, "--server-id %d is the source's own server_id", p.serverID)
	}

	if err := p.prepare(conn, srv, state); err != nil {
		return err
	}
	p.env.SetProgress(p.progress)

	backoff := time.Second
	for attempt := 1; ; attempt++ {
		if conn != nil {
			written := p.stats.written.Load()
			err = p.session(ctx, conn)
			conn = nil
			if p.stats.written.Load() != written {
				backoff, attempt = time.Second, 1
			}
			if err == nil || ctx.Err() != nil {
				return p.stop(ctx, err)
			}
			if !retriable(err) {
				p.stop(ctx, nil)
				return err
			}
			if p.cmd.UntilEnd {
				// A cron job must not hang holding the directory's lock:
				// report, and let the next run resume.
				p.stop(ctx, nil)
				return cli.WithCode(cli.ExitIO, err)
			}
			if mysqlx.IsAuth(err) {
				p.stop(ctx, nil)
				return cli.WithHint(cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", p.spec, err)),
					"the user needs REPLICATION SLAVE and REPLICATION CLIENT (MariaDB: BINLOG MONITOR)")
			}
		}
		wait := backoff
		if attempt == 1 && errors.Is(err, errSourceEnded) {
			// A source that is up ends a dump now and then (a real
			// replica reconnects at once too); one that shuts down
			// refuses the reconnect, and the backoff begins.
			wait = 0
		}
		when := "in " + wait.String()
		if wait == 0 {
			when = "now"
		}
		p.env.Warnf("%v; reconnecting %s (attempt %d)", oneLine(err), when, attempt)
		select {
		case <-ctx.Done():
			return p.stop(ctx, nil)
		case <-time.After(wait):
		}
		if wait > 0 {
			backoff = min(2*backoff, p.cmd.RetryMax)
		}
		p.stats.reconnects.Add(1)
		var srv2 *mysqlx.Server
		conn, srv2, err = p.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return p.stop(ctx, nil)
			}
			if mysqlx.IsAuth(err) || cli.Code(err) == cli.ExitRefused {
				p.stop(ctx, nil)
				return err
			}
			conn = nil
			continue
		}
		if srv2.ServerID != p.src.ServerID || srv2.ServerUUID != p.src.ServerUUID {
			conn.Close()
			p.stop(ctx, nil)
			return refused("%s is now server_id %d, not the source this directory follows (%s)", p.spec, srv2.ServerID, p.src)
		}
		p.env.Infof("reconnected to %s", p.spec)
	}
}

// connect dials the source and reads what it is.
func (p *puller) connect(ctx context.Context) (*client.Conn, *mysqlx.Server, error) {
	conn, srv, err := p.spec.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !srv.LogBin {
		conn.Close()
		return nil, nil, cli.WithHint(refused("%s has binary logging off (log_bin = OFF)", p.spec), "start the source with --log-bin")
	}
	return conn, srv, nil
}

// prepare checks the directory against the source, repairs the active
// file and sets the writer where the stream must resume.
func (p *puller) prepare(conn *client.Conn, srv *mysqlx.Server, state *binlogdir.State) error {
	logs, err := binaryLogs(conn)
	if err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", p.spec, err))
	}
	if len(logs) == 0 {
		return refused("%s lists no binary logs", p.spec)
	}
	if state == nil {
		files, err := binlogdir.Files(p.dir)
		if err != nil {
			return cli.WithCode(cli.ExitIO, err)
		}
		if len(files) > 0 {
			return cli.WithHint(refused("%s holds binlog files (%s...) but no %s", p.dir, files[0], binlogdir.StateName),
				"use an empty directory, or the one a dr-binlog-pull of this source wrote")
		}
		start, err := p.startFile(conn, srv, logs)
		if err != nil {
			return err
		}
		p.tr = binlogdir.NewTracker(position.NewSet(srv.Flavor))
		p.w = binlogdir.NewWriter(p.dir, p.tr)
		if err := p.open(start, 0, 0); err != nil {
			return classifyLocal(err)
		}
		p.env.Infof("starting %s at %s from %s", p.dir, start, p.spec)
		return p.checkpoint()
	}

	if p.cmd.StartFile != "" || p.cmd.StartGTID != "" {
		return cli.WithHint(cli.Errorf(cli.ExitUsage, "%s already has a state file; --start-* is for an empty directory", p.dir),
			"the pull resumes where the directory ends by itself")
	}
	if !state.Source.Same(p.src) {
		return cli.WithHint(refused("%s holds binlogs of %s, not of %s", p.dir, state.Source, p.src),
			"use a separate directory for each source")
	}
	set, err := position.ParseSet(srv.Flavor, state.GTIDSet)
	if err != nil {
		return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s: %w", filepath.Join(p.dir, binlogdir.StateName), err))
	}
	p.tr = binlogdir.NewTracker(set)
	p.w = binlogdir.NewWriter(p.dir, p.tr)
	p.stateFile, p.statePos = state.File, int64(state.Pos)

	pos := int64(state.Pos)
	path := filepath.Join(p.dir, state.File)
	if _, err := os.Stat(path); err == nil {
		// Read the whole active file, not only what follows the durable
		// position: it is the file a crash interrupted, and a byte flipped
		// in it must stop the pull rather than be continued.
		tail, err := binlogdir.Repair(path, 0, pos, p.tr)
		if err != nil {
			return classifyLocal(err)
		}
		if tail.Cut > 0 {
			p.env.Infof("repaired %s: cut %d bytes after the last whole transaction at %d", path, tail.Cut, tail.End)
		}
		pos = tail.End
		if tail.Empty {
			pos = 0
		}
		if err := p.open(state.File, pos, tail.LastType); err != nil {
			return classifyLocal(err)
		}
		next := tail.Rotated
		if tail.Stopped {
			// The source shut down after this file; it starts the next
			// one when it comes back.
			next = mustNext(state.File)
		}
		if next != "" {
			// Completed before a crash or a stop, perhaps not announced:
			// do it now (announcing twice is harmless, never is not).
			if err := p.switchFile(next); err != nil {
				return err
			}
		}
	} else if !state.AtStartOf(state.File) {
		return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s: missing, but %s records %d durable bytes in it", path, binlogdir.StateName, pos))
	} else if err := p.open(state.File, 0, 0); err != nil {
		return classifyLocal(err)
	}
	if err := p.checkAgainstSource(logs); err != nil {
		return err
	}
	p.env.Infof("resuming %s at %s:%d from %s", p.dir, p.w.Name, p.w.Size, p.spec)
	return p.checkpoint()
}

// checkAgainstSource makes sure the source still has the file the pull
// resumes in, and that it is not shorter than what we hold.
func (p *puller) checkAgainstSource(logs []binaryLog) error {
	for _, l := range logs {
		if l.name == p.w.Name {
			if l.size < p.w.Size {
				return cli.WithHint(refused("%s on %s is %d bytes but %s holds %d: the source lost binlog events this directory has", l.name, p.spec, l.size, p.dir, p.w.Size),
					"the source was restored or its binlog truncated; pull into a new directory after a new snapshot")
			}
			return nil
		}
	}
	first := logs[0].name
	if position.Compare(position.Pos{File: p.w.Name}, position.Pos{File: first}) < 0 {
		return cli.WithHint(refused("%s:%d is purged on %s (its oldest binlog is %s)", p.w.Name, p.w.Size, p.spec, first),
			"the directory can no longer be continued without a gap: take a new snapshot (dr-snap) and pull into a new directory")
	}
	last := logs[len(logs)-1].name
	if position.Compare(position.Pos{File: p.w.Name}, position.Pos{File: last}) > 0 {
		if p.w.Size <= int64(len(binlogdir.Magic)) && mustNext(last) == p.w.Name {
			return nil // the file the source will open next
		}
		return cli.WithHint(refused("%s is past the source's newest binlog %s on %s", p.w.Name, last, p.spec),
			"the source's binary logs were reset; pull into a new directory after a new snapshot")
	}
	return cli.WithHint(refused("%s is missing on %s", p.w.Name, p.spec), "take a new snapshot and pull into a new directory")
}

func mustNext(f string) string {
	n, err := position.Next(f)
	if err != nil {
		return ""
	}
	return n
}

// startFile picks where an empty directory starts.
func (p *puller) startFile(conn *client.Conn, srv *mysqlx.Server, logs []binaryLog) (string, error) {
	switch {
	case p.cmd.StartFile != "":
		for _, l := range logs {
			if l.name == p.cmd.StartFile {
				if p.cmd.StartPos > uint64(l.size) {
					return "", refused("--start-pos %d is past the end of %s (%d bytes) on %s", p.cmd.StartPos, l.name, l.size, p.spec)
				}
				return l.name, nil
			}
		}
		return "", cli.WithHint(refused("%s does not have %s (it has %s to %s)", p.spec, p.cmd.StartFile, logs[0].name, logs[len(logs)-1].name),
			"a purged position cannot be pulled: take a new snapshot")
	case p.cmd.StartGTID != "":
		want, err := position.ParseSet(srv.Flavor, p.cmd.StartGTID)
		if err != nil {
			return "", cli.WithCode(cli.ExitUsage, fmt.Errorf("--start-gtid: %w", err))
		}
		// The newest file whose preceding GTIDs are all in want holds the
		// first transaction after want.
		for i := len(logs) - 1; i >= 0; i-- {
			prev, err := previousGTIDs(conn, srv.Flavor, logs[i].name)
			if err != nil {
				return "", cli.WithCode(cli.ExitIO, fmt.Errorf("%s: %w", p.spec, err))
			}
			if want.ContainsSet(prev) {
				return logs[i].name, nil
			}
		}
		return "", cli.WithHint(refused("transactions after %s are purged on %s (oldest binlog %s)", want, p.spec, logs[0].name),
			"take a new snapshot and start from its GTID set")
	}
	return logs[0].name, nil
}

// session streams from one connection until it fails or ends.
func (p *puller) session(ctx context.Context, conn *client.Conn) error {
	cfg := binlogstream.Config{
		ServerID:    p.serverID,
		Flavor:      position.Flavor(p.src.Flavor),
		Heartbeat:   p.cmd.Heartbeat,
		ReadTimeout: max(10*p.cmd.Heartbeat, 10*time.Second),
		SemiSync:    p.cmd.SemiSync,
		NonBlock:    p.cmd.UntilEnd,
	}
	if p.cmd.SemiSync {
		p.checkSemiSync(conn)
	}
	if p.w.Size > math.MaxUint32 {
		// COM_BINLOG_DUMP carries a 4-byte position: asking for this one
		// would silently ask for another.
		conn.Close()
		return refused("%s:%d cannot be resumed: the replication protocol's dump request holds positions below 4 GiB", p.w.Name, p.w.Size)
	}
	st, err := binlogstream.Start(ctx, conn, cfg, p.w.Name, uint32(max(p.w.Size, int64(len(binlogdir.Magic)))))
	if err != nil {
		conn.Close()
		return err
	}
	defer st.Close()

	batches := make(chan *batch, 16)
	free := make(chan *batch, 16)
	readErr := make(chan error, 1)
	done := make(chan struct{}) // the session is over: the reader must not block
	defer close(done)
	go func() {
		defer close(batches)
		send := func(b *batch) bool {
			select {
			case batches <- b:
				return true
			case <-done:
				return false
			}
		}
		b := newBatch(free)
		for {
			ev, err := st.Next(b.alloc)
			if err != nil {
				if len(b.events) > 0 && !send(b) {
					return
				}
				readErr <- err
				return
			}
			b.events = append(b.events, ev)
			// Hand over what the socket has delivered so far in one go:
			// one channel operation per burst, not per event.
			if !st.Buffered() || len(b.events) >= 4096 || b.full() || ev.NeedAck {
				if !send(b) {
					return
				}
				b = newBatch(free)
			}
		}
	}()

	tick := time.NewTicker(p.cmd.FsyncInterval)
	defer tick.Stop()
	for {
		select {
		case batch, ok := <-batches:
			if !ok {
				err := <-readErr
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, io.EOF) {
					if p.cmd.UntilEnd {
						return nil
					}
					err = errSourceEnded
				}
				if err := p.checkpoint(); err != nil {
					return err
				}
				return classifyStream(err, p)
			}
			for _, ev := range batch.events {
				if err := p.handle(ev); err != nil {
					return err
				}
			}
			batch.recycle(free)
			if len(batches) == 0 && p.w.Size-p.w.Synced <= quietSyncBytes && p.env.Now().Sub(p.lastSync) >= quietSync {
				// Caught up with the source: make what arrived durable
				// now rather than at the next tick, so the directory lags
				// the source by milliseconds, not by --fsync-interval.
				// Not while a backlog streams in: there, fsyncs of a few
				// megabytes would cost more than the lag they save.
				if err := p.checkpoint(); err != nil {
					return err
				}
			}
			if p.pendingAck && len(batches) == 0 {
				// One fsync and one ACK for every transaction received
				// so far: the ACK of a position covers all before it.
				if err := p.w.Sync(); err != nil {
					return classifyLocal(err)
				}
				p.pendingAck = false
				if err := st.Ack(p.ackFile, uint64(p.ackPos)); err != nil {
					return err
				}
			}
		case <-tick.C:
			if err := p.checkpoint(); err != nil {
				return err
			}
			if err := p.writeMetrics(); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// handle stores or interprets one event of the stream.
func (p *puller) handle(ev binlogstream.Event) error {
	h, err := binlogdir.ParseHeader(ev.Data)
	if err != nil {
		return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s: bad event after %s:%d: %w", p.spec, p.w.Name, p.w.Size, err))
	}
	if int(h.Size) != len(ev.Data) {
		return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s: event after %s:%d says it has %d bytes but has %d", p.spec, p.w.Name, p.w.Size, h.Size, len(ev.Data)))
	}
	p.stats.events.Add(1)
	p.stats.bytes.Add(int64(len(ev.Data)))
	if h.Artificial() {
		return p.handleArtificial(h, ev.Data)
	}
	p.stats.lastEventTS.Store(int64(h.Timestamp))
	p.stats.caughtUp.Store(false)
	if _, err := p.w.Append(h, ev.Data); err != nil {
		return classifyLocal(err)
	}
	p.stats.written.Add(1)
	p.stats.size.Store(p.w.Size)
	if ev.NeedAck {
		p.pendingAck, p.ackFile, p.ackPos = true, p.w.Name, p.w.Size
	}
	if h.Type == binlogdir.RotateEvent {
		next, _, err := binlogdir.ParseRotate(binlogdir.Body(ev.Data, p.w.FormatDescription().ChecksumAlg))
		if err != nil {
			return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s at %d: %w", p.w.Path(), p.w.Size, err))
		}
		return p.switchFile(next)
	}
	return nil
}

func (p *puller) handleArtificial(h binlogdir.Header, ev []byte) error {
	// Made-up events carry a checksum when the source's binlog has them;
	// which one is not announced before the FORMAT_DESCRIPTION, so try.
	alg := byte(binlogdir.ChecksumOff)
	if binlogdir.VerifyChecksum(ev, binlogdir.ChecksumCRC32) == nil {
		alg = binlogdir.ChecksumCRC32
	}
	switch h.Type {
	case binlogdir.RotateEvent:
		next, _, err := binlogdir.ParseRotate(binlogdir.Body(ev, alg))
		if err != nil {
			return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s: %w", p.spec, err))
		}
		if next != p.w.Name {
			// The source moved on without a ROTATE in the file (it
			// stopped or crashed): the file we have is all there is.
			return p.switchFile(next)
		}
	case binlogdir.FormatDescriptionEvent:
		// Resent when a dump starts inside a file: it must be the one our
		// copy of the file starts with, or the names match but the files
		// do not (the source's binlogs were reset, or it is another server).
		if p.w.IsOpen() {
			fd, err := binlogdir.ParseFormatDescription(ev)
			local := p.w.FormatDescription()
			if err != nil || fd.ServerVersion != local.ServerVersion || h.Timestamp != local.Timestamp {
				return cli.WithHint(refused("%s on %s is not the file %s holds (its FORMAT_DESCRIPTION differs)", p.w.Name, p.spec, p.dir),
					"the source's binary logs were reset or replaced; pull into a new directory after a new snapshot")
			}
		}
	case binlogdir.HeartbeatEvent, binlogdir.HeartbeatEventV2:
		name := string(binlogdir.Body(ev, alg))
		if h.Type == binlogdir.HeartbeatEvent && name == p.w.Name && int64(h.LogPos) == p.w.Size {
			p.stats.caughtUp.Store(true)
		}
	}
	return nil
}

// switchFile completes the active file, announces it and moves to next.
func (p *puller) switchFile(next string) error {
	done := ""
	if p.w.IsOpen() {
		done = p.w.Path()
		if err := p.w.Complete(); err != nil {
			return classifyLocal(err)
		}
	}
	if done != "" {
		p.stats.files.Add(1)
		if err := p.announce(done); err != nil {
			return err
		}
	}
	if err := p.open(next, 0, 0); err != nil {
		return classifyLocal(err)
	}
	return p.checkpoint()
}

// announce prints a completed file on stdout, for the next command in the pipe.
func (p *puller) announce(path string) error {
	var err error
	if p.cmd.JSON {
		fi, _ := os.Stat(path)
		var size int64
		if fi != nil {
			size = fi.Size()
		}
		b, _ := json.Marshal(struct {
			Path    string `json:"path"`
			Name    string `json:"name"`
			Size    int64  `json:"size"`
			GTIDSet string `json:"gtid_set"`
			Source  string `json:"source"`
		}{path, filepath.Base(path), size, p.tr.Set.String(), p.spec.String()})
		err = p.env.Printf("%s\n", b)
	} else {
		err = p.env.Printf("%s\n", path)
	}
	if err != nil {
		return cli.WithCode(cli.ExitIO, fmt.Errorf("write standard output: %w", err))
	}
	return nil
}

// quietSync is how often at most a pull fsyncs when the stream pauses;
// --fsync-interval bounds the time between fsyncs under constant flow.
const (
	quietSync      = 50 * time.Millisecond
	quietSyncBytes = 4 << 20
)

// checkpoint makes received bytes durable and then records in the state
// file the last transaction boundary they hold.
func (p *puller) checkpoint() error {
	if err := p.w.Err(); err != nil {
		// After a failed write or fsync nothing new is vouched for: the
		// state keeps pointing at what was durable before.
		return classifyLocal(err)
	}
	if p.w.Synced == p.w.Size && p.w.Name == p.stateFile && p.w.Durable == p.statePos {
		return nil // nothing new since the last checkpoint
	}
	p.lastSync = p.env.Now()
	if err := p.w.Sync(); err != nil {
		return classifyLocal(err)
	}
	pos := p.w.Durable
	if p.w.Name != p.stateFile || pos != p.statePos {
		s := &binlogdir.State{
			Source:  p.src,
			File:    p.w.Name,
			Pos:     uint64(max(pos, int64(len(binlogdir.Magic)))),
			GTIDSet: p.tr.Set.String(),
			Updated: p.env.Now().UTC(),
		}
		if err := binlogdir.WriteState(p.dir, s); err != nil {
			return classifyLocal(fmt.Errorf("write %s: %w", filepath.Join(p.dir, binlogdir.StateName), err))
		}
		p.stateFile, p.statePos = p.w.Name, pos
	}
	return nil
}

// stop ends the pull cleanly: the active file is cut back to its last
// whole transaction, fsync'd, and the state records it.
func (p *puller) stop(ctx context.Context, err error) error {
	if p.w != nil && p.w.IsOpen() {
		if cerr := p.w.Close(); cerr != nil && err == nil {
			err = classifyLocal(cerr)
		}
	}
	if p.w != nil {
		if cerr := p.checkpoint(); cerr != nil && err == nil {
			err = cerr
		}
		if cerr := p.writeMetrics(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err == nil && ctx.Err() != nil && p.env.StopSignal() == os.Interrupt {
		err = cli.ErrInterrupted
	}
	if err == nil {
		p.env.Debugf("stopped at %s:%d", p.w.Name, p.w.Boundary)
	}
	return err
}

func (p *puller) progress() string {
	lag := "?"
	if p.stats.caughtUp.Load() {
		lag = "0s"
	} else if ts := p.stats.lastEventTS.Load(); ts > 0 {
		lag = fmt.Sprintf("%ds", max(0, p.env.Now().Unix()-ts))
	}
	file := ""
	if f := p.stats.file.Load(); f != nil {
		file = *f
	}
	return fmt.Sprintf("%s:%d  %s received  %d events  %d files  lag %s  reconnects %d",
		file, p.stats.size.Load(), cli.Bytes(p.stats.bytes.Load()), p.stats.events.Load(), p.stats.files.Load(), lag, p.stats.reconnects.Load())
}

func (p *puller) checkSemiSync(conn *client.Conn) {
	for _, v := range []string{"rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled"} {
		r, err := conn.Execute("SHOW GLOBAL VARIABLES LIKE '" + v + "'")
		if err == nil && r.RowNumber() > 0 {
			val, _ := r.GetString(0, 1)
			if strings.EqualFold(val, "ON") {
				return
			}
		}
	}
	p.env.Warnf("--semi-sync: semi-sync is not enabled on %s; its commits do not wait for this replica (RPO is not 0)", p.spec)
}

// derivedServerID gives a directory a stable server_id, so a restarted
// pull replaces its old dump thread on the source instead of adding one.
func derivedServerID(dir string) uint32 {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	// The host is part of it: two DR hosts that both use the customary
	// /var/lib/dr/binlog must not kick each other off the source.
	host, _ := os.Hostname()
	h := fnv.New32a()
	h.Write([]byte(host + ":" + abs))
	return 1<<31 | h.Sum32()&(1<<31-1)
}

// errSourceEnded is a dump the source ended with an end-of-file packet,
// as it does when it shuts down, or when the dump thread is killed.
var errSourceEnded = errors.New("source ended the binlog stream (shutting down?)")

// retriable tells a lost connection (reconnect) from a failure that a
// reconnect cannot fix.
func retriable(err error) bool {
	var ce *cli.Error
	return !errors.As(err, &ce)
}

// erSlaveSameID is MariaDB's ER_SLAVE_SAME_ID: a replica with our server_id
// connected and the source dropped us for it.
const erSlaveSameID = 4052

// classifyStream turns the end of a stream into an error with its exit status.
func classifyStream(err error, p *puller) error {
	var me *mysql.MyError
	if errors.As(err, &me) {
		if me.Code == erSlaveSameID {
			return cli.WithHint(refused("%s: another replica is connected with server_id %d: %s", p.spec, p.serverID, me.Message),
				"give each replica its own --server-id")
		}
		if me.Code == mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
			msg := strings.ToLower(me.Message)
			if strings.Contains(msg, "could not find") || strings.Contains(msg, "purged") || strings.Contains(msg, "first log file name") {
				return cli.WithHint(refused("%s:%d is purged on %s: %s", p.w.Name, p.w.Size, p.spec, me.Message),
					"the directory can no longer be continued without a gap: take a new snapshot (dr-snap) and pull into a new directory")
			}
			if strings.Contains(msg, "> file size") || strings.Contains(msg, "beyond") || strings.Contains(msg, "impossible position") ||
				strings.Contains(msg, "greater than actual file size") || strings.Contains(msg, "invalid pos") {
				return cli.WithHint(refused("%s no longer has %s up to %d, which this directory holds: %s", p.spec, p.w.Name, p.w.Size, me.Message),
					"the source lost binlog events (a crash with sync_binlog=0, or a restore); pull into a new directory after a new snapshot")
			}
			if strings.Contains(msg, "same server_uuid/server_id") || strings.Contains(msg, "same server_id") {
				return cli.WithHint(refused("%s: another replica connected with server_id %d: %s", p.spec, p.serverID, me.Message),
					"give each replica its own --server-id")
			}
			if strings.Contains(msg, "checksum") || strings.Contains(msg, "corrupt") || strings.Contains(msg, "bogus") || strings.Contains(msg, "truncated") {
				return cli.WithCode(cli.ExitCorrupt, fmt.Errorf("%s reports its binlog %s at %d is corrupt: %s", p.spec, p.w.Name, p.w.Size, me.Message))
			}
		}
		return fmt.Errorf("%s: error %d: %s", p.spec, me.Code, me.Message)
	}
	return fmt.Errorf("%s: %w", p.spec, err)
}

// classifyLocal gives errors of the directory their exit status: a full
// disk or any other I/O failure is 3 (the pull resumes when it is fixed),
// a file that is not what it must be is 4.
func classifyLocal(err error) error {
	var ce *binlogdir.CorruptError
	if errors.As(err, &ce) {
		return cli.WithCode(cli.ExitCorrupt, err)
	}
	if errors.Is(err, syscall.ENOSPC) {
		return cli.WithHint(cli.WithCode(cli.ExitIO, err), "free space; the directory is consistent and the pull resumes where it stopped")
	}
	var e *cli.Error
	if errors.As(err, &e) {
		return err
	}
	return cli.WithCode(cli.ExitIO, err)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// open makes name, at size, the active file.
func (p *puller) open(name string, size int64, lastType byte) error {
	if err := p.w.Open(name, size, lastType); err != nil {
		return err
	}
	p.stats.file.Store(&name)
	p.stats.size.Store(p.w.Size)
	return nil
}
