package position

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePos(t *testing.T) {
	tests := []struct {
		in      string
		want    Pos
		wantErr string
	}{
		{in: "mysql-bin.000042:1234", want: Pos{"mysql-bin.000042", 1234}},
		{in: "mysql-bin.000001:4", want: Pos{"mysql-bin.000001", 4}},
		{in: "odd:name.000001:4", want: Pos{"odd:name.000001", 4}},
		{in: "mysql-bin.000001:18446744073709551615", want: Pos{"mysql-bin.000001", 1<<64 - 1}},
		{in: "mysql-bin.000001:0004", want: Pos{"mysql-bin.000001", 4}},
		{in: "", wantErr: `invalid binlog position "": want file:offset`},
		{in: "mysql-bin.000001", wantErr: `want file:offset`},
		{in: ":4", wantErr: `empty file name`},
		{in: "mysql-bin.000001:", wantErr: `offset "" is not a number`},
		{in: "mysql-bin.000001:-4", wantErr: `offset "-4" is not a number`},
		{in: "mysql-bin.000001:+4", wantErr: `not a number`},
		{in: "mysql-bin.000001:0x10", wantErr: `not a number`},
		{in: "mysql-bin.000001:18446744073709551616", wantErr: `not a number`},
		{in: "/var/lib/mysql/mysql-bin.000001:4", wantErr: `is a path`},
		{in: "..:4", wantErr: `is a path`},
		{in: "bin\n.000001:4", wantErr: `control character`},
	}
	for _, tt := range tests {
		got, err := ParsePos(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePos(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePos(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParsePos(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if again, err := ParsePos(got.String()); err != nil || again != got {
			t.Errorf("ParsePos(%q).String() = %q does not round-trip: %+v, %v", tt.in, got.String(), again, err)
		}
	}
	if s := (Pos{}).String(); s != "" {
		t.Errorf("zero Pos String() = %q, want empty", s)
	}
}

func TestIndexNext(t *testing.T) {
	tests := []struct {
		file  string
		index uint64
		ok    bool
		next  string
	}{
		{"mysql-bin.000009", 9, true, "mysql-bin.000010"},
		{"mysql-bin.000042", 42, true, "mysql-bin.000043"},
		{"mysql-bin.999999", 999999, true, "mysql-bin.1000000"},
		{"mysql-bin.1000000", 1000000, true, "mysql-bin.1000001"},
		{"a.b.c.7", 7, true, "a.b.c.8"},
		{"x.09", 9, true, "x.10"},
		{"x.99", 99, true, "x.100"},
		{"mysql-bin.index", 0, false, ""},
		{"mysql-bin.", 0, false, ""},
		{"mysqlbin", 0, false, ""},
		{"mysql-bin.00001a", 0, false, ""},
		{"mysql-bin.18446744073709551616", 0, false, ""},
	}
	for _, tt := range tests {
		n, ok := Index(tt.file)
		if n != tt.index || ok != tt.ok {
			t.Errorf("Index(%q) = %d, %v; want %d, %v", tt.file, n, ok, tt.index, tt.ok)
		}
		next, err := Next(tt.file)
		if tt.next == "" {
			if err == nil {
				t.Errorf("Next(%q) = %q, want an error", tt.file, next)
			}
			continue
		}
		if err != nil || next != tt.next {
			t.Errorf("Next(%q) = %q, %v; want %q", tt.file, next, err, tt.next)
		}
	}
	if _, err := Next("mysql-bin.18446744073709551615"); err == nil {
		t.Error("Next at the uint64 limit: want an error")
	}
}

func TestCompare(t *testing.T) {
	p := func(s string) Pos {
		t.Helper()
		x, err := ParsePos(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	tests := []struct {
		a, b string
		want int
		same bool
	}{
		{"mysql-bin.000001:4", "mysql-bin.000001:4", 0, true},
		{"mysql-bin.000001:4", "mysql-bin.000001:5", -1, true},
		{"mysql-bin.000002:4", "mysql-bin.000001:999", 1, true},
		{"mysql-bin.999999:4", "mysql-bin.1000000:4", -1, true},
		{"mysql-bin.000009:4", "mysql-bin.000010:4", -1, true},
		{"a-bin.000009:4", "b-bin.000001:4", -1, false},
		{"b-bin.000001:4", "a-bin.000009:4", 1, false},
		{"mysql-bin:4", "mysql-bin.000001:4", -1, false},
		{"mysql-bin.042:4", "mysql-bin.00042:4", 1, true}, // same number: ordered by name
	}
	for _, tt := range tests {
		a, b := p(tt.a), p(tt.b)
		if got := Compare(a, b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(b, a); got != -tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
		if got := SameSeries(a, b); got != tt.same {
			t.Errorf("SameSeries(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// TestCompareTotalOrder checks that a mix of series and unnumbered names
// sorts consistently, which sort.Slice relies on.
func TestCompareTotalOrder(t *testing.T) {
	names := []string{"a.9", "a.10", "a.10x", "a", "a.b", "a.010", "b.1", "a.x.1", "a.x.02"}
	var ps []Pos
	for _, n := range names {
		for _, off := range []uint64{4, 100} {
			ps = append(ps, Pos{n, off})
		}
	}
	for _, a := range ps {
		for _, b := range ps {
			for _, c := range ps {
				if Compare(a, b) <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
					t.Fatalf("not transitive: %v <= %v <= %v but %v > %v", a, b, c, a, c)
				}
			}
			if (Compare(a, b) == 0) != (a == b) {
				t.Fatalf("Compare(%v, %v) = 0 for different positions", a, b)
			}
		}
	}
	sorted := slices.Clone(ps)
	slices.SortFunc(sorted, Compare)
	if !slices.IsSortedFunc(sorted, Compare) {
		t.Fatal("not sorted")
	}
}

func FuzzParsePos(f *testing.F) {
	for _, s := range []string{"mysql-bin.000042:1234", "a:b:4", ":", "x.999999:0", "", "mysql-bin.000001:18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePos(s)
		if err != nil {
			return
		}
		q, err := ParsePos(p.String())
		if err != nil {
			t.Fatalf("ParsePos(%q) = %+v, but its String %q does not parse: %v", s, p, p.String(), err)
		}
		if q != p {
			t.Fatalf("round trip of %q: %+v != %+v", s, q, p)
		}
		if Compare(p, q) != 0 {
			t.Fatalf("Compare of equal positions is not 0")
		}
		if next, err := Next(p.File); err == nil {
			n := Pos{File: next, Offset: p.Offset}
			if !SameSeries(p, n) || Compare(p, n) >= 0 {
				t.Fatalf("Next(%q) = %q does not follow it", p.File, next)
			}
		}
	})
}
