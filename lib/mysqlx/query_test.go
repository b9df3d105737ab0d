package mysqlx

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// encodeRow builds a text-protocol row packet: nil is NULL.
func encodeRow(vals [][]byte) []byte {
	var b []byte
	for _, v := range vals {
		if v == nil {
			b = append(b, 0xfb)
			continue
		}
		b = append(b, mysql.PutLengthEncodedInt(uint64(len(v)))...)
		b = append(b, v...)
	}
	return b
}

func TestParseRow(t *testing.T) {
	vals := [][]byte{[]byte("0.12345670163631439"), nil, {}, bytes.Repeat([]byte{0xfb}, 300), bytes.Repeat([]byte("x"), 70000)}
	row := make([][]byte, len(vals))
	if err := parseRow(encodeRow(vals), row); err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if (vals[i] == nil) != (row[i] == nil) || !bytes.Equal(vals[i], row[i]) {
			t.Errorf("value %d: got %.20q, want %.20q", i, row[i], vals[i])
		}
	}
	pkt := encodeRow(vals)
	for _, bad := range [][]byte{pkt[:len(pkt)-1], append(append([]byte{}, pkt...), 0), {}, {0xfc, 0x01}} {
		if err := parseRow(bad, make([][]byte, len(vals))); err == nil {
			t.Errorf("parseRow accepted a malformed packet of %d bytes", len(bad))
		}
	}
}

// FuzzParseRow: never panics, and what it accepts encodes back to the
// same bytes.
func FuzzParseRow(f *testing.F) {
	f.Add(encodeRow([][]byte{[]byte("1"), nil, []byte("abc")}), 3)
	f.Add([]byte{0xfc, 0xff, 0xff}, 1)
	f.Add([]byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0, 'x'}, 1)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		row := make([][]byte, n)
		if err := parseRow(data, row); err != nil {
			return
		}
		// A length may be encoded longer than needed; compare values.
		again := make([][]byte, n)
		if err := parseRow(encodeRow(row), again); err != nil {
			t.Fatalf("re-encoded row does not parse: %v", err)
		}
		for i := range row {
			if (row[i] == nil) != (again[i] == nil) || !bytes.Equal(row[i], again[i]) {
				t.Fatalf("value %d changed", i)
			}
		}
	})
}
