package dr_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dr-mysql/dr/lib/binlogdir"
	"github.com/dr-mysql/dr/lib/position"
)

// scriptCmds are the testscript commands that drive real servers.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"sandbox-start":  cmdSandboxStart,
	"pulled-equal":   cmdPulledEqual,
	"caught-up":      cmdCaughtUp,
	"wait-file":      cmdWaitFile,
	"kill-loop":      cmdKillLoop,
	"flip-byte":      cmdFlipByte,
	"signal":         cmdSignal,
	"exitcode":       cmdExitcode,
	"append-garbage": cmdAppendGarbage,
	"mount-tmpfs":    cmdMountTmpfs,
	"gtids-covered":  cmdGTIDsCovered,
	// testcmds_snap_test.go
	"db-equal":        cmdDBEqual,
	"manifest-get":    cmdManifestGet,
	"bank-consistent": cmdBankConsistent,
	// testcmds_ship_test.go
	"minio-start":    cmdMinioStart,
	"ship-added":     cmdShipAdded,
	"ship-flip-pack": cmdShipFlipPack,
	"tree-equal":     cmdTreeEqual,
}

// stopSandboxes stops every sandbox a scenario started. The script is
// named by its path: the test process's own PATH does not have scripts/.
func stopSandboxes(script string, vars []string) error {
	cmd := exec.Command(script, "stop-all")
	cmd.Env = vars
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s stop-all: %v: %s", script, err, out)
	}
	return nil
}

// sandbox runs scripts/dr-sandbox with the script's environment.
func sandbox(ts *testscript.TestScript, args ...string) string {
	cmd := exec.Command(lookPath(ts, "dr-sandbox"), args...)
	cmd.Env = environ(ts)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		ts.Fatalf("dr-sandbox %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func environ(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "DR_SANDBOX_DIR", "DR_SANDBOX_TEMPLATE_DIR", "WORK"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

func lookPath(ts *testscript.TestScript, name string) string {
	for _, d := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	ts.Fatalf("%s not found in PATH", name)
	return ""
}

// sandbox-start NAME [dr-sandbox start flags...]
// starts (or restarts) a sandbox server and sets NAME_URL, NAME_PORT and
// NAME_DATADIR for the rest of the script.
func cmdSandboxStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: sandbox-start NAME [flags]")
	}
	name := args[0]
	url := sandbox(ts, append([]string{"start"}, args...)...)
	key := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	ts.Setenv(key+"_URL", url)
	ts.Setenv(key+"_PORT", sandbox(ts, "port", name))
	ts.Setenv(key+"_DATADIR", sandbox(ts, "datadir", name))
}

// pulled-equal DIR DATADIR
// checks that every binlog file in DIR is byte-identical to the one in
// DATADIR, except the last, which must be a prefix of it.
func cmdPulledEqual(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: pulled-equal DIR DATADIR")
	}
	dir, src := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	files, err := binlogdir.Files(dir)
	ts.Check(err)
	if len(files) == 0 {
		ts.Fatalf("no binlog files in %s", dir)
	}
	var bad []string
	for i, f := range files {
		a, err := os.ReadFile(filepath.Join(dir, f))
		ts.Check(err)
		b, err := os.ReadFile(filepath.Join(src, f))
		ts.Check(err)
		last := i == len(files)-1
		switch {
		case bytes.Equal(a, b):
		case last && len(a) <= len(b) && bytes.Equal(a, b[:len(a)]):
		default:
			n := 0
			for n < len(a) && n < len(b) && a[n] == b[n] {
				n++
			}
			bad = append(bad, fmt.Sprintf("%s differs at byte %d (pulled %d bytes, source %d)", f, n, len(a), len(b)))
		}
	}
	ts.Logf("compared %d files", len(files))
	if neg {
		if len(bad) == 0 {
			ts.Fatalf("pulled files equal the source's")
		}
		return
	}
	if len(bad) > 0 {
		ts.Fatalf("%s", strings.Join(bad, "\n"))
	}
}

// caught-up SANDBOX DIR [SECONDS]
// waits until DIR's state records the sandbox's current binlog end.
func cmdCaughtUp(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: caught-up SANDBOX DIR [SECONDS]")
	}
	timeout := 60 * time.Second
	if len(args) > 2 {
		s, err := strconv.Atoi(args[2])
		ts.Check(err)
		timeout = time.Duration(s) * time.Second
	}
	out := sandbox(ts, "sql", args[0], "SHOW MASTER STATUS")
	f := strings.Fields(out)
	if len(f) < 2 {
		ts.Fatalf("SHOW MASTER STATUS: %q", out)
	}
	want, _ := strconv.ParseUint(f[1], 10, 64)
	dir := ts.MkAbs(args[1])
	deadline := time.Now().Add(timeout)
	for {
		st, err := binlogdir.ReadState(dir)
		if err == nil && st != nil && st.File == f[0] && st.Pos >= want {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not reach %s:%d in %s (state %+v, err %v)", dir, f[0], want, timeout, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait-file FILE [SECONDS]
// waits until FILE exists and is not empty.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: wait-file FILE [SECONDS]")
	}
	timeout := 30 * time.Second
	if len(args) > 1 {
		s, err := strconv.Atoi(args[1])
		ts.Check(err)
		timeout = time.Duration(s) * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if fi, err := os.Stat(ts.MkAbs(args[0])); err == nil && fi.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear in %s", args[0], timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill-loop N MIN_MS MAX_MS COMMAND ARGS...
// runs COMMAND N times, each killed with SIGKILL after a random delay
// between MIN_MS and MAX_MS. A run that fails on its own fails the test.
func cmdKillLoop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 {
		ts.Fatalf("usage: kill-loop N MIN_MS MAX_MS COMMAND ARGS...")
	}
	n, err1 := strconv.Atoi(args[0])
	lo, err2 := strconv.Atoi(args[1])
	hi, err3 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || err3 != nil || hi < lo {
		ts.Fatalf("kill-loop: bad numbers")
	}
	for i := 0; i < n; i++ {
		cmd := exec.Command(lookPath(ts, args[3]), args[4:]...)
		cmd.Env = append(os.Environ(), environ(ts)...)
		cmd.Dir = ts.Getenv("WORK")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		ts.Check(cmd.Start())
		delay := time.Duration(lo+rand.IntN(hi-lo+1)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				ts.Fatalf("run %d ended by itself: %v\n%s", i+1, err, errb.String())
			}
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
		ts.Logf("run %d killed after %s", i+1, delay)
	}
}

// flip-byte FILE OFFSET
// inverts one byte of FILE; a negative OFFSET counts from the end.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flip-byte FILE OFFSET")
	}
	path := ts.MkAbs(args[0])
	off, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	ts.Check(err)
	defer f.Close()
	if off < 0 {
		fi, err := f.Stat()
		ts.Check(err)
		off += fi.Size()
	}
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	ts.Check(err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	ts.Check(err)
}

// signal PIDFILE SIGNAL
// sends SIGNAL (TERM, INT, USR1, KILL) to the process whose pid is the
// first line of PIDFILE (a binlog directory's lock file holds its writer's).
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal PIDFILE SIGNAL")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	ts.Check(err)
	sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "USR1": syscall.SIGUSR1, "KILL": syscall.SIGKILL}[args[1]]
	if sig == 0 {
		ts.Fatalf("unknown signal %s", args[1])
	}
	ts.Check(syscall.Kill(pid, sig))
}

// mount-tmpfs DIR SIZE
// mounts a tmpfs of SIZE (as mount takes it: 2m) on DIR for the rest of
// the script. Guard it with [mount]: not every machine lets tests mount.
func cmdMountTmpfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mount-tmpfs DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+args[1], "tmpfs", dir).CombinedOutput()
	if err != nil {
		ts.Fatalf("mount a tmpfs on %s: %v %s", dir, err, out)
	}
	ts.Defer(func() { exec.Command("umount", "-l", dir).Run() })
}

// gtids-covered DIR FILE
// checks that every GTID listed in FILE (one a line) is in the GTID set
// that DIR's state records.
func cmdGTIDsCovered(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gtids-covered DIR FILE")
	}
	st, err := binlogdir.ReadState(ts.MkAbs(args[0]))
	ts.Check(err)
	if st == nil {
		ts.Fatalf("%s has no state", args[0])
	}
	set, err := position.ParseSet(position.Flavor(st.Source.Flavor), st.GTIDSet)
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	n := 0
	for _, line := range strings.Fields(string(b)) {
		g, err := position.ParseGTID(set.Flavor(), line)
		ts.Check(err)
		if !set.Contains(g) {
			ts.Fatalf("committed transaction %s is not in %s (pulled set %s)", g, args[0], set)
		}
		n++
	}
	if n == 0 {
		ts.Fatalf("%s lists no GTIDs", args[1])
	}
	ts.Logf("%d committed GTIDs all pulled (set %s)", n, set)
}

// scriptCondition answers [mount]: whether this process may mount a tmpfs.
func scriptCondition(cond string) (bool, error) {
	if cond != "mount" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	canMountOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dr-mount-probe")
		if err != nil {
			return
		}
		defer os.Remove(dir)
		if exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).Run() == nil {
			canMount = true
			exec.Command("umount", dir).Run()
		}
	})
	return canMount, nil
}

var (
	canMountOnce sync.Once
	canMount     bool
)

// append-garbage FILE N
// appends N bytes that look like the start of an event and then stop, as
// a write torn by a crash leaves them.
func cmdAppendGarbage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: append-garbage FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY|os.O_APPEND, 0)
	ts.Check(err)
	defer f.Close()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	if n >= 13 {
		// a header whose size runs past the end of the file
		b[9], b[10], b[11], b[12] = 0, 0, 1, 0
	}
	_, err = f.Write(b)
	ts.Check(err)
}

// exitFileEnv names the file where a dr command run by a scenario leaves
// its exit status, for exitcode to check: testscript itself only tells
// success from failure.
const exitFileEnv = "DR_TEST_EXIT_FILE"

func recordExit(code int) int {
	if f := os.Getenv(exitFileEnv); f != "" {
		os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644)
	}
	return code
}

// exitcode N
// checks the exit status of the last dr command the scenario ran.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	b, err := os.ReadFile(ts.Getenv(exitFileEnv))
	ts.Check(err)
	if got := strings.TrimSpace(string(b)); got != args[0] {
		ts.Fatalf("exit status %s, want %s", got, args[0])
	}
}
