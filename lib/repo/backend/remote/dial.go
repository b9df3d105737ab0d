package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// RemoteCommand is the program Dial runs on the far end.
const RemoteCommand = "dr-ship"

// Dial starts `ssh HOST 'dr-ship serve --repo PATH'` and returns a Client
// speaking over its stdin and stdout.
//
// sshCommand replaces "ssh" (nil or empty means ["ssh"]): it is the
// program and its own options, as --ssh-command gives them, and Dial
// appends two arguments, the host ([user@]host) and the remote command as
// ONE shell-quoted string, the way rsync -e and borg's BORG_RSH compose.
// So --ssh-command 'ssh -p 2222 -i key' runs
//
//	ssh -p 2222 -i key user@host "dr-ship serve --repo '/srv/dr repo'"
//
// and a local stand-in for ssh only has to run its last argument with
// sh -c, as sshd does, for instance:
//
//	sh -c 'exec sh -c "$2"' ssh
//
// The path is quoted because ssh hands the remote command to the remote
// user's shell. The process's stderr is kept (its last few KiB) and
// included in the errors of a session that fails, so "Connection refused"
// or "dr-ship: command not found" reach the user. ctx bounds the start and
// the handshake, not the session: Close ends that.
func Dial(ctx context.Context, sshCommand []string, host, path string) (*Client, error) {
	return DialWith(ctx, DialOptions{SSHCommand: sshCommand, Host: host, Path: path})
}

// DialOptions are Dial's arguments, plus a hook on the stream.
type DialOptions struct {
	SSHCommand []string
	Host       string // [user@]host
	Path       string // of the repository on the far end
	// Wrap, when set, wraps the stream to the process (a bandwidth limit:
	// ratelimit.Limiter.Reader and Writer).
	Wrap func(r io.Reader, w io.Writer) (io.Reader, io.Writer)
}

// DialWith is Dial with options.
func DialWith(ctx context.Context, o DialOptions) (*Client, error) {
	sshCommand, host, path := o.SSHCommand, o.Host, o.Path
	if len(sshCommand) == 0 {
		sshCommand = []string{"ssh"}
	}
	location := "ssh://" + host + "/" + strings.TrimPrefix(path, "/")
	if host == "" {
		return nil, fmt.Errorf("remote %s: no host", location)
	}
	// ssh would take a host such as "-oProxyCommand=..." as an option and
	// run it locally.
	if strings.HasPrefix(host, "-") {
		return nil, fmt.Errorf("remote %s: invalid host %q", location, host)
	}
	if path == "" {
		return nil, fmt.Errorf("remote %s: no repository path", location)
	}
	argv := append(slices.Clone(sshCommand), host, RemoteCommand+" serve --repo "+ShellQuote(path))

	// Our own pipes rather than StdinPipe/StdoutPipe: Wait closes those as
	// soon as the process exits, which could lose the last answer (an
	// error frame) before we read it.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", location, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("remote %s: %w", location, err)
	}
	p := &process{stderr: &tail{max: 4 << 10}, exited: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	// ssh with a ControlMaster may leave a child holding stderr open.
	cmd.WaitDelay = 2 * time.Second
	p.cmd = cmd
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("remote %s: start %s: %w", location, argv[0], err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	var rd io.Reader = outR
	var wr io.Writer = inW
	if o.Wrap != nil {
		rd, wr = o.Wrap(rd, wr)
	}
	c := newClient(rd, wr, location)
	c.proc = p
	c.transport = onceErr(func() error { return errors.Join(inW.Close(), outR.Close()) })
	if err := c.handshake(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ShellQuote quotes s as one word for a POSIX shell.
func ShellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("/._-+,:=@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// process is the ssh (or stand-in) process of a Dial.
type process struct {
	cmd    *exec.Cmd
	stderr *tail
	exited chan struct{} // closed when Wait returned, with err set
	err    error
}

// stop kills the process: it is what cuts a session whose ctx ended.
func (p *process) stop() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
	}
}

// wait waits for the process after its stdin was closed: a far end that
// does not exit soon is killed.
func (p *process) wait() error {
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w%s", p.cmd.Args[0], p.err, p.said())
	}
	return nil
}

// report says how the process ended and what it wrote on stderr, for the
// error of a broken session: it waits a little for the process to exit,
// since a broken pipe usually means it is exiting.
func (p *process) report() string {
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
	}
	var b strings.Builder
	select {
	case <-p.exited:
		if p.err != nil {
			fmt.Fprintf(&b, " (%s: %v", p.cmd.Args[0], p.err)
			var ee *exec.ExitError
			if errors.As(p.err, &ee) && ee.ExitCode() == 127 {
				b.WriteString(": is " + RemoteCommand + " installed and on the PATH of the far end?")
			}
			b.WriteString(")")
		}
	default:
	}
	b.WriteString(p.said())
	return b.String()
}

// said is the process's stderr as a suffix of one line.
func (p *process) said() string {
	s := p.stderr.String()
	if s == "" {
		return ""
	}
	return ": the far end said: " + s
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

// String returns the kept lines joined with "; ", so an error stays one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if t.cut && s != "" {
		s = "..." + s
	}
	return s
}
