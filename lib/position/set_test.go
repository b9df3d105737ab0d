package position

import (
	"math/rand/v2"
	"strings"
	"testing"
)

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4f22ab58-82db-22f2-af44-d91bba53a673"
)

func TestParseSetMariaDB(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "", want: ""},
		{in: "  \n", want: ""},
		{in: "0-1-42", want: "0-1-42"},
		{in: "1-2-7,0-1-42", want: "0-1-42,1-2-7"},
		{in: " 0-1-42 ,\n 1-2-7 ", want: "0-1-42,1-2-7"},
		{in: "00-01-042", want: "0-1-42"},
		{in: "4294967295-4294967295-18446744073709551615", want: "4294967295-4294967295-18446744073709551615"},
		{in: "10-1-5,2-1-9,0-3-1", want: "0-3-1,2-1-9,10-1-5"},
		{in: "x-y", wantErr: `invalid gtid set "x-y": element "x-y": want domain-server-seq`},
		{in: "0-1", wantErr: `want domain-server-seq`},
		{in: "0-1-2-3", wantErr: `sequence "2-3"`},
		{in: "0-1-42,", wantErr: `empty element`},
		{in: ",0-1-42", wantErr: `empty element`},
		{in: "0-1-42,,1-1-1", wantErr: `empty element`},
		{in: "0-1-42,0-2-43", wantErr: `domain 0 appears twice`},
		{in: "4294967296-1-1", wantErr: `domain "4294967296"`},
		{in: "0-4294967296-1", wantErr: `server id "4294967296"`},
		{in: "0-1-18446744073709551616", wantErr: `sequence "18446744073709551616"`},
		{in: "-1-1-1", wantErr: `domain ""`},
		{in: "+0-1-1", wantErr: `domain "+0"`},
		{in: "0 -1-1", wantErr: `domain "0 "`},
		{in: uuidA + ":1-5", wantErr: `invalid gtid set`},
	}
	for _, tt := range tests {
		s, err := ParseSet(MariaDB, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSet(mariadb, %q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSet(mariadb, %q): %v", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.want {
			t.Errorf("ParseSet(mariadb, %q).String() = %q, want %q", tt.in, got, tt.want)
		}
		if s.Flavor() != MariaDB {
			t.Errorf("flavor = %q", s.Flavor())
		}
	}
}

func TestParseSetMySQL(t *testing.T) {
	upper := strings.ToUpper(uuidA)
	bare := strings.ReplaceAll(uuidA, "-", "")
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "", want: ""},
		{in: uuidA + ":1-5", want: uuidA + ":1-5"},
		{in: uuidA + ":7", want: uuidA + ":7"},
		{in: uuidA + ":7-7", want: uuidA + ":7"},
		{in: upper + ":1-5", want: uuidA + ":1-5"},
		{in: bare + ":1-5", want: uuidA + ":1-5"},
		{in: "{" + uuidA + "}:1-5", want: uuidA + ":1-5"},
		{in: uuidA + ":1-5:6-9", want: uuidA + ":1-9"},
		{in: uuidA + ":6-9:1-5", want: uuidA + ":1-9"},
		{in: uuidA + ":1-5:3-7:20:11-12", want: uuidA + ":1-7:11-12:20"},
		{in: uuidA + ":1-5," + uuidA + ":6-8", want: uuidA + ":1-8"},
		{in: uuidB + ":1-3,\n" + uuidA + ":1-5", want: uuidA + ":1-5," + uuidB + ":1-3"},
		{in: uuidA + ":1-5:Zeta:1-2:alpha:4:3", want: uuidA + ":1-5:alpha:3-4:zeta:1-2"},
		{in: uuidA + ":alpha:1-2", want: uuidA + ":alpha:1-2"},
		{in: uuidA + ":1-9223372036854775806", want: uuidA + ":1-9223372036854775806"},
		{in: uuidA, wantErr: `want uuid:interval`},
		{in: uuidA + ":", wantErr: `interval ""`},
		{in: uuidA + ":0", wantErr: `interval "0": transaction number "0"`},
		{in: uuidA + ":5-3", wantErr: `interval "5-3" ends before it starts`},
		{in: uuidA + ":1-9223372036854775807", wantErr: `transaction number "9223372036854775807"`},
		{in: uuidA + ":1-", wantErr: `interval "1-"`},
		{in: uuidA + ":tag", wantErr: `tag "tag" has no interval`},
		{in: uuidA + ":tag:other:1", wantErr: `tag "tag" has no interval`},
		{in: uuidA + ":1-5:9tag:1", wantErr: `interval "9tag"`},
		{in: uuidA + ":1-5:t-g:1", wantErr: `tag "t-g"`},
		{in: uuidA + ":a23456789012345678901234567890123:1", wantErr: `tag "a234`},
		{in: "3e11fa47-71ca-11e1-9e33-c80aa942956:1", wantErr: `uuid "3e11fa47-71ca-11e1-9e33-c80aa942956" is malformed`},
		{in: "3e11fa47x71ca-11e1-9e33-c80aa9429562:1", wantErr: `is malformed`},
		{in: "ge11fa47-71ca-11e1-9e33-c80aa9429562:1", wantErr: `is malformed`},
		{in: "urn:uuid:" + uuidA + ":1", wantErr: `is malformed`},
		{in: uuidA + ":1-5,", wantErr: `empty element`},
		{in: "0-1-2", wantErr: `invalid gtid set "0-1-2"`},
	}
	for _, tt := range tests {
		s, err := ParseSet(MySQL, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSet(mysql, %q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSet(mysql, %q): %v", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.want {
			t.Errorf("ParseSet(mysql, %q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSetBadFlavor(t *testing.T) {
	if _, err := ParseSet("postgres", ""); err == nil {
		t.Fatal("want an error for an unknown flavor")
	}
	if _, err := ParseFlavor("MariaDB"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFlavor("oracle"); err == nil {
		t.Fatal("want an error")
	}
}

func TestParseGTID(t *testing.T) {
	tests := []struct {
		flavor  Flavor
		in      string
		want    string
		wantErr string
	}{
		{MariaDB, "0-1-42", "0-1-42", ""},
		{MariaDB, " 1-2-3 ", "1-2-3", ""},
		{MariaDB, "0-1-42,1-1-1", "", `invalid gtid "0-1-42,1-1-1"`},
		{MariaDB, "0-1", "", "want domain-server-seq"},
		{MySQL, uuidA + ":23", uuidA + ":23", ""},
		{MySQL, strings.ToUpper(uuidA) + ":Tag_1:23", uuidA + ":tag_1:23", ""},
		{MySQL, uuidA + ":1-5", "", `transaction number "1-5"`},
		{MySQL, uuidA, "", "want uuid:number"},
		{MySQL, uuidA + ":0", "", `transaction number "0"`},
		{MySQL, "0-1-42", "", "want uuid:number"},
		{"", "0-1-42", "", "unknown flavor"},
	}
	for _, tt := range tests {
		g, err := ParseGTID(tt.flavor, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseGTID(%s, %q) error = %v, want one containing %q", tt.flavor, tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || g.String() != tt.want {
			t.Errorf("ParseGTID(%s, %q) = %q, %v; want %q", tt.flavor, tt.in, g.String(), err, tt.want)
		}
	}
	u, err := ParseUUID(uuidA)
	if err != nil || FormatUUID(u) != uuidA {
		t.Errorf("ParseUUID/FormatUUID: %q, %v", FormatUUID(u), err)
	}
}

func mustSet(t testing.TB, f Flavor, s string) *Set {
	t.Helper()
	set, err := ParseSet(f, s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func mustGTID(t testing.TB, f Flavor, s string) GTID {
	t.Helper()
	g, err := ParseGTID(f, s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestContainsMariaDB(t *testing.T) {
	s := mustSet(t, MariaDB, "0-1-42,1-2-7")
	for _, tt := range []struct {
		g    string
		want bool
	}{
		{"0-1-42", true},
		{"0-1-41", true},
		{"0-9-1", true}, // server id does not matter
		{"0-1-43", false},
		{"1-2-7", true},
		{"1-2-8", false},
		{"2-1-1", false},
	} {
		if got := s.Contains(mustGTID(t, MariaDB, tt.g)); got != tt.want {
			t.Errorf("%s Contains(%s) = %v, want %v", s, tt.g, got, tt.want)
		}
	}
	if s.Contains(mustGTID(t, MySQL, uuidA+":1")) {
		t.Error("a MariaDB set contains a MySQL gtid")
	}
	for _, tt := range []struct {
		o    string
		want bool
	}{
		{"", true},
		{"0-1-42", true},
		{"0-5-40,1-2-1", true},
		{"0-1-43", false},
		{"0-1-1,2-1-1", false},
	} {
		if got := s.ContainsSet(mustSet(t, MariaDB, tt.o)); got != tt.want {
			t.Errorf("%s ContainsSet(%s) = %v, want %v", s, tt.o, got, tt.want)
		}
	}
}

func TestContainsMySQL(t *testing.T) {
	s := mustSet(t, MySQL, uuidA+":1-5:10-20:t:3,"+uuidB+":7")
	for _, tt := range []struct {
		g    string
		want bool
	}{
		{uuidA + ":1", true},
		{uuidA + ":5", true},
		{uuidA + ":6", false},
		{uuidA + ":9", false},
		{uuidA + ":10", true},
		{uuidA + ":20", true},
		{uuidA + ":21", false},
		{uuidA + ":t:3", true},
		{uuidA + ":T:3", true},
		{uuidA + ":t:4", false},
		{uuidA + ":u:3", false},
		{uuidB + ":7", true},
		{uuidB + ":6", false},
		{"11111111-1111-1111-1111-111111111111:1", false},
	} {
		if got := s.Contains(mustGTID(t, MySQL, tt.g)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.g, got, tt.want)
		}
	}
	for _, tt := range []struct {
		o    string
		want bool
	}{
		{"", true},
		{uuidA + ":2-4", true},
		{uuidA + ":1-5:12-20", true},
		{uuidA + ":1-6", false},
		{uuidA + ":5-10", false},
		{uuidA + ":t:3," + uuidB + ":7", true},
		{uuidA + ":u:3", false},
		{uuidB + ":1-7", false},
	} {
		if got := s.ContainsSet(mustSet(t, MySQL, tt.o)); got != tt.want {
			t.Errorf("ContainsSet(%s) = %v, want %v", tt.o, got, tt.want)
		}
	}
	if s.ContainsSet(mustSet(t, MariaDB, "0-1-1")) {
		t.Error("a MySQL set contains a MariaDB set")
	}
}

func TestEqualClone(t *testing.T) {
	a := mustSet(t, MySQL, uuidA+":1-5:6-9")
	b := mustSet(t, MySQL, uuidA+":1-9")
	if !a.Equal(b) {
		t.Error("merged intervals not equal")
	}
	c := a.Clone()
	c.AddMySQL(mustGTID(t, MySQL, uuidA+":11").SID, 11)
	if a.Equal(c) || a.String() != uuidA+":1-9" {
		t.Errorf("Clone shares state: a = %s, c = %s", a, c)
	}
	if !NewSet(MariaDB).Equal(NewSet(MySQL)) || !(*Set)(nil).Equal(&Set{}) {
		t.Error("empty sets not equal")
	}
	m1 := mustSet(t, MariaDB, "0-1-5")
	m2 := mustSet(t, MariaDB, "0-2-5")
	if m1.Equal(m2) {
		t.Error("MariaDB sets with different server ids are equal")
	}
	if !m1.ContainsSet(m2) || !m2.ContainsSet(m1) {
		t.Error("MariaDB containment must ignore server ids")
	}
	mc := m1.Clone()
	mc.AddMariaDB(0, 1, 6)
	if m1.String() != "0-1-5" {
		t.Error("Clone shares MariaDB state")
	}
	if (*Set)(nil).String() != "" || !(*Set)(nil).IsEmpty() || (*Set)(nil).Clone() == nil {
		t.Error("nil set")
	}
}

func TestAdd(t *testing.T) {
	var s Set
	if err := s.Add(mustGTID(t, MariaDB, "0-1-5")); err != nil {
		t.Fatal(err)
	}
	if s.Flavor() != MariaDB {
		t.Fatalf("zero set did not adopt the flavor: %q", s.Flavor())
	}
	// Last wins, like @@gtid_binlog_pos, even when the seq goes down.
	_ = s.Add(mustGTID(t, MariaDB, "0-2-3"))
	_ = s.Add(mustGTID(t, MariaDB, "7-2-3"))
	if got := s.String(); got != "0-2-3,7-2-3" {
		t.Errorf("got %s", got)
	}
	err := s.Add(mustGTID(t, MySQL, uuidA+":1"))
	if err == nil || !strings.Contains(err.Error(), "cannot add mysql gtid") {
		t.Errorf("Add of the other flavor: %v", err)
	}
	if err := s.Add(GTID{}); err == nil {
		t.Error("Add of a zero GTID: want an error")
	}
	s.AddMySQL([16]byte{1}, 1)
	if s.Err() == nil || s.String() != "0-2-3,7-2-3" {
		t.Errorf("AddMySQL on a MariaDB set: Err = %v, set = %s", s.Err(), s.String())
	}

	my := NewSet(MySQL)
	for _, g := range []string{uuidA + ":3", uuidA + ":1", uuidA + ":2", uuidA + ":T:1", uuidB + ":5"} {
		if err := my.Add(mustGTID(t, MySQL, g)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := my.String(), uuidA+":1-3:t:1,"+uuidB+":5"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if err := my.Add(GTID{Flavor: MySQL, GNO: 0}); err == nil {
		t.Error("Add of gno 0: want an error")
	}
	my.AddMariaDB(0, 1, 1)
	my.AddMySQL([16]byte{}, -1)
	if my.Err() == nil {
		t.Error("misuse not recorded")
	}
	if NewSet(MySQL).Err() != nil {
		t.Error("fresh set has an error")
	}
}

// TestAddMySQLModel checks interval upkeep against a plain map of numbers.
func TestAddMySQLModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var s Set
		model := map[int64]bool{}
		sid := [16]byte{byte(round)}
		for i := 0; i < 60; i++ {
			g := int64(rng.IntN(80) + 1)
			s.AddMySQL(sid, g)
			model[g] = true
		}
		for g := int64(0); g <= 82; g++ {
			got := s.Contains(MySQLGTID(sid, g))
			if got != model[g] {
				t.Fatalf("round %d: Contains(%d) = %v, want %v; set %s", round, g, got, model[g], s.String())
			}
		}
		// Canonical: intervals disjoint and not adjacent.
		iv := s.mysql[0].iv
		for i := 1; i < len(iv); i++ {
			if iv[i].start <= iv[i-1].stop {
				t.Fatalf("round %d: intervals not merged: %v", round, iv)
			}
		}
		again := mustSet(t, MySQL, s.String())
		if !again.Equal(&s) {
			t.Fatalf("round trip: %s != %s", again, s.String())
		}
	}
}

func TestFastPathsDoNotAllocate(t *testing.T) {
	ma := NewSet(MariaDB)
	ma.AddMariaDB(0, 1, 1)
	ma.AddMariaDB(1, 1, 1)
	seq := uint64(1)
	if n := testing.AllocsPerRun(1000, func() { seq++; ma.AddMariaDB(0, 1, seq) }); n != 0 {
		t.Errorf("AddMariaDB allocates %v times per call", n)
	}
	my := NewSet(MySQL)
	a := mustGTID(t, MySQL, uuidA+":1").SID
	b := mustGTID(t, MySQL, uuidB+":1").SID
	my.AddMySQL(b, 1)
	my.AddMySQL(a, 1)
	gno := int64(1)
	if n := testing.AllocsPerRun(1000, func() { gno++; my.AddMySQL(a, gno) }); n != 0 {
		t.Errorf("AddMySQL allocates %v times per call", n)
	}
	// Alternating sources miss the cache but must not allocate either.
	if n := testing.AllocsPerRun(1000, func() { gno++; my.AddMySQL(a, gno); my.AddMySQL(b, gno) }); n != 0 {
		t.Errorf("AddMySQL with two sources allocates %v times per call", n)
	}
}

func BenchmarkAddMariaDB(b *testing.B) {
	s := NewSet(MariaDB)
	for i := 0; i < b.N; i++ {
		s.AddMariaDB(0, 1, uint64(i))
	}
}

func BenchmarkAddMySQL(b *testing.B) {
	s := NewSet(MySQL)
	sid := [16]byte{1, 2, 3}
	for i := 0; i < b.N; i++ {
		s.AddMySQL(sid, int64(i+1))
	}
}

func FuzzParseSet(f *testing.F) {
	for _, s := range []string{
		"", "0-1-42", "0-1-42,1-2-7", "x-y", "0-1-42,0-2-1",
		uuidA + ":1-5:7", uuidA + ":1-5,\n" + uuidB + ":3:tag:1-2", strings.ToUpper(uuidA) + ":9-9",
		"{" + uuidA + "}:1", uuidA + ":tag",
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, mysql bool, s string) {
		flavor := MariaDB
		if mysql {
			flavor = MySQL
		}
		set, err := ParseSet(flavor, s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid gtid set ") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		str := set.String()
		again, err := ParseSet(flavor, str)
		if err != nil {
			t.Fatalf("ParseSet(%q).String() = %q does not parse: %v", s, str, err)
		}
		if !again.Equal(set) || again.String() != str {
			t.Fatalf("round trip of %q: %q != %q", s, again.String(), str)
		}
		if !set.ContainsSet(again) || !again.ContainsSet(set) {
			t.Fatalf("equal sets do not contain each other: %q", str)
		}
	})
}

func TestUnion(t *testing.T) {
	a := mustSet(t, MariaDB, "0-1-10,1-1-5")
	a.Union(mustSet(t, MariaDB, "0-2-8,1-2-9,3-1-1"))
	if got := a.String(); got != "0-1-10,1-2-9,3-1-1" {
		t.Errorf("MariaDB union = %s", got)
	}
	m := mustSet(t, MySQL, uuidA+":1-5:10")
	m.Union(mustSet(t, MySQL, uuidA+":6-9:t:1,"+uuidB+":3"))
	if got, want := m.String(), uuidA+":1-10:t:1,"+uuidB+":3"; got != want {
		t.Errorf("MySQL union = %s, want %s", got, want)
	}
	var z Set
	z.Union(m)
	if !z.Equal(m) {
		t.Errorf("zero set union = %s", z.String())
	}
	m.Union(a)
	if m.Err() == nil || m.String() != uuidA+":1-10:t:1,"+uuidB+":3" {
		t.Errorf("mixed union: %v, %s", m.Err(), m.String())
	}
}
