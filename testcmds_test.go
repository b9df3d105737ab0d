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
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dr-mysql/dr/lib/binlogdir"
)

// scriptCmds are the testscript commands that drive real servers.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"sandbox-start": cmdSandboxStart,
	"pulled-equal":  cmdPulledEqual,
	"caught-up":     cmdCaughtUp,
	"wait-file":     cmdWaitFile,
	"kill-loop":     cmdKillLoop,
	"flip-byte":     cmdFlipByte,
}

func stopSandboxes(dir string, vars []string) {
	cmd := exec.Command("dr-sandbox", "stop-all")
	cmd.Env = vars
	cmd.Run()
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
