package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/backend/local"
	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// TestMain lets the test binary stand in for dr-ship on the far end of
// Dial: run through a symlink named dr-ship with DR_REMOTE_TEST_DRSHIP set,
// it does what `dr-ship serve --repo DIR` does.
func TestMain(m *testing.M) {
	if os.Getenv("DR_REMOTE_TEST_DRSHIP") == "1" && filepath.Base(os.Args[0]) == RemoteCommand {
		os.Exit(fakeDrShip(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeDrShip(args []string) int {
	if len(args) != 3 || args[0] != "serve" || args[1] != "--repo" {
		fmt.Fprintf(os.Stderr, "dr-ship: error: usage: dr-ship serve --repo DIR (got %q)\n", args)
		return 2
	}
	be, err := local.Open(args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "dr-ship: error: %v\n", err)
		return 3
	}
	// DR_REMOTE_TEST_DIE_AFTER=N makes the server crash once N bytes went
	// through stdin or stdout: a far end that dies mid-transfer.
	var in io.Reader = os.Stdin
	var out io.Writer = os.Stdout
	if n, err := strconv.Atoi(os.Getenv("DR_REMOTE_TEST_DIE_AFTER")); err == nil {
		in = &crashReader{os.Stdin, n}
		out = &crashWriter{os.Stdout, n}
	}
	if err := Serve(context.Background(), be, in, out); err != nil {
		fmt.Fprintf(os.Stderr, "dr-ship: error: %v\n", err)
		return 3
	}
	return 0
}

type crashReader struct {
	r io.Reader
	n int
}

func (c *crashReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		crash()
	}
	k, err := c.r.Read(p[:min(len(p), c.n)])
	c.n -= k
	return k, err
}

type crashWriter struct {
	w io.Writer
	n int
}

func (c *crashWriter) Write(p []byte) (int, error) {
	if c.n < len(p) {
		c.w.Write(p[:c.n])
		crash()
	}
	c.n -= len(p)
	return c.w.Write(p)
}

func crash() {
	fmt.Fprintln(os.Stderr, "dr-ship: fatal error: simulated crash")
	os.Exit(2)
}

// localSSH stands in for ssh: it runs the remote command, its last
// argument, with a shell, as sshd would.
var localSSH = []string{"sh", "-c", `exec sh -c "$2"`, "ssh"}

// fakePath puts a dr-ship that is this test binary first on PATH.
func fakePath(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, RemoteCommand)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DR_REMOTE_TEST_DRSHIP", "1")
}

func newRepo(t testing.TB) (string, *local.Local) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo with a space")
	be, err := local.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, be
}

// pipeClient connects a Client to a Serve over the local backend be
// through conn pairs made by pair; Serve's error is checked at cleanup.
func pipeClient(t testing.TB, be backend.Backend, pair func() (cr io.Reader, cw io.Writer, sr io.Reader, sw io.Writer, closeServer func())) *Client {
	t.Helper()
	cr, cw, sr, sw, closeServer := pair()
	served := make(chan error, 1)
	go func() {
		served <- Serve(context.Background(), be, sr, sw)
		closeServer()
	}()
	c, err := NewClient(context.Background(), cr, cw, "pipe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		select {
		case err := <-served:
			if err != nil && !t.Failed() {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after the client closed")
		}
	})
	return c
}

func netPipe() (io.Reader, io.Writer, io.Reader, io.Writer, func()) {
	c, s := net.Pipe()
	return c, c, s, s, func() { s.Close() }
}

func ioPipe() (io.Reader, io.Writer, io.Reader, io.Writer, func()) {
	toServerR, toServerW := io.Pipe()
	toClientR, toClientW := io.Pipe()
	// The client closes its writer; the server's end closes its own.
	return readCloser{toClientR}, toServerW, toServerR, toClientW, func() { toClientW.Close(); toServerR.Close() }
}

type readCloser struct{ *io.PipeReader }

func TestBackendNetPipe(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		_, be := newRepo(t)
		return pipeClient(t, be, netPipe)
	})
}

func TestBackendIOPipe(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		_, be := newRepo(t)
		return pipeClient(t, be, ioPipe)
	})
}

func TestBackendDial(t *testing.T) {
	fakePath(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		dir, _ := newRepo(t)
		c, err := Dial(context.Background(), localSSH, "user@dr-site", dir)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func packOf(data []byte) backend.Handle {
	return backend.Handle{Type: backend.Pack, Name: ids.Hash(data).String()}
}

// visible lists the objects of type t in the repository at dir, read
// directly, not through the protocol.
func visible(t *testing.T, dir string, ft backend.FileType) []string {
	t.Helper()
	be, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := be.List(context.Background(), ft, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// hookReader calls hook once after n bytes were read.
type hookReader struct {
	r    io.Reader
	n    int
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.n <= 0 && h.hook != nil {
		h.hook()
		h.hook = nil
	}
	k, err := h.r.Read(p[:min(len(p), max(h.n, 1))])
	h.n -= k
	return k, err
}

func TestServerDiesMidSave(t *testing.T) {
	fakePath(t)
	t.Setenv("DR_REMOTE_TEST_DIE_AFTER", fmt.Sprint(3<<20))
	dir, _ := newRepo(t)
	c, err := Dial(context.Background(), localSSH, "dr-site", dir)
	if err != nil {
		t.Fatal(err)
	}
	data := backendtest.Data("dies", 8<<20)
	h := packOf(data)
	err = c.Save(context.Background(), h, bytes.NewReader(data), int64(len(data)))
	if err == nil {
		t.Fatal("Save through a server killed half-way: no error")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "ssh://dr-site/") || !strings.Contains(err.Error(), "simulated crash") {
		t.Errorf("error %q does not name the far end and how it died", err)
	}
	if names := visible(t, dir, backend.Pack); len(names) != 0 {
		t.Errorf("packs after a failed save: %v", names)
	}
	// The session is over, and says so.
	if _, err := c.Stat(context.Background(), h); err == nil {
		t.Errorf("Stat after the server died: no error")
	}
	if err := c.Close(); err == nil {
		t.Errorf("Close after the server crashed: no error")
	}
}

func TestServerDiesMidLoad(t *testing.T) {
	fakePath(t)
	dir, be := newRepo(t)
	data := backendtest.Data("dies load", 8<<20)
	h := packOf(data)
	if err := be.Save(context.Background(), h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DR_REMOTE_TEST_DIE_AFTER", fmt.Sprint(3<<20))
	c, err := Dial(context.Background(), localSSH, "dr-site", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var readErr error
	err = c.Load(context.Background(), h, 0, 0, func(rd io.Reader) error {
		_, readErr = io.Copy(io.Discard, rd)
		return readErr
	})
	if err == nil || readErr == nil {
		t.Fatalf("Load through a server killed half-way: %v (reader: %v)", err, readErr)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "simulated crash") {
		t.Errorf("error %q does not say what the far end said", err)
	}
}

// failWriter fails after n bytes, like a connection that drops.
type failWriter struct {
	w io.WriteCloser
	n int
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		f.w.Close()
		return 0, errors.New("connection reset")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.w.Write(p)
	f.n -= k
	return k, err
}

func TestConnectionDropsMidSave(t *testing.T) {
	dir, be := newRepo(t)
	toServerR, toServerW := io.Pipe()
	toClientR, toClientW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- Serve(context.Background(), be, toServerR, toClientW)
		toClientW.Close()
	}()
	c, err := NewClient(context.Background(), toClientR, &failWriter{w: toServerW, n: 2 << 20}, "pipe")
	if err != nil {
		t.Fatal(err)
	}
	data := backendtest.Data("drop", 5<<20)
	err = c.Save(context.Background(), packOf(data), bytes.NewReader(data), int64(len(data)))
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Save over a dropped connection: %v", err)
	}
	if err := <-served; err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Serve after the client went away mid-save: %v, want an unexpected EOF", err)
	}
	if names := visible(t, dir, backend.Pack); len(names) != 0 {
		t.Errorf("packs after a dropped save: %v", names)
	}
	c.Close()
}

func TestDialCommandNotFound(t *testing.T) {
	t.Setenv("PATH", "/nonexistent:/usr/bin:/bin")
	_, err := Dial(context.Background(), localSSH, "dr-site", "/srv/dr")
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"ssh://dr-site/srv/dr", "not found", "127"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDialSSHRefused(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ssh"); err != nil {
		t.Skip("no ssh client")
	}
	// Port 1 on loopback: nothing listens there.
	ssh := []string{"ssh", "-p", "1", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"}
	_, err := Dial(context.Background(), ssh, "127.0.0.1", "/srv/dr")
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %q does not pass on ssh's reason", err)
	}
}

func TestDialRefusesOptionHost(t *testing.T) {
	if _, err := Dial(context.Background(), localSSH, "-oProxyCommand=touch /tmp/x", "/srv"); err == nil {
		t.Fatal("a host that looks like an option was accepted")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/dr":     "/srv/dr",
		"":            "''",
		"a b":         "'a b'",
		"it's":        `'it'\''s'`,
		"$(rm -rf /)": "'$(rm -rf /)'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// fakeServer answers a client's hello with reply, then waits.
func fakeServer(t *testing.T, reply []byte) (io.Reader, io.Writer) {
	c, s := net.Pipe()
	go func() {
		io.ReadFull(s, make([]byte, helloLen))
		s.Write(reply)
		s.Close()
	}()
	t.Cleanup(func() { c.Close() })
	return c, c
}

func TestVersionMismatch(t *testing.T) {
	r, w := fakeServer(t, binary.BigEndian.AppendUint32([]byte(magic), 2))
	_, err := NewClient(context.Background(), r, w, "ssh://dr-site/srv")
	if err == nil || !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("client against a version 2 server: %v", err)
	}
	t.Logf("client: %v", err)

	// And the server's side of it.
	in := binary.BigEndian.AppendUint32([]byte(magic), 7)
	var out bytes.Buffer
	err = Serve(context.Background(), mem.New(), bytes.NewReader(in), &out)
	if err == nil || !strings.Contains(err.Error(), "version 7") || !strings.Contains(err.Error(), "version 1") {
		t.Fatalf("server against a version 7 client: %v", err)
	}
	if !bytes.HasPrefix(out.Bytes(), hello()) {
		t.Errorf("server did not answer with its hello: %q", out.Bytes())
	}
	t.Logf("server: %v", err)
}

func TestNotDrShip(t *testing.T) {
	r, w := fakeServer(t, []byte("Welcome to dr-site! Last login: yesterday\n"))
	_, err := NewClient(context.Background(), r, w, "ssh://dr-site/srv")
	if err == nil || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "Welcome") {
		t.Fatalf("client against a chatty login: %v", err)
	}
	t.Logf("error: %v", err)
}

// session returns the bytes a client sends for a hello and then the
// frames given.
func session(frames ...[]byte) []byte {
	b := hello()
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

func rawFrame(typ byte, id uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, payload...)
}

func TestServeProtocolErrors(t *testing.T) {
	snap := backend.Handle{Type: backend.Snapshot, Name: "s1"}
	huge := binary.BigEndian.AppendUint32(nil, 1<<31)
	huge = append(huge, opData, 0, 0, 0, 1)
	for name, in := range map[string][]byte{
		"oversized frame":      session(huge),
		"truncated header":     session(rawFrame(opStat, 1, enc(nil).handle(snap))[:5]),
		"truncated payload":    session(rawFrame(opStat, 1, enc(nil).handle(snap))[:12]),
		"unknown type":         session(rawFrame(0x42, 1, nil)),
		"data between":         session(rawFrame(opData, 1, []byte("x"))),
		"id zero":              session(rawFrame(opStat, 0, enc(nil).handle(snap))),
		"trailing bytes":       session(rawFrame(opStat, 1, append(enc(nil).handle(snap), 9))),
		"short handle":         session(rawFrame(opStat, 1, []byte{8, 's'})),
		"other id in a save":   session(rawFrame(opSave, 1, enc(nil).handle(snap).i64(3)), rawFrame(opData, 2, []byte("abc"))),
		"request in a save":    session(rawFrame(opSave, 1, enc(nil).handle(snap).i64(3)), rawFrame(opStat, 1, enc(nil).handle(snap))),
		"garbage":              []byte("SSH-2.0-OpenSSH_9.2p1\r\n"),
		"truncated handshake":  []byte(magic[:5]),
		"stream ends mid-save": session(rawFrame(opSave, 1, enc(nil).handle(snap).i64(3)), rawFrame(opData, 1, []byte("ab"))),
	} {
		t.Run(name, func(t *testing.T) {
			be := mem.New()
			var out bytes.Buffer
			err := Serve(context.Background(), be, bytes.NewReader(in), &out)
			if err == nil {
				t.Fatalf("no error")
			}
			t.Logf("%v", err)
			if _, err := be.Stat(context.Background(), snap); !backend.IsNotExist(err) {
				t.Errorf("object saved from a broken session: %v", err)
			}
		})
	}
	// A clean end between requests is not an error, nor is no session at all.
	for name, in := range map[string][]byte{
		"nothing":    nil,
		"hello only": session(),
		"one stat":   session(rawFrame(opStat, 1, enc(nil).handle(snap))),
	} {
		if err := Serve(context.Background(), mem.New(), bytes.NewReader(in), io.Discard); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// roBackend refuses every write, as a read-only repository does.
type roBackend struct{ backend.Backend }

func (roBackend) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) error {
	io.Copy(io.Discard, rd)
	return &backend.NotWritableError{Location: "/srv/dr", Err: errors.New("read-only file system")}
}

func TestErrorKinds(t *testing.T) {
	c := pipeClient(t, roBackend{mem.New()}, netPipe)
	err := c.Save(context.Background(), backend.ConfigHandle, strings.NewReader("{}"), 2)
	if !errors.Is(err, backend.ErrNotWritable) || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("Save to a read-only far end: %v, want ErrNotWritable with the reason", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Errorf("%v is not a RemoteError", err)
	}
	if errors.Is(err, backend.ErrNotExist) || errors.Is(err, context.Canceled) {
		t.Errorf("%v matches too much", err)
	}
}

// A load whose fn stops reading early, or whose ctx ends, leaves the
// session usable.
func TestLoadStopsEarly(t *testing.T) {
	_, be := newRepo(t)
	c := pipeClient(t, be, netPipe)
	data := backendtest.Data("early", 9<<20)
	h := packOf(data)
	if err := c.Save(context.Background(), h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	err := c.Load(context.Background(), h, 0, 0, func(rd io.Reader) error {
		_, err := io.ReadFull(rd, make([]byte, 10))
		return err
	})
	if err != nil {
		t.Fatalf("Load read in part: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = c.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		_, err := io.Copy(io.Discard, &hookReader{r: rd, n: 1 << 20, hook: cancel})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load canceled half-way: %v", err)
	}
	if fi, err := c.Stat(context.Background(), h); err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("Stat after stopped loads: %+v, %v", fi, err)
	}
	var got bytes.Buffer
	if err := c.Load(context.Background(), h, 0, 0, func(rd io.Reader) error { _, err := io.Copy(&got, rd); return err }); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("Load after stopped loads: %v, %d bytes", err, got.Len())
	}
}

// A list of many entries comes in several frames, and stopping it early
// leaves the session usable.
func TestListMany(t *testing.T) {
	m := mem.New()
	for i := range 5000 {
		h := backend.Handle{Type: backend.Binlog, Name: fmt.Sprintf("mysql-bin.%06d", i)}
		if err := m.Save(context.Background(), h, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	c := pipeClient(t, m, netPipe)
	n := 0
	if err := c.List(context.Background(), backend.Binlog, func(backend.FileInfo) error { n++; return nil }); err != nil || n != 5000 {
		t.Fatalf("List: %d entries, %v", n, err)
	}
	stop := errors.New("enough")
	n = 0
	if err := c.List(context.Background(), backend.Binlog, func(backend.FileInfo) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("List stopped: %v after %d", err, n)
	}
	if _, err := c.Stat(context.Background(), backend.Handle{Type: backend.Binlog, Name: "mysql-bin.000042"}); err != nil {
		t.Fatalf("Stat after a stopped list: %v", err)
	}
}

// A far end that stops answering is cut off once a request's ctx has
// ended and the grace period passed.
func TestStuckServerCut(t *testing.T) {
	c, s := net.Pipe()
	go func() {
		io.ReadFull(s, make([]byte, helloLen))
		s.Write(hello())
		io.Copy(io.Discard, s) // reads requests, never answers
	}()
	defer s.Close()
	cl, err := NewClient(context.Background(), c, c, "stuck")
	if err != nil {
		t.Fatal(err)
	}
	cl.grace = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = cl.Stat(ctx, backend.ConfigHandle)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat against a stuck server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	t.Logf("error: %v", err)
	if _, err := cl.Stat(context.Background(), backend.ConfigHandle); err == nil {
		t.Errorf("the session still works after being cut")
	}
	cl.Close()
}
