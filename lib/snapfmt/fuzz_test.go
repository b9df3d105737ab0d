package snapfmt

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// small returns a small valid snapshot for the fuzz corpus.
func small(t testing.TB, compress bool) []byte {
	m := &Manifest{
		Tool: "fuzz", Created: time.Unix(1, 0).UTC(),
		Databases: []Database{{Name: "d.b", Tables: []Table{{Name: "t", Engine: "InnoDB"}, {Name: "e"}}, Views: []string{"v"}}},
		Grants:    true,
	}
	es := []entry{
		{Member{Kind: KindDatabase, DB: "d.b"}, []byte("CREATE DATABASE `d.b`;\n"), 0},
		{Member{Kind: KindTable, DB: "d.b", Table: "t"}, []byte("CREATE TABLE t (id int primary key);\n"), 0},
		{Member{Kind: KindTable, DB: "d.b", Table: "e"}, []byte("CREATE TABLE e (id int primary key);\n"), 0},
		{Member{Kind: KindData, DB: "d.b", Table: "t", Seq: 1}, []byte("INSERT INTO t VALUES (1),(2);\n"), 2},
		{Member{Kind: KindData, DB: "d.b", Table: "t", Seq: 2}, []byte("INSERT INTO t VALUES (3);\n"), 1},
		{Member{Kind: KindViews, DB: "d.b"}, []byte("CREATE VIEW v AS SELECT 1;\n"), 0},
		{Member{Kind: KindGrants}, []byte("GRANT USAGE ON *.* TO x;\n"), 0},
	}
	return write(t, WriterOptions{Compress: compress, Concurrency: 1}, m, es)
}

// FuzzReader: no input makes the reader panic, every error is a
// *FormatError (a bytes.Reader never fails), and a stream is accepted
// only when it is whole: every member's content hashes to what SUMS.json
// says, and writing the same snapshot again reads back the same.
func FuzzReader(f *testing.F) {
	for _, compress := range []bool{false, true} {
		s := small(f, compress)
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:len(s)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b})
	f.Add(make([]byte, 1024))

	f.Fuzz(checkStream)
}

// FuzzEntries changes the entries of a valid stream and writes a valid
// tar again, so that inputs get past archive/tar's header checksums to
// the checks of this package: names, PAX records, order, SUMS.json.
func FuzzEntries(f *testing.F) {
	f.Add(uint8(3), "", "", []byte(nil), false)
	f.Add(uint8(4), "d%2Eb/t/data-000003.sql", "", []byte(nil), false)
	f.Add(uint8(5), "", "DR.rows=7", []byte(nil), false)
	f.Add(uint8(8), "", "", []byte(`{"members":[]}`), false)
	f.Add(uint8(0), "", "", []byte(`{"format":1,"databases":[]}`), true)
	f.Add(uint8(2), "_grants.sql", "", []byte("x"), true)
	f.Fuzz(func(t *testing.T, which uint8, name, pax string, data []byte, drop bool) {
		es := rawEntries(t, small(t, false))
		i := int(which) % len(es)
		if drop {
			es = append(es[:i], es[i+1:]...)
		} else {
			e := &es[i]
			if name != "" {
				e.name = name
			}
			if data != nil {
				e.data = data
				e.pax[PAXBlake3] = blake3Hex(data)
			}
			for _, kv := range strings.Split(pax, ";") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					e.pax[k] = v
				}
			}
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range es {
			hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o644,
				ModTime: time.Unix(0, 0), Format: tar.FormatPAX, PAXRecords: e.pax}
			if tw.WriteHeader(hdr) != nil {
				return // not representable in tar
			}
			tw.Write(e.data)
		}
		tw.Close()
		checkStream(t, buf.Bytes())
	})
}

// checkStream reads a stream both ways and checks that the reader fails
// with a *FormatError or accepts only a whole, consistent stream.
func checkStream(t *testing.T, data []byte) {
	r, got, err := readAll(data, false)
	r2, got2, err2 := readAll(data, true)
	if (err == nil) != (err2 == nil) {
		t.Fatalf("NextBytes says %v, Next says %v", err, err2)
	}
	if err != nil {
		mustFormatError(t, err)
		mustFormatError(t, err2)
		return
	}
	if len(got) != len(got2) {
		t.Fatalf("NextBytes read %d members, Next %d", len(got), len(got2))
	}
	s := r.Sums()
	if s == nil || r2.Sums() == nil || len(s.Members) != len(got) {
		t.Fatalf("accepted with sums %+v for %d members", s, len(got))
	}
	for i, g := range got {
		name, err := g.m.Name()
		if err != nil {
			t.Fatalf("accepted an invalid member %+v: %v", g.m, err)
		}
		want := s.Members[i]
		if want.Name != name || want.BLAKE3 != blake3Hex(g.data) || want.Size != int64(len(g.data)) || want.Rows != g.rows {
			t.Fatalf("member %d: %s %s %d bytes %d rows, SUMS.json says %+v", i, name, blake3Hex(g.data), len(g.data), g.rows, want)
		}
		if !bytes.Equal(g.data, got2[i].data) || g.m != got2[i].m {
			t.Fatalf("member %d differs between NextBytes and Next", i)
		}
	}
	// The same snapshot written again reads back the same.
	var buf bytes.Buffer
	m := *r.Manifest()
	w, err := NewWriter(&buf, &m, WriterOptions{})
	if err != nil {
		t.Fatalf("accepted manifest is refused by the writer: %v", err)
	}
	for _, g := range got {
		if err := w.Add(g.m, g.data, g.rows); err != nil {
			t.Fatalf("accepted member refused by the writer: %v", err)
		}
	}
	s2 := Sums{Finished: s.Finished, LockTime: s.LockTime}
	if err := w.Close(&s2); err != nil {
		t.Fatalf("accepted stream refused by the writer: %v", err)
	}
	_, again, err := readAll(buf.Bytes(), false)
	if err != nil || len(again) != len(got) {
		t.Fatalf("rewritten stream: %d members, %v", len(again), err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after the end: %v", err)
	}
}
