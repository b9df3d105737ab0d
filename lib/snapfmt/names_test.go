package snapfmt

import (
	"strings"
	"testing"
)

func TestEncodeName(t *testing.T) {
	for in, want := range map[string]string{
		"orders":        "orders",
		"Ab_9-z":        "Ab_9-z",
		"a/b":           "a%2Fb",
		"t.x":           "t%2Ex",
		"..":            "%2E%2E",
		"sp ace":        "sp%20ace",
		"100%":          "100%25",
		"ü":             "%C3%BC",
		"😀":             "%F0%9F%98%80",
		"_db.sql":       "_db%2Esql",
		"a\x00b\nc":     "a%00b%0Ac",
		"MANIFEST.json": "MANIFEST%2Ejson",
	} {
		got := EncodeName(in)
		if got != want {
			t.Errorf("EncodeName(%q) = %q, want %q", in, got, want)
		}
		back, err := DecodeName(got)
		if err != nil || back != in {
			t.Errorf("DecodeName(%q) = %q, %v", got, back, err)
		}
	}
	for _, bad := range []string{"a.b", "a b", "a/b", "%2e", "%41", "%4", "%", "%G0", "ü", "a%2", "%5F"} {
		if got, err := DecodeName(bad); err == nil {
			t.Errorf("DecodeName(%q) = %q, want an error", bad, got)
		}
	}
}

func TestMemberNames(t *testing.T) {
	for _, c := range []struct {
		m    Member
		name string
	}{
		{Member{Kind: KindGrants}, "_grants.sql"},
		{Member{Kind: KindDatabase, DB: "shop"}, "shop/_db.sql"},
		{Member{Kind: KindViews, DB: "shop"}, "shop/_views.sql"},
		{Member{Kind: KindTriggers, DB: "shop"}, "shop/_triggers.sql"},
		{Member{Kind: KindRoutines, DB: "shop"}, "shop/_routines.sql"},
		{Member{Kind: KindEvents, DB: "shop"}, "shop/_events.sql"},
		{Member{Kind: KindTable, DB: "a/b", Table: "t.x"}, "a%2Fb/t%2Ex/schema.sql"},
		{Member{Kind: KindData, DB: "shop", Table: "orders", Seq: 1}, "shop/orders/data-000001.sql"},
		{Member{Kind: KindData, DB: "shop", Table: "orders", Seq: 123456}, "shop/orders/data-123456.sql"},
		{Member{Kind: KindData, DB: "shop", Table: "orders", Seq: 1234567}, "shop/orders/data-1234567.sql"},
		{Member{Kind: KindData, DB: "_grants.sql", Table: "schema.sql", Seq: 2}, "_grants%2Esql/schema%2Esql/data-000002.sql"},
		{Member{Kind: KindTable, DB: "_views", Table: "_db"}, "_views/_db/schema.sql"},
	} {
		name, err := c.m.Name()
		if err != nil || name != c.name {
			t.Errorf("%+v: Name() = %q, %v, want %q", c.m, name, err, c.name)
			continue
		}
		back, err := ParseName(name)
		if err != nil || back != c.m {
			t.Errorf("ParseName(%q) = %+v, %v", name, back, err)
		}
	}
	for _, bad := range []Member{
		{},
		{Kind: KindGrants, DB: "x"},
		{Kind: KindDatabase},
		{Kind: KindDatabase, DB: "x", Table: "t"},
		{Kind: KindTable, DB: "x"},
		{Kind: KindTable, DB: "x", Table: "t", Seq: 1},
		{Kind: KindData, DB: "x", Table: "t"},
		{Kind: KindData, DB: "x", Table: "t", Seq: -1},
		{Kind: KindData, DB: "x", Table: "t", Seq: 1_000_000_000},
		{Kind: KindViews, DB: "x", Table: "t"},
		{Kind: "other", DB: "x"},
		{Kind: KindDatabase, DB: "\xff"},
	} {
		if name, err := bad.Name(); err == nil {
			t.Errorf("%+v: Name() = %q, want an error", bad, name)
		} else if !strings.HasPrefix(bad.String(), "invalid member") {
			t.Errorf("%+v: String() = %q", bad, bad.String())
		}
	}
	for _, bad := range []string{
		"", "/", "MANIFEST.json", "SUMS.json", "_grants.sql/x", "shop", "shop/", "shop/_db.sql/x",
		"/_db.sql", "shop/_other.sql", "shop//schema.sql", "shop/t/", "shop/t/data-1.sql",
		"shop/t/data-000000.sql", "shop/t/data-0000001.sql", "shop/t/data-00001a.sql", "shop/t/data-000001.SQL",
		"shop/t/data--00001.sql", "shop/t/data-+00001.sql", "shop/t/data-1000000000.sql", "shop/t/x/schema.sql",
		"sh.op/_db.sql", "shop/t.x/schema.sql", "%2e%2e/_db.sql", "shop/%41/schema.sql", "./_db.sql", "../_db.sql",
		"%FF/_db.sql",
	} {
		if m, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) = %+v, want an error", bad, m)
		}
	}
}

// Names sort in Seq order, which keeps `tar tvf` and a sorted listing in
// the order a restore applies them.
func TestSeqSorts(t *testing.T) {
	prev := ""
	for _, s := range []int{1, 2, 9, 10, 99, 100, 999, 1000, 99999, 100000, 999999} {
		name, _ := Member{Kind: KindData, DB: "d", Table: "t", Seq: s}.Name()
		if name <= prev {
			t.Errorf("%q sorts before %q", name, prev)
		}
		prev = name
	}
}
