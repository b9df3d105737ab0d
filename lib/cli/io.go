package cli

import (
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// IO is all a command touches of its process: streams, environment and
// clock. Commands take it as a value so tests run them in-process with
// pinned time and captured output.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time
}

// Std is the IO of the running process.
func Std() IO {
	return IO{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		Now:    time.Now,
	}
}

// IsTerminal reports whether v is an *os.File open on a terminal. Anything
// else (a pipe, /dev/null, a buffer in a test) is not: the terminal driver
// is asked, since a character device is not necessarily a terminal.
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// RefuseTerminal returns a usage error when w is a terminal: a binary
// stream there is garbage on the screen and lost data.
func RefuseTerminal(w io.Writer, what string) error {
	if IsTerminal(w) {
		return WithHint(Errorf(ExitUsage, "refusing to write %s to a terminal", what),
			"redirect standard output to a file or a pipe, or use -o FILE")
	}
	return nil
}
