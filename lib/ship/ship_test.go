package ship

import (
	"slices"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo"
	"github.com/dr-mysql/dr/lib/repo/ids"
)

func snap(n int, created string) repo.Snapshot {
	return repo.Snapshot{ID: ids.Hash([]byte{byte(n)}), Manifest: &repo.Manifest{Meta: map[string]string{"created": created}}}
}

func TestKeepPolicy(t *testing.T) {
	// Oldest first, as sortByCreated leaves them: two a day for ten days
	// (2026-11-02 is a Monday).
	var snaps []repo.Snapshot
	for d := range 10 {
		day := time.Date(2026, 11, 2+d, 0, 0, 0, 0, time.UTC)
		snaps = append(snaps, snap(2*d, day.Add(2*time.Hour).Format(time.RFC3339)), snap(2*d+1, day.Add(20*time.Hour).Format(time.RFC3339)))
	}
	kept := func(last, daily, weekly int) []int {
		k := keepPolicy(snaps, last, daily, weekly)
		var out []int
		for i, s := range snaps {
			if _, ok := k[s.ID]; ok {
				out = append(out, i)
			}
		}
		return out
	}
	for _, tt := range []struct {
		last, daily, weekly int
		want                []int
	}{
		{3, 0, 0, []int{17, 18, 19}},
		{0, 3, 0, []int{15, 17, 19}}, // the newest of each of the last three days
		{0, 0, 2, []int{13, 19}},     // newest of week 45 (Sunday 8th) and of week 46
		{1, 2, 2, []int{13, 17, 19}}, // the union
		{0, 0, 9, []int{13, 19}},     // only two weeks have snapshots
		{100, 0, 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}},
	} {
		if got := kept(tt.last, tt.daily, tt.weekly); !slices.Equal(got, tt.want) {
			t.Errorf("last %d daily %d weekly %d: kept %v, want %v", tt.last, tt.daily, tt.weekly, got, tt.want)
		}
	}
}

func TestSelectSince(t *testing.T) {
	bl := func(name, start, end, last string) repo.Binlog {
		return repo.Binlog{Name: name, Manifest: &repo.Manifest{Meta: map[string]string{
			"flavor": "mariadb", "start_gtid_set": start, "end_gtid_set": end, "last_time": last}}}
	}
	list := []repo.Binlog{
		bl("b.000001", "", "0-1-10", "2026-11-01T10:00:00Z"),
		bl("b.000002", "0-1-10", "0-1-20", "2026-11-01T11:00:00Z"),
		bl("b.000003", "0-1-20", "0-1-20", "2026-11-01T12:00:00Z"), // no transaction
		bl("b.000004", "0-1-20", "0-1-30", "2026-11-01T13:00:00Z"),
	}
	names := func(l []repo.Binlog) []string {
		var n []string
		for _, b := range l {
			n = append(n, b.Name)
		}
		return n
	}
	for _, tt := range []struct {
		since string
		want  []string
	}{
		{"", []string{"b.000001", "b.000002", "b.000003", "b.000004"}},
		{"0-1-5", []string{"b.000001", "b.000002", "b.000003", "b.000004"}},
		{"0-1-10", []string{"b.000002", "b.000003", "b.000004"}},
		{"0-1-15", []string{"b.000002", "b.000003", "b.000004"}},
		{"0-1-20", []string{"b.000004"}},
		{"0-1-30", nil},
		{"b.000003", []string{"b.000003", "b.000004"}},
		{"b.000000", []string{"b.000001", "b.000002", "b.000003", "b.000004"}},
		{"2026-11-01 11:30", []string{"b.000003", "b.000004"}},
		{"2026-11-01T11:00:00Z", []string{"b.000002", "b.000003", "b.000004"}},
	} {
		got, err := selectSince(list, tt.since)
		if err != nil {
			t.Errorf("since %q: %v", tt.since, err)
			continue
		}
		if !slices.Equal(names(got), tt.want) {
			t.Errorf("since %q: %v, want %v", tt.since, names(got), tt.want)
		}
	}
	if _, err := selectSince(list, "not a thing"); err == nil {
		t.Error("garbage --since accepted")
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                   nil,
		"ssh":                                {"ssh"},
		"ssh -p 2222  -i key":                {"ssh", "-p", "2222", "-i", "key"},
		`sh -c 'exec sh -c "$2"' ssh`:        {"sh", "-c", `exec sh -c "$2"`, "ssh"},
		`ssh -o "ProxyCommand=nc %h %p" \ x`: {"ssh", "-o", "ProxyCommand=nc %h %p", " x"},
	} {
		got, err := splitWords(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitWords(`ssh 'open`); err == nil {
		t.Error("unterminated quote accepted")
	}
}
