package apply

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Bodies of USER_VAR events MariaDB 10.11 wrote, without checksum.
var userVarBodies = map[string]string{
	"010000006100020800000008000000050000000000000000":                  "SET @`a` := 5",
	"0100000073000005000000040000006361 66e9":                           "SET @`s` := _latin1 0x636166e9 COLLATE `latin1_german1_ci`",
	"020000006463000408000000100000001e0f7e1dbfd0f8a086ffffffffffff fe": "SET @`dc` := -123456789012345.000000000000001",
	"0100000066000108000000080000007683 0df4f521843e":                   "SET @`f` := 1.5e-07",
	"010000006e01": "SET @`n` := NULL",
	"01000000750002080000000800000 0ffffffffffffffff01":  "SET @`u` := 18446744073709551615",
	"01000000620000 3f0000000300000000ff27":              "SET @`b` := _binary 0x00ff27 COLLATE `binary`",
	"010000006100020800000008000000000000000000 0080 00": "SET @`a` := -9223372036854775808",
	"02000000646300040800000004000000020180 05":          "SET @`dc` := 0.5",
}

var collations = map[uint32]Collation{5: {"latin1_german1_ci", "latin1"}, 63: {"binary", "binary"}}

func TestUserVar(t *testing.T) {
	for h, want := range userVarBodies {
		b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseUserVar(b)
		if err != nil {
			t.Errorf("%s: %v", want, err)
			continue
		}
		if got, err := v.SQL(collations); err != nil || got != want {
			t.Errorf("got  %s, %v\nwant %s", got, err, want)
		}
		for n := range b {
			if _, err := ParseUserVar(b[:n]); err == nil && n < len(b)-1 {
				t.Errorf("%s cut to %d bytes: no error", want, n)
			}
		}
	}
	// A collation the target does not know: as binary the value would
	// compare differently, so it is an error.
	v := UserVar{Name: "x", Type: userVarString, Collation: 999, Value: []byte("é")}
	if got, err := v.SQL(collations); err == nil || !strings.Contains(err.Error(), "no collation number 999") {
		t.Errorf("unknown collation: %s, %v; want an error naming it", got, err)
	}
	// A DECIMAL digit group beyond its digits: corrupt, not a number.
	if _, err := decodeDecimal([]byte{9, 0, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Errorf("DECIMAL(9,0) of 0xffffffff: no error")
	}
}

func FuzzParseUserVar(f *testing.F) {
	for h := range userVarBodies {
		b, _ := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := ParseUserVar(b); err == nil {
			_, _ = v.SQL(collations) // only that it does not panic
		}
	})
}
