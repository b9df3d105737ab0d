package snapfmt

import (
	"errors"
	"fmt"
)

// Sentinel errors, found with errors.Is through a *FormatError.
var (
	// ErrChecksum: a member's content does not match its BLAKE3.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrTruncated: the stream ends early, inside a member or before
	// SUMS.json.
	ErrTruncated = errors.New("truncated")
	// ErrVersion: the stream is of a newer format than this code reads.
	ErrVersion = errors.New("snapshot format is newer than this dr reads")
)

// FormatError says the stream is corrupt, truncated, inconsistent or of
// a newer format: the input is bad, and reading it again will not help.
// The commands turn it into exit status 4. Errors from the underlying
// reader (a broken pipe, a lost connection) are not FormatErrors.
type FormatError struct {
	Member string // the member's name in the tar stream; "" when not about one
	Offset int64  // where in the uncompressed tar stream the member's header begins; -1 if unknown
	Err    error
}

func (e *FormatError) Error() string {
	var v *versionError
	if errors.As(e.Err, &v) {
		// The one message a user of an older dr must understand at once.
		return v.Error()
	}
	if e.Member != "" {
		return fmt.Sprintf("snapshot member %q: %v", e.Member, e.Err)
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("snapshot stream at byte %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("snapshot stream: %v", e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// versionError is the cause behind ErrVersion.
type versionError struct{ Got int }

func (e *versionError) Error() string {
	return fmt.Sprintf("snapshot format %d is newer than this dr reads (%d)", e.Got, FormatVersion)
}

func (e *versionError) Is(target error) bool { return target == ErrVersion }

// checksumError is the cause behind ErrChecksum.
type checksumError struct{ Stored, Computed string }

func (e *checksumError) Error() string {
	return fmt.Sprintf("checksum mismatch (stored %s, computed %s)", e.Stored, e.Computed)
}

func (e *checksumError) Is(target error) bool { return target == ErrChecksum }

// truncated wraps ErrTruncated with what was being read.
func truncated(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTruncated}, args...)...)
}
