package cli

import (
	"context"
	"errors"
	"fmt"
)

// Exit statuses, the same for all six commands and listed in every man page.
const (
	ExitOK          = 0   // success
	ExitDiff        = 1   // a check found differences (like diff)
	ExitUsage       = 2   // usage error
	ExitIO          = 3   // connection or I/O failure: a retry may help
	ExitCorrupt     = 4   // corrupt or inconsistent input
	ExitRefused     = 5   // refused for safety: would lose data, split-brain, non-empty target
	ExitInterrupted = 130 // interrupted by SIGINT
)

// ExitStatusText is the EXIT STATUS section every man page carries; a test
// keeps the pages and this table in step.
var ExitStatusText = []struct {
	Code int
	Text string
}{
	{ExitOK, "success"},
	{ExitDiff, "a check found differences"},
	{ExitUsage, "usage error"},
	{ExitIO, "connection or I/O failure (a retry may help)"},
	{ExitCorrupt, "corrupt or inconsistent input"},
	{ExitRefused, "refused for safety (would lose data, split-brain, non-empty target)"},
	{ExitInterrupted, "interrupted"},
}

// Error is an error that knows its exit status and, optionally, a hint
// printed on a line of its own after the error line.
type Error struct {
	Code int
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given exit status. %w verbs wrap as
// with fmt.Errorf.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// WithCode gives err an exit status, keeping a hint it may already carry.
// A nil err stays nil.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: code, Err: err, Hint: e.Hint}
	}
	return &Error{Code: code, Err: err}
}

// WithHint attaches a hint line to err, keeping its exit status.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Code(err), Err: err, Hint: hint}
}

// ErrInterrupted is returned by a command that stopped early on SIGINT.
var ErrInterrupted = &Error{Code: ExitInterrupted, Err: errors.New("interrupted")}

// Code computes the exit status of err: the outermost *Error decides;
// a bare cancellation means the user interrupted us; anything else is
// taken as an I/O failure, the class where a retry may help.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	return ExitIO
}

// Hint returns the hint attached to err, if any.
func Hint(err error) string {
	var e *Error
	for err != nil {
		if errors.As(err, &e) {
			if e.Hint != "" {
				return e.Hint
			}
			err = e.Err
			continue
		}
		break
	}
	return ""
}
