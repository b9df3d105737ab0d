// Command lagprobe measures how far a dr-binlog-pull directory trails its
// source: every --interval it commits one small transaction on the source,
// reads SHOW MASTER STATUS on the same connection right after the commit,
// and times how long the directory's state file takes to reach that
// position (the state records the durable end of the pulled binlog).
//
// It is a helper of scripts/bench, not a shipped command. Output, on
// stdout, one line of key=value pairs (milliseconds):
//
//	samples=N timeouts=N p50=.. p90=.. p99=.. max=.. commit_p50=.. commit_max=..
//
// A sample's lag runs from just before the commit is sent to the first poll
// that sees the state file at or past the position; commit_* is the part
// spent in the commit itself (the primary's group commit and fsync).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

type pos struct {
	file string
	pos  uint64
}

// seq is the numeric extension of a binlog file name (mysql-bin.000123 -> 123).
func seq(file string) uint64 {
	n, _ := strconv.ParseUint(file[strings.LastIndexByte(file, '.')+1:], 10, 64)
	return n
}

// reached reports whether a is at or past b.
func (a pos) reached(b pos) bool {
	if sa, sb := seq(a.file), seq(b.file); sa != sb {
		return sa > sb
	}
	return a.pos >= b.pos
}

type pending struct {
	t0     time.Time
	commit time.Duration
	target pos
}

func readState(path string) (pos, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pos{}, err
	}
	var s struct {
		File string `json:"file"`
		Pos  uint64 `json:"pos"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return pos{}, fmt.Errorf("%s: %w", path, err)
	}
	return pos{s.File, s.Pos}, nil
}

// pct is the nearest-rank percentile of sorted xs.
func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "lagprobe: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:3306", "source `host:port`")
	user := flag.String("user", "root", "source user (no password)")
	dir := flag.String("dir", "", "binlog directory of the dr-binlog-pull to watch")
	interval := flag.Duration("interval", 100*time.Millisecond, "time between probe transactions")
	poll := flag.Duration("poll", 5*time.Millisecond, "time between reads of the state file")
	duration := flag.Duration("duration", 30*time.Second, "how long to probe (SIGTERM stops earlier)")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on a sample after this long")
	flag.Parse()
	if *dir == "" {
		return errors.New("--dir is required")
	}
	state := filepath.Join(*dir, "dr-binlog-state.json")

	conn, err := client.Connect(*addr, *user, "", "")
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *addr, err)
	}
	defer conn.Close()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS lagprobe",
		"CREATE TABLE IF NOT EXISTS lagprobe.probe (id BIGINT AUTO_INCREMENT PRIMARY KEY, t DATETIME(6) NOT NULL) ENGINE=InnoDB",
	} {
		if _, err := conn.Execute(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}

	var (
		mu       sync.Mutex
		queue    []pending
		done     bool
		probeErr error
	)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	// The committer: one autocommit INSERT per interval, then the source's
	// end position, which covers the INSERT.
	go func() {
		defer func() { mu.Lock(); done = true; mu.Unlock() }()
		end := time.After(*duration)
		for {
			t0 := time.Now()
			if _, err := conn.Execute("INSERT INTO lagprobe.probe (t) VALUES (NOW(6))"); err != nil {
				mu.Lock()
				probeErr = fmt.Errorf("probe insert: %w", err)
				mu.Unlock()
				return
			}
			commit := time.Since(t0)
			r, err := conn.Execute("SHOW MASTER STATUS")
			if err == nil && r.RowNumber() == 0 {
				err = errors.New("no rows (binlog off?)")
			}
			var p pos
			if err == nil {
				p.file, err = r.GetString(0, 0)
			}
			if err == nil {
				p.pos, err = r.GetUint(0, 1)
			}
			if err != nil {
				mu.Lock()
				probeErr = fmt.Errorf("SHOW MASTER STATUS: %w", err)
				mu.Unlock()
				return
			}
			mu.Lock()
			queue = append(queue, pending{t0, commit, p})
			mu.Unlock()
			// Jittered (0.5-1.5 intervals), so the probes do not lock in
			// phase with the puller's fsync ticker and sample one point of it.
			wait := time.Duration((0.5 + rand.Float64()) * float64(*interval))
			select {
			case <-time.After(time.Until(t0.Add(wait))):
			case <-end:
				return
			case <-stop:
				return
			}
		}
	}()

	var lags, commits []time.Duration
	timeouts := 0
	for {
		time.Sleep(*poll)
		st, err := readState(state)
		now := time.Now()
		mu.Lock()
		if err == nil {
			for len(queue) > 0 && st.reached(queue[0].target) {
				lags = append(lags, now.Sub(queue[0].t0))
				commits = append(commits, queue[0].commit)
				queue = queue[1:]
			}
		}
		for len(queue) > 0 && now.Sub(queue[0].t0) > *timeout {
			timeouts++
			queue = queue[1:]
		}
		finished := done && len(queue) == 0
		perr := probeErr
		mu.Unlock()
		if perr != nil {
			return perr
		}
		if finished {
			break
		}
	}
	if len(lags) == 0 {
		return fmt.Errorf("no sample reached %s (timeouts: %d)", state, timeouts)
	}
	slices.Sort(lags)
	slices.Sort(commits)
	fmt.Printf("samples=%d timeouts=%d p50=%s p90=%s p99=%s max=%s commit_p50=%s commit_max=%s\n",
		len(lags), timeouts, ms(pct(lags, .5)), ms(pct(lags, .9)), ms(pct(lags, .99)), ms(lags[len(lags)-1]),
		ms(pct(commits, .5)), ms(commits[len(commits)-1]))
	return nil
}
