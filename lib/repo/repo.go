package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/chunker"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/dr-mysql/dr/lib/repo/index"
	"github.com/dr-mysql/dr/lib/repo/pack"
)

// FormatVersion is the repository format this code reads and writes.
const FormatVersion = 1

// Config is what every put must agree on, stored once as the config
// object. The chunker parameters are the important part: a put that cut
// its stream differently would share no chunk with the others.
type Config struct {
	Version  int            // FormatVersion
	ID       string         // random, 32 hex digits: tells repositories apart
	Chunker  chunker.Params // how streams are cut
	PackSize int            // the pack size puts aim for
}

// configJSON is the stored form, with names that do not depend on Go's.
type configJSON struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Chunker struct {
		Min           int `json:"min"`
		Avg           int `json:"avg"`
		Max           int `json:"max"`
		Normalization int `json:"normalization"`
	} `json:"chunker"`
	PackSize int `json:"pack_size"`
}

func (c Config) marshal() ([]byte, error) {
	var j configJSON
	j.Version, j.ID, j.PackSize = c.Version, c.ID, c.PackSize
	j.Chunker.Min, j.Chunker.Avg, j.Chunker.Max, j.Chunker.Normalization = c.Chunker.Min, c.Chunker.Avg, c.Chunker.Max, c.Chunker.Normalization
	b, err := json.MarshalIndent(j, "", "  ")
	return append(b, '\n'), err
}

func parseConfig(b []byte) (Config, error) {
	var j configJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c := Config{Version: j.Version, ID: j.ID, PackSize: j.PackSize,
		Chunker: chunker.Params{Min: j.Chunker.Min, Avg: j.Chunker.Avg, Max: j.Chunker.Max, Normalization: j.Chunker.Normalization}}
	return c, c.validate()
}

func (c Config) validate() error {
	if c.Version != FormatVersion {
		return fmt.Errorf("config: repository format version %d is not supported (this version reads %d)", c.Version, FormatVersion)
	}
	if c.Chunker == (chunker.Params{}) {
		// Zero would mean "the default of the running version": a later
		// default must not silently change how old repositories chunk.
		return fmt.Errorf("config: no chunker parameters")
	}
	if err := c.Chunker.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.PackSize < 1<<10 || c.PackSize > pack.MaxPackSize {
		return fmt.Errorf("config: pack size %d is out of range", c.PackSize)
	}
	return nil
}

// Options are the choices of Init; the zero value gives the defaults.
type Options struct {
	Chunker  chunker.Params // zero: chunker.Default
	PackSize int            // zero: pack.DefaultTargetSize
}

// Repository is a DR repository on a backend. It is safe for concurrent
// use: several PutStreams and GetStreams may run at once.
type Repository struct {
	be  backend.Backend
	cfg Config

	idxMu sync.Mutex
	idx   *index.Index // replaced when index files were removed (prune)

	// packsPerIndex is how many packs a put lists in one index file before
	// saving it and starting the next: it bounds the put's memory (about
	// 100 bytes a chunk) and how much a crashed put leaves unindexed.
	packsPerIndex int

	// uploads is how many packs a put saves at once (SetUploads).
	uploads int
}

// SetUploads sets how many packs a put saves at once: 1 (the default)
// saves each before cutting on; more overlap the uploads with each
// other and with the cutting, which pays on S3, where one request's
// latency, not the bandwidth, is the limit. Each upload in flight holds
// a copy of its pack (about 16 MiB). Call it before putting.
func (r *Repository) SetUploads(n int) { r.uploads = max(n, 1) }

// Init makes a new repository on be, which must not hold one.
func Init(ctx context.Context, be backend.Backend, opts Options) (*Repository, error) {
	var rid [16]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, fmt.Errorf("init %s: %w", be.Location(), err)
	}
	cfg := Config{Version: FormatVersion, ID: hex.EncodeToString(rid[:]), Chunker: opts.Chunker, PackSize: opts.PackSize}
	if cfg.Chunker == (chunker.Params{}) {
		cfg.Chunker = chunker.Default
	}
	if cfg.Chunker.Normalization == 0 {
		cfg.Chunker.Normalization = 2 // as chunker fills it in; stored explicitly
	}
	if cfg.PackSize == 0 {
		cfg.PackSize = pack.DefaultTargetSize
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("init %s: %w", be.Location(), err)
	}
	b, err := cfg.marshal()
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", be.Location(), err)
	}
	if err := be.Save(ctx, backend.ConfigHandle, bytes.NewReader(b), int64(len(b))); err != nil {
		if backend.IsExists(err) {
			return nil, fmt.Errorf("init %s: there is a repository already: %w", be.Location(), err)
		}
		return nil, fmt.Errorf("init %s: %w", be.Location(), err)
	}
	return Open(ctx, be)
}

// Open opens the repository on be: its config and every index file's
// fan-out table.
func Open(ctx context.Context, be backend.Backend) (*Repository, error) {
	b, err := loadAll(ctx, be, backend.ConfigHandle, 1<<20)
	if err != nil {
		if backend.IsNotExist(err) {
			return nil, fmt.Errorf("open %s: no repository there (no config): %w", be.Location(), err)
		}
		return nil, fmt.Errorf("open %s: %w", be.Location(), err)
	}
	cfg, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", be.Location(), err)
	}
	idx, err := index.Open(ctx, be)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", be.Location(), err)
	}
	return &Repository{be: be, cfg: cfg, idx: idx, packsPerIndex: 1000}, nil
}

func (r *Repository) index() *index.Index {
	r.idxMu.Lock()
	defer r.idxMu.Unlock()
	return r.idx
}

func (r *Repository) setIndex(x *index.Index) {
	r.idxMu.Lock()
	defer r.idxMu.Unlock()
	r.idx = x
}

// syncIndex brings the index up to date with the stored index files:
// new ones are opened (Refresh); when one it holds was removed (a prune
// rewrote it) the index is opened afresh, so that no lookup answers from
// a file, or points into a pack, that is gone.
func (r *Repository) syncIndex(ctx context.Context) error {
	stored := map[string]bool{}
	err := r.be.List(ctx, backend.Index, func(fi backend.FileInfo) error {
		stored[fi.Name] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("list index files: %w", err)
	}
	x := r.index()
	for _, f := range x.Files() {
		if !stored[f.ID().String()] {
			nx, err := index.Open(ctx, r.be)
			if err != nil {
				return err
			}
			r.setIndex(nx)
			return nil
		}
	}
	return x.Refresh(ctx)
}

// Config returns the repository's config.
func (r *Repository) Config() Config { return r.cfg }

// Backend returns the backend the repository is on.
func (r *Repository) Backend() backend.Backend { return r.be }

// loadAll reads a whole small object, refusing one above limit bytes.
func loadAll(ctx context.Context, be backend.Backend, h backend.Handle, limit int64) ([]byte, error) {
	fi, err := be.Stat(ctx, h)
	if err != nil {
		return nil, err
	}
	if fi.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes is above the %d limit", h, fi.Size, limit)
	}
	var b []byte
	err = be.Load(ctx, h, 0, 0, func(rd io.Reader) error {
		var err error
		b, err = io.ReadAll(io.LimitReader(rd, limit+1))
		return err
	})
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: above the %d limit", h, limit)
	}
	return b, nil
}

// List returns the names of the objects of type t, sorted: for manifests
// (backend.Snapshot) the ids that GetStream takes.
func (r *Repository) List(ctx context.Context, t backend.FileType) ([]string, error) {
	var names []string
	err := r.be.List(ctx, t, func(fi backend.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", t, err)
	}
	slices.Sort(names)
	return names, nil
}

// CorruptError says the repository does not hold what a manifest needs
// (exit status 4): a chunk that is missing, not in the index, or whose
// bytes do not match its id, or a stream whose whole hash is wrong.
type CorruptError struct {
	Manifest ids.ID
	Name     string // instead of Manifest: "binlog NAME", "tree ID file PATH"
	Chunk    ids.ID // zero when the stream as a whole is wrong
	Offset   int64  // of the chunk in the stream
	Err      error
}

func (e *CorruptError) what() string {
	if e.Name != "" {
		return e.Name
	}
	return "manifest " + e.Manifest.String()
}

func (e *CorruptError) Error() string {
	what := e.what()
	if e.Chunk.IsZero() {
		return fmt.Sprintf("%s: %v", what, e.Err)
	}
	return fmt.Sprintf("%s: chunk %s at offset %d: %v", what, e.Chunk, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// IsCorrupt reports whether err says the repository is damaged: a
// repo, pack or index CorruptError.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce) || pack.IsCorrupt(err) || index.IsCorrupt(err)
}
