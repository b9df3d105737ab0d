package ids

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHashParseString(t *testing.T) {
	// BLAKE3 of the empty input, from the specification's test vectors.
	const empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	id := Hash(nil)
	if id.String() != empty {
		t.Fatalf("Hash(nil) = %s, want %s", id, empty)
	}
	if p, err := Parse(empty); err != nil || p != id {
		t.Fatalf("Parse = %s, %v", p, err)
	}
	if id.Short() != "af1349b9" || id.IsZero() || !(ID{}).IsZero() {
		t.Fatalf("Short %s, IsZero %v", id.Short(), id.IsZero())
	}
	for _, bad := range []string{"", "af13", strings.ToUpper(empty), empty[:63] + "g", empty + "0"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
	h := NewHasher()
	h.Write([]byte("ab"))
	h.Write([]byte("c"))
	if h.Sum() != Hash([]byte("abc")) {
		t.Fatalf("Hasher in pieces differs from Hash")
	}
	h.Reset()
	if h.Sum() != id {
		t.Fatalf("Reset Hasher does not hash the empty input")
	}
}

func TestJSON(t *testing.T) {
	in := struct{ Chunk ID }{Hash([]byte("x"))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Chunk":"` + in.Chunk.String() + `"}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var out struct{ Chunk ID }
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip: %v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"Chunk":"zz"}`), &out); err == nil {
		t.Fatalf("bad id in JSON: no error")
	}
}
