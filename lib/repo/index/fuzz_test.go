package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/dr-mysql/dr/lib/repo/backend/mem"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

// FuzzParse feeds arbitrary bytes to the index file parser and to
// OpenFile and lookups over them: nothing may panic, errors must be
// *CorruptError, and what Parse accepts must be sorted, unique and
// findable by Lookup.
func FuzzParse(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range [][2]int{{1, 1}, {2, 3}, {5, 8}} {
		w, _ := writer(f, rng, n[0], n[1])
		_, data := w.Encode()
		f.Add(data, false)
		f.Add(data[1:], true)
	}
	f.Add([]byte(Magic), false)
	f.Add(make([]byte, TrailerSize), true)

	f.Fuzz(fuzzOne)
}

func fuzzOne(t *testing.T, data []byte, fix bool) {
	{
		if fix && len(data) >= TrailerSize {
			// Give the input valid sums, so the fuzzer gets past them to
			// the fan-out and the records.
			data = bytes.Clone(data)
			tr := data[len(data)-TrailerSize:]
			tr[9] = 0
			binary.LittleEndian.PutUint16(tr[10:], Version)
			copy(tr[12:], Magic)
			if tt, err := parseTrailer(tr, int64(len(data))); err == nil {
				hs := headSum(data[:tt.headLen()], tr[:16])
				copy(tr[16:], hs[:])
			}
			fs := ids.Hash(data[:len(data)-32])
			copy(tr[48:], fs[:])
		}
		var got []Entry
		err := Parse(data, func(e Entry) error { got = append(got, e); return nil })
		ctx := context.Background()
		be := mem.New()
		id := ids.Hash(data)
		be.Put(Handle(id), data)
		file, ferr := OpenFile(ctx, be, id, -1)
		if ferr != nil && !IsCorrupt(ferr) {
			t.Fatalf("open: error %v is not a *CorruptError", ferr)
		}
		if err != nil {
			if !IsCorrupt(err) {
				t.Fatalf("error %v is not a *CorruptError", err)
			}
			if file != nil {
				// Lookups over a file Parse refuses may fail, not panic.
				var want []ids.ID
				for i := 0; i+32 <= len(data) && len(want) < 20; i += 52 {
					want = append(want, ids.ID(data[i:i+32]))
				}
				if _, err := file.LookupBatch(ctx, want); err != nil && !IsCorrupt(err) {
					t.Fatalf("lookup: error %v is not a *CorruptError", err)
				}
			}
			return
		}
		if ferr != nil {
			t.Fatalf("Parse accepts what OpenFile refuses: %v", ferr)
		}
		if err := Verify(ctx, be, id, -1, nil); err != nil {
			t.Fatalf("Parse accepts what Verify refuses: %v", err)
		}
		want := make([]ids.ID, len(got))
		for i, e := range got {
			if i > 0 && bytes.Compare(got[i-1].Blob.ID[:], e.Blob.ID[:]) >= 0 {
				t.Fatalf("accepted unsorted records at %d", i)
			}
			want[i] = e.Blob.ID
		}
		found, err := file.LookupBatch(ctx, want)
		if err != nil || len(found) != len(got) {
			t.Fatalf("lookup of accepted records: %d of %d, %v", len(found), len(got), err)
		}
		for _, e := range got {
			if found[e.Blob.ID] != e {
				t.Fatalf("lookup %v, parse %v", found[e.Blob.ID], e)
			}
		}
	}
}
