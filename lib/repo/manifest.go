package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// ManifestVersion is the version of the manifest JSON.
const ManifestVersion = 1

// Manifest describes one stored stream: the chunks that make it up, in
// order. It is saved last, as a snapshot object named by its BLAKE3, so
// a manifest that exists names only chunks that are stored and indexed.
type Manifest struct {
	Version int               `json:"version"`
	Time    time.Time         `json:"time"`   // when the put finished
	Size    int64             `json:"size"`   // bytes of the stream
	BLAKE3  ids.ID            `json:"blake3"` // of the whole stream
	Meta    map[string]string `json:"meta,omitempty"`
	Chunks  []ChunkRef        `json:"chunks"`
}

// ChunkRef is one chunk of a stream.
type ChunkRef struct {
	ID   ids.ID `json:"id"`
	Size uint32 `json:"size"`
}

// maxManifest bounds the manifest a reader accepts: 64 MiB is some
// 600,000 chunks, a stream of half a terabyte or more.
const maxManifest = 64 << 20

func manifestHandle(id ids.ID) backend.Handle {
	return backend.Handle{Type: backend.Snapshot, Name: id.String()}
}

// LoadManifest reads and checks manifest id.
func (r *Repository) LoadManifest(ctx context.Context, id ids.ID) (*Manifest, error) {
	b, err := loadAll(ctx, r.be, manifestHandle(id), maxManifest)
	if err != nil {
		return nil, fmt.Errorf("load manifest %s: %w", id, err)
	}
	if got := ids.Hash(b); got != id {
		return nil, &CorruptError{Manifest: id, Err: fmt.Errorf("content does not match its name (it hashes to %s)", got)}
	}
	return parseManifest(b, id, "")
}

// SaveSnapshot stores m, whose chunks must be stored (StoreStream), as
// a snapshot manifest named by the BLAKE3 of its JSON, and returns that id.
func (r *Repository) SaveSnapshot(ctx context.Context, m *Manifest) (ids.ID, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return ids.ID{}, fmt.Errorf("manifest: %w", err)
	}
	b = append(b, '\n')
	id := ids.Hash(b)
	err = r.be.Save(ctx, manifestHandle(id), bytes.NewReader(b), int64(len(b)))
	if err != nil && !backend.IsExists(err) {
		return ids.ID{}, fmt.Errorf("save manifest %s: %w", id, err)
	}
	return id, nil
}
