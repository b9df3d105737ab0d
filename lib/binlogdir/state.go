package binlogdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dr-mysql/dr/lib/fsx"
)

// StateName is the state file of a binlog directory.
const StateName = "dr-binlog-state.json"

// StateFormat is the version of the state file this code writes and reads.
const StateFormat = 1

// Source identifies the server a directory is pulled from, so a directory
// is never continued from another server's binlogs.
type Source struct {
	ServerID   uint32 `json:"server_id"`
	ServerUUID string `json:"server_uuid,omitempty"`
	Flavor     string `json:"flavor"`
	Version    string `json:"version"`
	Address    string `json:"address"` // where it was pulled from, for people; not part of identity
}

// Same reports whether two sources are the same server.
func (s Source) Same(o Source) bool {
	return s.ServerID == o.ServerID && s.ServerUUID == o.ServerUUID && s.Flavor == o.Flavor
}

func (s Source) String() string {
	id := fmt.Sprintf("server_id %d", s.ServerID)
	if s.ServerUUID != "" {
		id += ", server_uuid " + s.ServerUUID
	}
	return fmt.Sprintf("%s (%s %s) at %s", id, s.Flavor, s.Version, s.Address)
}

// State is the small JSON file that says how far a directory is durable:
// every byte of File up to Pos is fsync'd and ends a whole transaction,
// and every file before File is complete.
type State struct {
	Format  int       `json:"format"`
	Source  Source    `json:"source"`
	File    string    `json:"file"`
	Pos     uint64    `json:"pos"`
	GTIDSet string    `json:"gtid_set"`
	Updated time.Time `json:"updated"`
}

// AtStartOf reports whether the durable end is at the very start of
// file. After a rotation the pull records the new file's name before the
// source's first event of it arrives, which is when the pull creates the
// file: until then the name stands for no bytes, and the file's absence
// is no loss.
func (s *State) AtStartOf(file string) bool {
	return s.File == file && s.Pos <= uint64(len(Magic))
}

// ReadState reads the state of dir; it returns (nil, nil) when there is none.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read binlog directory state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, &CorruptError{Path: filepath.Join(dir, StateName), Err: fmt.Errorf("not valid JSON: %w", err)}
	}
	if s.Format != StateFormat {
		return nil, &CorruptError{Path: filepath.Join(dir, StateName), Err: fmt.Errorf("state format %d is not supported (this version reads %d)", s.Format, StateFormat)}
	}
	if s.File == "" || s.Pos < uint64(len(Magic)) {
		return nil, &CorruptError{Path: filepath.Join(dir, StateName), Err: fmt.Errorf("no file and position")}
	}
	return &s, nil
}

// WriteState replaces the state of dir atomically and durably: a reader
// sees the old state or the new one, and after a crash the new one
// survives only if the rename reached the disk.
func WriteState(dir string, s *State) error {
	s.Format = StateFormat
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsx.WriteFileAtomic(filepath.Join(dir, StateName), append(b, '\n'), 0o644)
}

// CorruptError says a file of the directory is not what it must be. The
// commands turn it into exit status 4.
type CorruptError struct {
	Path string
	Pos  int64 // -1 when not about one position
	Err  error
}

func (e *CorruptError) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("%s at %d: %v", e.Path, e.Pos, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }
