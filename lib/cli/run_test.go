package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the signal goroutine of Run and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testCmd is a minimal command: its Run calls run.
type testCmd struct {
	Globals
	Count int    `help:"A number." default:"1"`
	Name  string `arg:"" optional:"" help:"A name."`

	run func(ctx context.Context, env *Env) error
	env *Env
}

func (c *testCmd) Run(ctx context.Context, env *Env) error {
	c.env = env
	if c.run == nil {
		return nil
	}
	return c.run(ctx, env)
}

func runTest(t *testing.T, args []string, run func(ctx context.Context, env *Env) error) (code int, stdout, stderr string, cmd *testCmd) {
	t.Helper()
	var out, errb syncBuffer
	cmd = &testCmd{run: run}
	io := IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
	code = Run("dr-test", "A command for tests.", args, io, cmd)
	return code, out.String(), errb.String(), cmd
}

func TestRunHelp(t *testing.T) {
	called := false
	code, stdout, stderr, _ := runTest(t, []string{"--help"}, func(context.Context, *Env) error { called = true; return nil })
	if code != 0 {
		t.Errorf("code %d", code)
	}
	if called {
		t.Error("Run called after --help")
	}
	if !strings.Contains(stdout, "Usage: dr-test") || !strings.Contains(stdout, "A command for tests.") ||
		!strings.Contains(stdout, "--count=") || !strings.Contains(stdout, "--version") {
		t.Errorf("help:\n%s", stdout)
	}
	if stderr != "" {
		t.Errorf("stderr %q", stderr)
	}
	for _, args := range [][]string{{"-h"}, {"--count=5", "--help"}, {"alice", "--help"}} {
		if code, stdout, _, _ := runTest(t, args, nil); code != 0 || !strings.Contains(stdout, "Usage: dr-test") {
			t.Errorf("%v: code %d", args, code)
		}
	}
}

func TestRunVersion(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "v9.9.9"
	called := false
	code, stdout, stderr, _ := runTest(t, []string{"--version"}, func(context.Context, *Env) error { called = true; return nil })
	if code != 0 || stdout != "dr-test v9.9.9\n" || stderr != "" || called {
		t.Errorf("code %d stdout %q stderr %q called %v", code, stdout, stderr, called)
	}
	Version = ""
	_, stdout, _, _ = runTest(t, []string{"--version"}, nil)
	if stdout != "dr-test "+VersionString()+"\n" || VersionString() == "" {
		t.Errorf("stdout %q, VersionString %q", stdout, VersionString())
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // the error line after "dr-test: error: "
	}{
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"--count=x"}, "--count: expected a valid 64 bit int but got \"x\""},
		{[]string{"a", "b"}, "unexpected argument b"},
	}
	for _, tt := range tests {
		called := false
		code, stdout, stderr, _ := runTest(t, tt.args, func(context.Context, *Env) error { called = true; return nil })
		if code != ExitUsage {
			t.Errorf("%v: code %d, want 2", tt.args, code)
		}
		if called {
			t.Errorf("%v: Run called", tt.args)
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q", tt.args, stdout)
		}
		want := "dr-test: error: " + tt.want + "\ndr-test: hint: see 'dr-test --help'\n"
		if stderr != want {
			t.Errorf("%v: stderr\n%q\nwant\n%q", tt.args, stderr, want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"nil", nil, 0, ""},
		{"coded", Errorf(4, "bad thing at %d", 7), 4, "dr-test: error: bad thing at 7\n"},
		{"plain", errors.New("dial tcp 127.0.0.1:3306: connection refused"), 3, "dr-test: error: dial tcp 127.0.0.1:3306: connection refused\n"},
		{"multi-line", errors.New("first line\nsecond line\n"), 3, "dr-test: error: first line; second line\n"},
		{"multi-line coded", Errorf(ExitCorrupt, "a\nb\nc"), 4, "dr-test: error: a; b; c\n"},
		{"hint", WithHint(Errorf(ExitRefused, "target is not empty"), "use --force"), 5, "dr-test: error: target is not empty\ndr-test: hint: use --force\n"},
		{"canceled", context.Canceled, 130, "dr-test: error: context canceled\n"},
		{"diff", &Error{Code: ExitDiff, Err: errors.New("3 tables differ")}, 1, "dr-test: error: 3 tables differ\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr, _ := runTest(t, nil, func(context.Context, *Env) error { return tt.err })
			if code != tt.code || stderr != tt.stderr || stdout != "" {
				t.Errorf("code %d stderr %q stdout %q, want %d %q", code, stderr, stdout, tt.code, tt.stderr)
			}
		})
	}
}

func TestRunFlagsReachCommand(t *testing.T) {
	var gotEnv *Env
	code, _, _, cmd := runTest(t, []string{"-v", "--count=3", "alice"}, func(ctx context.Context, env *Env) error {
		gotEnv = env
		if ctx == nil || ctx.Err() != nil {
			t.Error("no live context")
		}
		env.Debugf("debug %d", 1)
		return nil
	})
	if code != 0 || cmd.Count != 3 || cmd.Name != "alice" || !cmd.Verbose {
		t.Errorf("code %d cmd %+v", code, cmd)
	}
	if gotEnv == nil || !gotEnv.Verbose || gotEnv.Name != "dr-test" {
		t.Errorf("env %+v", gotEnv)
	}
}

func TestRunVerboseDebug(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		args := []string{}
		if verbose {
			args = append(args, "--verbose")
		}
		_, _, stderr, _ := runTest(t, args, func(ctx context.Context, env *Env) error {
			env.Debugf("only when verbose")
			env.Infof("info %s", "x")
			env.Warnf("careful")
			return nil
		})
		want := "dr-test: info x\ndr-test: warning: careful\n"
		if verbose {
			want = "dr-test: only when verbose\n" + want
		}
		if stderr != want {
			t.Errorf("verbose %v: %q, want %q", verbose, stderr, want)
		}
	}
}

type subCmd struct {
	Flag string `help:"f"`
	ran  *string
}

func (s *subCmd) Run(ctx context.Context, env *Env) error {
	*s.ran = "sub " + s.Flag
	return Errorf(ExitRefused, "refused %s", s.Flag)
}

type parentCmd struct {
	Globals
	Sub subCmd `cmd:"" help:"A subcommand."`
}

func TestRunSubcommand(t *testing.T) {
	var ran string
	cmd := &parentCmd{Sub: subCmd{ran: &ran}}
	var out, errb syncBuffer
	code := Run("dr-test", "d", []string{"sub", "--flag=x"}, IO{Stdout: &out, Stderr: &errb}, cmd)
	if code != ExitRefused || ran != "sub x" || errb.String() != "dr-test: error: refused x\n" {
		t.Errorf("code %d ran %q stderr %q", code, ran, errb.String())
	}
	// No subcommand: a usage error.
	errb = syncBuffer{}
	code = Run("dr-test", "d", nil, IO{Stdout: &out, Stderr: &errb}, &parentCmd{Sub: subCmd{ran: &ran}})
	if code != ExitUsage || !strings.HasPrefix(errb.String(), "dr-test: error: ") || !strings.HasSuffix(errb.String(), "dr-test: hint: see 'dr-test --help'\n") {
		t.Errorf("no subcommand: code %d stderr %q", code, errb.String())
	}
}

type badCmd struct {
	A string `name:"same"`
	B string `name:"same"`
}

func TestRunBadStruct(t *testing.T) {
	var out, errb syncBuffer
	code := Run("dr-test", "d", nil, IO{Stdout: &out, Stderr: &errb}, &badCmd{})
	if code != ExitUsage || !strings.HasPrefix(errb.String(), "dr-test: error: internal: ") || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("code %d stderr %q", code, errb.String())
	}
}

func TestRunInterrupted(t *testing.T) {
	code, _, stderr, cmd := runTest(t, nil, func(ctx context.Context, env *Env) error {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			return errors.New("context not cancelled by SIGINT")
		}
		if env.StopSignal() != os.Interrupt {
			t.Errorf("StopSignal %v", env.StopSignal())
		}
		return ctx.Err()
	})
	if code != ExitInterrupted || stderr != "dr-test: error: interrupted\n" {
		t.Errorf("code %d stderr %q", code, stderr)
	}
	_ = cmd
}

func TestRunSIGTERMCleanStop(t *testing.T) {
	code, _, stderr, _ := runTest(t, nil, func(ctx context.Context, env *Env) error {
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			return errors.New("context not cancelled by SIGTERM")
		}
		if env.StopSignal() != syscall.SIGTERM {
			t.Errorf("StopSignal %v", env.StopSignal())
		}
		return nil // a daemon's clean stop
	})
	if code != 0 || stderr != "" {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

func TestRunSIGUSR1Progress(t *testing.T) {
	var errb syncBuffer
	for _, withProgress := range []bool{false, true} {
		errb = syncBuffer{}
		io := IO{Stdout: &bytes.Buffer{}, Stderr: &errb}
		code := Run("dr-test", "d", nil, io, &testCmd{run: func(ctx context.Context, env *Env) error {
			if withProgress {
				env.SetProgress(func() string { return "3 of 5 files" })
			}
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(errb.String(), "\n") {
				if time.Now().After(deadline) {
					return errors.New("no report after SIGUSR1")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return errors.New("SIGUSR1 cancelled the context")
			}
			return nil
		}})
		want := "dr-test: no progress to report yet\n"
		if withProgress {
			want = "dr-test: 3 of 5 files\n"
		}
		if code != 0 || errb.String() != want {
			t.Errorf("progress %v: code %d stderr %q, want %q", withProgress, code, errb.String(), want)
		}
	}
}

func TestEnvProgressOnTerminal(t *testing.T) {
	var b bytes.Buffer
	env := NewEnv("dr-x", IO{Stderr: &b})
	env.tty = true     // as on a terminal
	env.drawProgress() // nothing registered: nothing drawn
	env.SetProgress(func() string { return "42%" })
	env.drawProgress()
	env.Infof("a line")
	env.drawProgress()
	env.SetProgress(nil)
	env.drawProgress()
	want := "\r\033[Kdr-x: 42%" + "\r\033[K" + "dr-x: a line\n" + "\r\033[Kdr-x: 42%" + "\r\033[K"
	if b.String() != want {
		t.Errorf("%q\nwant %q", b.String(), want)
	}
}

func TestIsTerminalAndRefuseTerminal(t *testing.T) {
	if err := RefuseTerminal(&bytes.Buffer{}, "a snapshot"); err != nil {
		t.Errorf("bytes.Buffer: %v", err)
	}
	if IsTerminal(&bytes.Buffer{}) || IsTerminal(nil) || IsTerminal("x") {
		t.Error("non-files are terminals")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || RefuseTerminal(f, "x") != nil {
		t.Error("a regular file is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) || RefuseTerminal(w, "x") != nil {
		t.Error("a pipe is a terminal")
	}
	// A pseudo-terminal is one.
	if ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		defer ptmx.Close()
		if !IsTerminal(ptmx) {
			t.Error("/dev/ptmx is not a terminal")
		}
		err := RefuseTerminal(ptmx, "a snapshot")
		if Code(err) != ExitUsage || err.Error() != "refusing to write a snapshot to a terminal" || Hint(err) == "" {
			t.Errorf("RefuseTerminal(pty) = %v (code %d, hint %q)", err, Code(err), Hint(err))
		}
	}
}

// `dr-snap ... > /dev/null` (a benchmark, a dry run) is not writing to a
// terminal, but /dev/null is a character device like a terminal is.
func TestRefuseTerminalDevNull(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatalf("IsTerminal(/dev/null) = true, so RefuseTerminal refuses `> /dev/null` with %q (io.go IsTerminal tests os.ModeCharDevice, which every character device has; it must ask the tty driver, e.g. golang.org/x/term.IsTerminal / ioctl TCGETS)", RefuseTerminal(f, "a snapshot"))
	}
}

func TestStd(t *testing.T) {
	s := Std()
	if s.Stdin != os.Stdin || s.Stdout != os.Stdout || s.Stderr != os.Stderr || s.Getenv == nil || s.Now == nil {
		t.Errorf("%+v", s)
	}
}
