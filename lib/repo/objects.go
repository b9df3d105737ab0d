package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// ErrUnknownID is matched by the error of FindSnapshot or FindTree for
// an id or prefix that names nothing (or more than one thing).
var ErrUnknownID = errors.New("no such id")

// Snapshots loads every snapshot manifest, oldest first (by Time, then
// id). A manifest that cannot be read is returned in broken with its
// error, so one bad object does not hide the others.
func (r *Repository) Snapshots(ctx context.Context) (list []Snapshot, broken map[string]error, err error) {
	names, err := r.List(ctx, backend.Snapshot)
	if err != nil {
		return nil, nil, err
	}
	broken = map[string]error{}
	for _, name := range names {
		id, err := ids.Parse(name)
		if err != nil {
			broken[name] = fmt.Errorf("snapshot with a bad name %q: %w", name, err)
			continue
		}
		m, err := r.LoadManifest(ctx, id)
		if err != nil {
			if !IsCorrupt(err) && !backend.IsNotExist(err) {
				return nil, nil, err
			}
			broken[name] = err
			continue
		}
		list = append(list, Snapshot{ID: id, Manifest: m})
	}
	slices.SortStableFunc(list, func(a, b Snapshot) int {
		if c := a.Manifest.Time.Compare(b.Manifest.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	return list, broken, nil
}

// Snapshot is a stored snapshot: its id and manifest.
type Snapshot struct {
	ID       ids.ID
	Manifest *Manifest
}

// ResolveID finds the one name of type t that is s or starts with s
// (an abbreviated id, as git takes them). The error matches
// ErrUnknownID when none or several match.
func (r *Repository) ResolveID(ctx context.Context, t backend.FileType, s string) (ids.ID, error) {
	s = strings.ToLower(s)
	if len(s) == 2*ids.Size {
		if id, err := ids.Parse(s); err == nil {
			if _, err := r.be.Stat(ctx, backend.Handle{Type: t, Name: s}); err == nil {
				return id, nil
			} else if !backend.IsNotExist(err) {
				return ids.ID{}, err
			}
			return ids.ID{}, fmt.Errorf("%s %s: %w", t, s, ErrUnknownID)
		}
	}
	if len(s) < 4 {
		return ids.ID{}, fmt.Errorf("%s %q: give at least 4 hex digits: %w", t, s, ErrUnknownID)
	}
	names, err := r.List(ctx, t)
	if err != nil {
		return ids.ID{}, err
	}
	var match []string
	for _, n := range names {
		if strings.HasPrefix(n, s) {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 0:
		return ids.ID{}, fmt.Errorf("%s %s: %w", t, s, ErrUnknownID)
	case 1:
		return ids.Parse(match[0])
	default:
		return ids.ID{}, fmt.Errorf("%s %s is ambiguous (%d match): %w", t, s, len(match), ErrUnknownID)
	}
}

func binlogHandle(name string) backend.Handle {
	return backend.Handle{Type: backend.Binlog, Name: name}
}

// ErrConflict is matched by the error of PutBinlog when another file is
// stored under the same name.
var ErrConflict = errors.New("a different object is stored under that name")

// BinlogExists reports whether a binlog manifest called name is stored
// and returns it.
func (r *Repository) LoadBinlog(ctx context.Context, name string) (*Manifest, error) {
	if err := binlogHandle(name).Valid(); err != nil {
		return nil, err
	}
	b, err := loadAll(ctx, r.be, binlogHandle(name), maxManifest)
	if err != nil {
		return nil, fmt.Errorf("load binlog manifest %s: %w", name, err)
	}
	return parseManifest(b, ids.ID{}, "binlog "+name)
}

// PutBinlog stores the binlog file rd as chunks and a binlog manifest
// called name (the file's name); see SaveBinlog.
func (r *Repository) PutBinlog(ctx context.Context, name string, rd io.Reader, meta map[string]string) (added bool, stats PutStats, err error) {
	if err := binlogHandle(name).Valid(); err != nil {
		return false, stats, err
	}
	m, stats, err := r.StoreStream(ctx, rd, meta)
	if err != nil {
		return false, stats, err
	}
	added, err = r.SaveBinlog(ctx, name, m)
	return added, stats, err
}

// SaveBinlog saves m, whose chunks must be stored, as the binlog
// manifest called name. When a manifest of that name is stored already
// it compares: the same content (size and BLAKE3) is a no-op (added
// false), anything else an error matching ErrConflict; the stored
// manifest is never replaced.
func (r *Repository) SaveBinlog(ctx context.Context, name string, m *Manifest) (added bool, err error) {
	h := binlogHandle(name)
	if err := h.Valid(); err != nil {
		return false, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	b = append(b, '\n')
	err = r.be.Save(ctx, h, bytes.NewReader(b), int64(len(b)))
	if err == nil {
		return true, nil
	}
	if !backend.IsExists(err) {
		return false, fmt.Errorf("save binlog manifest %s: %w", name, err)
	}
	old, err := r.LoadBinlog(ctx, name)
	if err != nil {
		return false, err
	}
	if err := SameContent(old, m.Size, m.BLAKE3); err != nil {
		return false, fmt.Errorf("binlog %s: %w", name, err)
	}
	return false, nil
}

// SameContent says, with an error matching ErrConflict, when m does not
// describe a stream of size bytes hashing to sum.
func SameContent(m *Manifest, size int64, sum ids.ID) error {
	if m.Size != size || m.BLAKE3 != sum {
		return fmt.Errorf("%w: the stored one has %d bytes, BLAKE3 %s; this one %d bytes, BLAKE3 %s",
			ErrConflict, m.Size, m.BLAKE3.Short(), size, sum.Short())
	}
	return nil
}

// parseManifest decodes and checks a manifest; id is its name when it
// is named by its hash, label what errors call it.
func parseManifest(b []byte, id ids.ID, label string) (*Manifest, error) {
	msg := label
	if msg == "" {
		msg = "manifest " + id.String()
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, &CorruptError{Manifest: id, Name: label, Err: fmt.Errorf("not a manifest: %w", err)}
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("%s: version %d is not supported (this version reads %d)", msg, m.Version, ManifestVersion)
	}
	var total int64
	for _, c := range m.Chunks {
		total += int64(c.Size)
	}
	if total != m.Size {
		return nil, &CorruptError{Manifest: id, Name: label, Err: fmt.Errorf("chunks add up to %d bytes, the manifest says %d", total, m.Size)}
	}
	return &m, nil
}

// Binlogs loads every binlog manifest, by name. Unreadable ones are in
// broken.
func (r *Repository) Binlogs(ctx context.Context) (list []Binlog, broken map[string]error, err error) {
	names, err := r.List(ctx, backend.Binlog)
	if err != nil {
		return nil, nil, err
	}
	broken = map[string]error{}
	for _, name := range names {
		m, err := r.LoadBinlog(ctx, name)
		if err != nil {
			if !IsCorrupt(err) && !backend.IsNotExist(err) {
				return nil, nil, err
			}
			broken[name] = err
			continue
		}
		list = append(list, Binlog{Name: name, Manifest: m})
	}
	return list, broken, nil
}

// Binlog is a stored binlog file: its name and manifest.
type Binlog struct {
	Name     string
	Manifest *Manifest
}
