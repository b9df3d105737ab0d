// Package ids names everything in a DR repository: chunks, packs, index
// files and manifests are all called by the BLAKE3-256 of their bytes.
//
// It is a leaf package so that every other package of lib/repo can use
// the same ID type without import cycles.
package ids

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// Size is the length of an ID in bytes.
const Size = 32

// ID is the BLAKE3-256 of some bytes.
type ID [Size]byte

// Hash returns the ID of data.
func Hash(data []byte) ID { return blake3.Sum256(data) }

// String returns the ID as 64 lowercase hex digits, the form used for
// object names in a repository.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for people.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is all zeros (no ID).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText writes the hex form, so IDs appear as strings in JSON manifests.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the hex form.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// Parse reads an ID from its 64 hex digits. Upper case is refused: object
// names are lowercase and a second spelling would be a second name.
func Parse(s string) (ID, error) {
	var id ID
	if len(s) != 2*Size {
		return id, fmt.Errorf("invalid id %q: want %d hex digits, have %d", s, 2*Size, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id, fmt.Errorf("invalid id %q: not lowercase hex", s)
		}
	}
	hex.Decode(id[:], []byte(s))
	return id, nil
}

// Hasher computes an ID over data written in pieces.
type Hasher struct{ h *blake3.Hasher }

// NewHasher returns a Hasher ready for Write.
func NewHasher() *Hasher { return &Hasher{h: blake3.New()} }

// Write adds p to the hash; it never fails.
func (h *Hasher) Write(p []byte) (int, error) { return h.h.Write(p) }

// Sum returns the ID of everything written so far.
func (h *Hasher) Sum() ID {
	var id ID
	h.h.Sum(id[:0])
	return id
}

// Reset forgets everything written.
func (h *Hasher) Reset() { h.h.Reset() }
