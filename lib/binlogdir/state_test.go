package binlogdir

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if s, err := ReadState(dir); s != nil || err != nil {
		t.Fatalf("no state yet: %+v %v", s, err)
	}
	in := &State{
		Format:  0, // WriteState fills it in
		Source:  Source{ServerID: 7, ServerUUID: "", Flavor: "mariadb", Version: "10.11.19-MariaDB", Address: "mysql://repl@db1:3306"},
		File:    "mysql-bin.000042",
		Pos:     123456,
		GTIDSet: "0-7-10,1-9-100",
		Updated: time.Date(2026, 11, 21, 9, 55, 0, 123456789, time.UTC),
	}
	for i := range 3 {
		in.Pos += uint64(i)
		if err := WriteState(dir, in); err != nil {
			t.Fatal(err)
		}
		if in.Format != StateFormat {
			t.Errorf("WriteState left Format %d", in.Format)
		}
		out, err := ReadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		if out.Format != StateFormat || out.Source != in.Source || out.File != in.File || out.Pos != in.Pos ||
			out.GTIDSet != in.GTIDSet || !out.Updated.Equal(in.Updated) {
			t.Errorf("read back %+v\nwrote %+v", out, in)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, StateName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("state file mode %v", fi.Mode())
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v", names)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StateName))
	if !strings.HasSuffix(string(b), "}\n") || !strings.Contains(string(b), `"format": 1`) {
		t.Errorf("state file:\n%s", b)
	}
}

func TestReadStateCorrupt(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{"empty file", "", "not valid JSON"},
		{"truncated", `{"format": 1, "file": "mysql-bin.000001", "pos": 4`, "not valid JSON"},
		{"garbage", "\x00\x00\x00\x00", "not valid JSON"},
		{"array", `[1,2]`, "not valid JSON"},
		{"pos is a string", `{"format": 1, "file": "mysql-bin.000001", "pos": "4"}`, "not valid JSON"},
		{"negative pos", `{"format": 1, "file": "mysql-bin.000001", "pos": -4}`, "not valid JSON"},
		{"unknown format", `{"format": 2, "file": "mysql-bin.000001", "pos": 4}`, "state format 2 is not supported"},
		{"format missing", `{"file": "mysql-bin.000001", "pos": 4}`, "state format 0 is not supported"},
		{"file missing", `{"format": 1, "pos": 4}`, "no file and position"},
		{"pos missing", `{"format": 1, "file": "mysql-bin.000001"}`, "no file and position"},
		{"pos inside the magic", `{"format": 1, "file": "mysql-bin.000001", "pos": 3}`, "no file and position"},
		{"null", `null`, "state format 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateName)
			if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := ReadState(dir)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("%+v %v, want *CorruptError", s, err)
			}
			if ce.Path != path || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v (path %q), want %q", err, ce.Path, tt.want)
			}
			if s != nil {
				t.Errorf("state %+v returned with the error", s)
			}
		})
	}
	// The minimum accepted.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateName), []byte(`{"format": 1, "file": "mysql-bin.000001", "pos": 4}`), 0o644)
	if s, err := ReadState(dir); err != nil || s.Pos != 4 {
		t.Errorf("minimal state: %+v %v", s, err)
	}
}

func TestReadStateUnreadable(t *testing.T) {
	dir := t.TempDir()
	// A directory in place of the file: an I/O error, not corruption.
	if err := os.Mkdir(filepath.Join(dir, StateName), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ReadState(dir)
	if err == nil || isCorrupt(err) {
		t.Fatalf("%v, want an I/O error", err)
	}
}

func TestSourceSame(t *testing.T) {
	a := Source{ServerID: 1, ServerUUID: "u", Flavor: "mysql", Version: "8.0.36", Address: "a:3306"}
	tests := []struct {
		b    Source
		same bool
	}{
		{a, true},
		{Source{ServerID: 1, ServerUUID: "u", Flavor: "mysql", Version: "8.4.0", Address: "b:3306"}, true},
		{Source{ServerID: 2, ServerUUID: "u", Flavor: "mysql"}, false},
		{Source{ServerID: 1, ServerUUID: "v", Flavor: "mysql"}, false},
		{Source{ServerID: 1, ServerUUID: "u", Flavor: "mariadb"}, false},
	}
	for _, tt := range tests {
		if got := a.Same(tt.b); got != tt.same {
			t.Errorf("Same(%+v) = %v", tt.b, got)
		}
	}
	if got := a.String(); got != "server_id 1, server_uuid u (mysql 8.0.36) at a:3306" {
		t.Errorf("String() = %q", got)
	}
	if got := (Source{ServerID: 7, Flavor: "mariadb", Version: "10.11", Address: "x"}).String(); got != "server_id 7 (mariadb 10.11) at x" {
		t.Errorf("String() = %q", got)
	}
}

func TestCorruptErrorMessage(t *testing.T) {
	inner := errors.New("checksum mismatch")
	tests := []struct {
		e    *CorruptError
		want string
	}{
		{&CorruptError{Path: "/d/f.000001", Pos: 1421, Err: inner}, "/d/f.000001 at 1421: checksum mismatch"},
		{&CorruptError{Path: "/d/f.000001", Pos: -1, Err: inner}, "/d/f.000001: checksum mismatch"},
		{&CorruptError{Path: "/d/f.000001", Pos: 0, Err: inner}, "/d/f.000001: checksum mismatch"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%q, want %q", got, tt.want)
		}
		if !errors.Is(tt.e, inner) {
			t.Error("does not unwrap")
		}
	}
	wrapped := fmt.Errorf("repair: %w", &CorruptError{Path: "p", Pos: 5, Err: ErrShort})
	if !isCorrupt(wrapped) || !errors.Is(wrapped, ErrShort) {
		t.Error("wrapped CorruptError not found")
	}
}

func TestLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock belongs to the open file description: a second open in the
	// same process conflicts too.
	unlock2, err := Lock(dir)
	if !errors.Is(err, ErrLocked) {
		if unlock2 != nil {
			unlock2()
		}
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "by pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), dir) {
		t.Errorf("message %q should name the directory and pid %d", err, os.Getpid())
	}
	unlock()
	unlock3, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock3()
	b, _ := os.ReadFile(filepath.Join(dir, LockName))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q", b)
	}
}

func TestLockMissingDir(t *testing.T) {
	_, err := Lock(filepath.Join(t.TempDir(), "nope"))
	if err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("%v", err)
	}
}

// TestLockHelperProcess is not a test: TestLockOtherProcess runs the test
// binary again with DR_TEST_LOCK_DIR to hold a lock in another process.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("DR_TEST_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process")
	}
	if _, err := Lock(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	// Hold the lock until killed or stdin closes.
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

func TestLockOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "DR_TEST_LOCK_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	_, err = Lock(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while another process holds it: %v", err)
	}
	if !strings.Contains(err.Error(), "by pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("%q should name pid %d", err, cmd.Process.Pid)
	}
	// A killed holder releases the lock.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	unlock()
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	regular := []string{
		"mysql-bin.1000000", "mysql-bin.000010", "mysql-bin.000002", "mysql-bin.999999", "mysql-bin.000001",
		"other-bin.000001",
		// not binlogs:
		"mysql-bin.index", "mysql-bin.state", StateName, LockName, ".mysql-bin.000003", ".000004",
		"mysql-bin.000005.tmp", "mysql-bin.", "mysql-bin", "mysql-bin.00000a", "README",
	}
	for _, n := range regular {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "mysql-bin.000006"), 0o755)
	os.Symlink("mysql-bin.000001", filepath.Join(dir, "mysql-bin.000007"))
	got, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mysql-bin.000001", "mysql-bin.000002", "mysql-bin.000010", "mysql-bin.999999", "mysql-bin.1000000", "other-bin.000001"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Files = %v\nwant %v", got, want)
	}
	if got, err := Files(t.TempDir()); err != nil || len(got) != 0 {
		t.Errorf("empty dir: %v %v", got, err)
	}
	if _, err := Files(filepath.Join(dir, "nope")); err == nil {
		t.Error("no error for a missing directory")
	}
}
