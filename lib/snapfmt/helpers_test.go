package snapfmt

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// entry is one member to write in a test.
type entry struct {
	m    Member
	data []byte
	rows int64
}

// sample returns a manifest and members with the awkward cases: names
// with '/', '.', '%', spaces and 4-byte UTF-8, an empty table, a
// zero-byte chunk, binary content, every object kind and grants.
func sample() (*Manifest, []entry) {
	m := &Manifest{
		Tool:    "dr-snap test",
		Created: time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC),
		Source:  Source{ServerID: 7, Flavor: "mariadb", Version: "10.11.6-MariaDB", Address: "127.0.0.1:3306"},
		Binlog:  BinlogPos{File: "mysql-bin.000042", Pos: 1234},
		GTIDSet: "0-7-1000",
		Lock:    "BACKUP STAGE BLOCK_COMMIT",
		Options: Options{Threads: 4, ChunkSize: 4 << 20},
		Databases: []Database{
			{
				Name: "shop",
				Tables: []Table{
					{Name: "orders", Engine: "InnoDB"},
					{Name: "t.x", Engine: "MyISAM", Lock: "FLUSH TABLES WITH READ LOCK"},
					{Name: "empty", Engine: "InnoDB"},
				},
				Views: []string{"v1"}, Triggers: []string{"tr"}, Procedures: []string{"p"}, Events: []string{"e"},
			},
			{
				Name:      "a/b",
				Tables:    []Table{{Name: "sp ace", Engine: "Aria"}, {Name: "ünïcødé 😀", Engine: "InnoDB"}},
				Functions: []string{"f"},
			},
			{Name: "..", Tables: []Table{{Name: "..", Engine: "InnoDB"}}},
			{Name: "100%", Tables: []Table{{Name: "%41", Engine: "InnoDB"}, {Name: "_db.sql", Engine: "InnoDB"}}},
		},
		Grants: true,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var es []entry
	add := func(m Member, data string, rows int64) { es = append(es, entry{m, []byte(data), rows}) }
	chunks := func(db, t string, n int) {
		for i := 1; i <= n; i++ {
			var b strings.Builder
			rows := 1 + rng.IntN(50)
			fmt.Fprintf(&b, "INSERT INTO `%s` VALUES ", t)
			for r := 0; r < rows; r++ {
				if r > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "(%d,'%x')", i*1000+r, rng.Uint64())
			}
			b.WriteString(";\n")
			add(Member{Kind: KindData, DB: db, Table: t, Seq: i}, b.String(), int64(rows))
		}
	}
	for _, d := range m.Databases {
		add(Member{Kind: KindDatabase, DB: d.Name}, "CREATE DATABASE `"+d.Name+"`;\n", 0)
		for _, t := range d.Tables {
			add(Member{Kind: KindTable, DB: d.Name, Table: t.Name}, "CREATE TABLE `"+t.Name+"` (id int primary key, v blob);\n", 0)
		}
	}
	chunks("shop", "orders", 3)
	chunks("shop", "t.x", 1)
	chunks("a/b", "sp ace", 1)
	chunks("a/b", "ünïcødé 😀", 2)
	chunks("..", "..", 1)
	chunks("100%", "%41", 2)
	// A zero-byte chunk and a binary one.
	add(Member{Kind: KindData, DB: "100%", Table: "_db.sql", Seq: 1}, "", 0)
	add(Member{Kind: KindData, DB: "100%", Table: "_db.sql", Seq: 2}, "INSERT INTO t VALUES (X'00ff'),('\x00\xff\n');\n", 2)
	add(Member{Kind: KindViews, DB: "shop"}, "CREATE VIEW v1 AS SELECT 1;\n", 0)
	add(Member{Kind: KindTriggers, DB: "shop"}, "CREATE TRIGGER tr ...;\n", 0)
	add(Member{Kind: KindRoutines, DB: "shop"}, "CREATE PROCEDURE p() BEGIN END;\n", 0)
	add(Member{Kind: KindEvents, DB: "shop"}, "CREATE EVENT e ...;\n", 0)
	add(Member{Kind: KindRoutines, DB: "a/b"}, "CREATE FUNCTION f() RETURNS int RETURN 1;\n", 0)
	add(Member{Kind: KindGrants}, "GRANT ALL ON *.* TO 'root'@'localhost';\n", 0)
	return m, es
}

var testSums = Sums{Finished: time.Date(2026, 11, 21, 2, 3, 0, 0, time.UTC), LockTime: Duration(85 * time.Millisecond)}

// write writes a stream of the members and returns its bytes.
func write(t testing.TB, opt WriterOptions, m *Manifest, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := w.Add(e.m, e.data, e.rows); err != nil {
			t.Fatal(err)
		}
	}
	s := testSums
	if err := w.Close(&s); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads a stream to its end with NextBytes, or with Next reading
// through the io.Reader when streaming is set.
func readAll(stream []byte, streaming bool) (*Reader, []entry, error) {
	r, err := NewReader(bytes.NewReader(stream))
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var got []entry
	for {
		var m Member
		var data []byte
		if streaming {
			var rd io.Reader
			m, rd, err = r.Next()
			if err == nil {
				data, err = io.ReadAll(rd)
			}
		} else {
			m, data, err = r.NextBytes()
		}
		if err == io.EOF {
			return r, got, nil
		}
		if err != nil {
			return r, got, err
		}
		got = append(got, entry{m, data, r.Sum().Rows})
	}
}

// rawEntry is a tar entry for hand-made streams.
type rawEntry struct {
	name string
	data []byte
	pax  map[string]string // nil: DR.blake3 of data
	rows int64             // DR.rows when >= 0 and pax is nil
}

func blake3Hex(b []byte) string {
	s := blake3.Sum256(b)
	return hex.EncodeToString(s[:])
}

// rawStream writes entries as Writer would, with no checks.
func rawStream(t testing.TB, es []rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		pax := e.pax
		if pax == nil {
			pax = map[string]string{PAXBlake3: blake3Hex(e.data)}
			if e.rows >= 0 {
				pax[PAXRows] = fmt.Sprint(e.rows)
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o644,
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX, PAXRecords: pax}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawEntries splits a valid stream written by Writer into raw entries, so
// a test can change one and write the stream again.
func rawEntries(t testing.TB, stream []byte) []rawEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(stream))
	var es []rawEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		pax := map[string]string{}
		for k, v := range hdr.PAXRecords {
			if strings.HasPrefix(k, "DR.") {
				pax[k] = v
			}
		}
		es = append(es, rawEntry{name: hdr.Name, data: data, pax: pax})
	}
}

// entrySpan returns where the tar entry named name lies in a plain
// stream: from its first header block to the end of its padding.
func entrySpan(t testing.TB, stream []byte, name string) (int, int) {
	t.Helper()
	c := &counter{r: bytes.NewReader(stream)}
	tr := tar.NewReader(c)
	for {
		start := align(c.n)
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %q not found: %v", name, err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			t.Fatal(err)
		}
		if hdr.Name == name {
			return int(start), int(align(c.n))
		}
	}
}

func mustFormatError(t testing.TB, err error) *FormatError {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	return fe
}

// jsonOf marshals v as Writer does.
func jsonOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
