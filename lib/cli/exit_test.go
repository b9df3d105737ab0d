package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
)

func TestCode(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"plain", base, ExitIO},
		{"io.EOF", io.EOF, ExitIO},
		{"wrapped plain", fmt.Errorf("read x: %w", base), ExitIO},
		{"Error diff", &Error{Code: ExitDiff, Err: base}, ExitDiff},
		{"Error usage", Errorf(ExitUsage, "bad flag"), ExitUsage},
		{"Error corrupt", Errorf(ExitCorrupt, "bad thing at %d", 7), ExitCorrupt},
		{"Error refused", Errorf(ExitRefused, "no"), ExitRefused},
		{"Error code 0", &Error{Code: 0, Err: base}, 0},
		{"canceled", context.Canceled, ExitInterrupted},
		{"wrapped canceled", fmt.Errorf("dump: %w", context.Canceled), ExitInterrupted},
		{"deadline is not an interruption", context.DeadlineExceeded, ExitIO},
		{"ErrInterrupted", ErrInterrupted, ExitInterrupted},
		{"wrapped Error keeps its code", fmt.Errorf("pull %s: %w", "x", Errorf(ExitCorrupt, "bad")), ExitCorrupt},
		{"doubly wrapped Error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", Errorf(ExitRefused, "c"))), ExitRefused},
		{"outermost Error decides", Errorf(ExitIO, "outer: %w", Errorf(ExitCorrupt, "inner")), ExitIO},
		{"Error around canceled", Errorf(ExitIO, "x: %w", context.Canceled), ExitIO},
		{"canceled around nothing coded", fmt.Errorf("x: %w", fmt.Errorf("y: %w", context.Canceled)), ExitInterrupted},
		{"joined", errors.Join(base, Errorf(ExitCorrupt, "c")), ExitCorrupt},
		{"WithCode", WithCode(ExitRefused, base), ExitRefused},
		{"WithCode over Error", WithCode(ExitCorrupt, Errorf(ExitIO, "x")), ExitCorrupt},
		{"WithHint of plain", WithHint(base, "try again"), ExitIO},
		{"WithHint keeps code", WithHint(Errorf(ExitRefused, "x"), "h"), ExitRefused},
		{"WithHint of canceled", WithHint(context.Canceled, "h"), ExitInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestHint(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain", base, ""},
		{"Error without hint", Errorf(ExitIO, "x"), ""},
		{"direct", WithHint(base, "use --force"), "use --force"},
		{"wrapped", fmt.Errorf("ctx: %w", WithHint(base, "use --force")), "use --force"},
		{"doubly wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", WithHint(base, "h"))), "h"},
		{"under an Error without hint", Errorf(ExitCorrupt, "outer: %w", WithHint(base, "inner hint")), "inner hint"},
		{"under a wrapped Error without hint", fmt.Errorf("x: %w", Errorf(ExitCorrupt, "outer: %w", fmt.Errorf("y: %w", WithHint(base, "deep")))), "deep"},
		{"outermost hint wins", WithHint(WithHint(base, "inner"), "outer"), "outer"},
		{"WithCode keeps hint", WithCode(ExitRefused, WithHint(base, "kept")), "kept"},
		{"WithCode of a wrapped hint", WithCode(ExitRefused, fmt.Errorf("w: %w", WithHint(base, "kept"))), "kept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hint(tt.err); got != tt.want {
				t.Errorf("Hint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWithCodeWithHint(t *testing.T) {
	if WithCode(ExitIO, nil) != nil {
		t.Error("WithCode(nil) != nil")
	}
	if WithHint(nil, "h") != nil {
		t.Error("WithHint(nil) != nil")
	}
	base := errors.New("disk full")
	// Each keeps what the other set, in either order.
	a := WithHint(WithCode(ExitRefused, base), "free some space")
	b := WithCode(ExitRefused, WithHint(base, "free some space"))
	for name, err := range map[string]error{"hint(code)": a, "code(hint)": b} {
		if Code(err) != ExitRefused || Hint(err) != "free some space" {
			t.Errorf("%s: code %d hint %q", name, Code(err), Hint(err))
		}
		if err.Error() != "disk full" {
			t.Errorf("%s: message %q", name, err)
		}
		if !errors.Is(err, base) {
			t.Errorf("%s: does not unwrap to the cause", name)
		}
	}
	// Errorf wraps with %w.
	e := Errorf(ExitCorrupt, "read %s: %w", "f", os.ErrNotExist)
	if !errors.Is(e, os.ErrNotExist) || e.Error() != "read f: file does not exist" || e.Code != ExitCorrupt || e.Hint != "" {
		t.Errorf("Errorf: %#v", e)
	}
	// The one-line message of an Error is its cause's.
	if got := (&Error{Code: 1, Err: base, Hint: "h"}).Error(); got != "disk full" {
		t.Errorf("Error() = %q", got)
	}
}

func TestExitStatusText(t *testing.T) {
	want := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 130: true}
	seen := map[int]bool{}
	for _, e := range ExitStatusText {
		if !want[e.Code] || seen[e.Code] || e.Text == "" {
			t.Errorf("entry %+v", e)
		}
		seen[e.Code] = true
	}
	if len(seen) != len(want) {
		t.Errorf("%d codes, want %d", len(seen), len(want))
	}
}
