package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

// Globals are the flags every command has. Embed it in the kong struct.
type Globals struct {
	Version kong.VersionFlag `help:"Print the version and exit."`
	Verbose bool             `short:"v" help:"Log more detail on stderr." env:"DR_VERBOSE"`
}

func (g *Globals) globals() *Globals { return g }

type hasGlobals interface{ globals() *Globals }

// Env is handed to a command's Run: its IO plus the process-wide
// services (logging, progress, the signal that stopped it).
type Env struct {
	IO
	Name    string
	Verbose bool

	mu       sync.Mutex // serialises stderr between log lines and the progress line
	progress func() string
	drawn    bool // a progress line is on the terminal and must be cleared first
	tty      bool
	stopSig  os.Signal
}

// NewEnv makes an Env for commands run outside Run (tests, library use).
func NewEnv(name string, io IO) *Env {
	return &Env{IO: io, Name: name, tty: IsTerminal(io.Stderr)}
}

func (e *Env) line(prefix, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearLocked()
	fmt.Fprintf(e.Stderr, "%s: %s%s\n", e.Name, prefix, msg)
}

// Infof logs one line on stderr: "name: msg".
func (e *Env) Infof(format string, args ...any) { e.line("", format, args...) }

// Warnf logs "name: warning: msg".
func (e *Env) Warnf(format string, args ...any) { e.line("warning: ", format, args...) }

// Debugf logs only with --verbose.
func (e *Env) Debugf(format string, args ...any) {
	if e.Verbose {
		e.line("", format, args...)
	}
}

// Printf writes to standard output. A progress line drawn on the
// terminal is cleared first, so the two do not run into each other when
// both streams are the same terminal.
func (e *Env) Printf(format string, args ...any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearLocked()
	_, err := fmt.Fprintf(e.Stdout, format, args...)
	return err
}

// StopSignal is the signal that cancelled the command's context, or nil.
// A daemon uses it to tell SIGTERM (a clean stop, exit 0) from SIGINT.
func (e *Env) StopSignal() os.Signal {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopSig
}

// SetProgress registers the function that describes progress in one line.
// On a terminal it is redrawn every second; SIGUSR1 prints it anywhere.
// nil removes it.
func (e *Env) SetProgress(f func() string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearLocked()
	e.progress = f
}

func (e *Env) clearLocked() {
	if e.drawn {
		fmt.Fprint(e.Stderr, "\r\033[K")
		e.drawn = false
	}
}

func (e *Env) drawProgress() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.progress == nil {
		return
	}
	fmt.Fprintf(e.Stderr, "\r\033[K%s: %s", e.Name, e.progress())
	e.drawn = true
}

// reportProgress prints the progress line for SIGUSR1: a whole line, so it
// reads well in a journal too.
func (e *Env) reportProgress() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clearLocked()
	if e.progress == nil {
		fmt.Fprintf(e.Stderr, "%s: no progress to report yet\n", e.Name)
		return
	}
	fmt.Fprintf(e.Stderr, "%s: %s\n", e.Name, e.progress())
}

// Run parses args into cmd (a kong struct embedding Globals whose Run, or
// whose selected subcommand's Run, has the signature
// Run(ctx context.Context, env *Env) error), runs it with signals wired,
// prints any error as "name: error: ..." and returns the exit status.
func Run(name, description string, args []string, io IO, cmd any, opts ...kong.Option) int {
	env := NewEnv(name, io)
	exited, exitCode := false, 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	options := append([]kong.Option{
		kong.Name(name),
		kong.Description(description),
		kong.Writers(io.Stdout, io.Stderr),
		// kong calls Exit after --help and --version; we must not leave the
		// process from a library, so remember and return the code instead.
		kong.Exit(func(code int) { exited, exitCode = true, code }),
		kong.Vars{"version": name + " " + VersionString()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, WrapUpperBound: 100}),
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Bind(env),
	}, opts...)
	parser, err := kong.New(cmd, options...)
	if err != nil {
		return printError(env, Errorf(ExitUsage, "internal: %w", err))
	}
	kctx, err := parser.Parse(args)
	if exited {
		return exitCode
	}
	if err != nil {
		return printError(env, WithHint(WithCode(ExitUsage, err), fmt.Sprintf("see '%s --help'", name)))
	}
	if g, ok := cmd.(hasGlobals); ok {
		env.Verbose = g.globals().Verbose
	}

	// A closed pipe on stdout must be a write error the command reports
	// (exit 3, state saved), not a SIGPIPE that kills it mid-write.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					env.reportProgress()
					continue
				}
				env.mu.Lock()
				env.stopSig = s
				env.mu.Unlock()
				cancel()
				// A second SIGINT or SIGTERM must still stop a command
				// that hangs in its clean shutdown: give the signals
				// back their default action.
				signal.Reset(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			}
		}
	}()
	if env.tty {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					env.drawProgress()
				}
			}
		}()
	}

	err = kctx.Run()
	env.SetProgress(nil)
	if err != nil && env.StopSignal() == os.Interrupt && errors.Is(err, context.Canceled) {
		err = ErrInterrupted
	}
	return printError(env, err)
}

// printError prints err as the one-line error of DESIGN.md, plus its hint,
// and returns its exit status.
func printError(env *Env, err error) int {
	if err == nil {
		return ExitOK
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	env.line("error: ", "%s", msg)
	h := Hint(err)
	if h == "" && errors.Is(err, syscall.EPIPE) {
		// The usual cause is the next command of a pipeline failing
		// first; its own error line says why.
		h = "the command reading standard output stopped first; see its error"
	}
	if h != "" {
		env.line("hint: ", "%s", h)
	}
	return Code(err)
}
