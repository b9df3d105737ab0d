package binlogdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/dr-mysql/dr/lib/position"
)

// LockName is the lock file of a binlog directory.
const LockName = ".dr-binlog.lock"

// ErrLocked means another process writes the directory.
var ErrLocked = errors.New("directory is locked")

// Lock takes the directory's writer lock: one writer per directory, or two
// pullers would interleave their appends. The lock is an flock, so it
// dies with its process and a crash never leaves it held.
func Lock(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, LockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w by pid %s", dir, ErrLocked, strings.TrimSpace(string(b)))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// Files lists the binlog files of dir (names of the form base.NNNNNN),
// in the order the source wrote them.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if _, ok := position.Index(n); ok && e.Type().IsRegular() && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		return position.Compare(position.Pos{File: a}, position.Pos{File: b})
	})
	return names, nil
}
