package replay

import (
	"testing"

	"github.com/dr-mysql/dr/lib/apply"
)

func TestPartition(t *testing.T) {
	// Keys: 1 links a-c, 2 links c-e, b and d stand alone, f has none.
	mk := func(name string, keys ...uint64) *work {
		w := &work{t: &apply.Txn{File: name}, stmts: []apply.Stmt{{SQL: "x"}}}
		for _, k := range keys {
			w.keys = append(w.keys, apply.Key{Row: k, Index: 1000 + k})
		}
		return w
	}
	batch := []*work{mk("a", 1), mk("b", 7), mk("c", 1, 2), mk("d", 8), mk("e", 2), mk("f")}
	parts := partition(batch, 3)
	where := map[string]int{}
	for p, part := range parts {
		last := -1
		for _, w := range part {
			where[w.t.File] = p
			i := indexOf(batch, w)
			if i < last {
				t.Errorf("part %d is not in binlog order", p)
			}
			last = i
		}
	}
	if len(where) != len(batch) {
		t.Fatalf("%d transactions placed, want %d", len(where), len(batch))
	}
	if where["a"] != where["c"] || where["c"] != where["e"] {
		t.Errorf("a, c and e share keys but are in parts %d, %d, %d", where["a"], where["c"], where["e"])
	}
	// The group of three is the heaviest: it goes first, alone, and the
	// three others share the two other parts.
	if where["b"] == where["a"] || where["d"] == where["a"] || where["f"] == where["a"] {
		t.Errorf("a lighter group joined the heaviest part: %v", where)
	}
	if one := partition(batch, 1); len(one) != 1 || len(one[0]) != len(batch) {
		t.Errorf("one part: %v", one)
	}
}

func indexOf(batch []*work, w *work) int {
	for i, x := range batch {
		if x == w {
			return i
		}
	}
	return -1
}

func TestPartitionWideKey(t *testing.T) {
	// b stands for index 9 as a whole: it meets a and c, whose row keys
	// are of that index, but not d.
	batch := []*work{
		{t: &apply.Txn{File: "a"}, keys: []apply.Key{{Row: 1, Index: 9}}},
		{t: &apply.Txn{File: "b"}, keys: []apply.Key{{Row: 9, Index: 9}}},
		{t: &apply.Txn{File: "c"}, keys: []apply.Key{{Row: 2, Index: 9}}},
		{t: &apply.Txn{File: "d"}, keys: []apply.Key{{Row: 3, Index: 8}}},
	}
	parts := partition(batch, 4)
	where := map[string]int{}
	for p, part := range parts {
		for _, w := range part {
			where[w.t.File] = p
		}
	}
	if where["a"] != where["b"] || where["b"] != where["c"] {
		t.Errorf("a whole-index key does not join the rows of its index: %v", where)
	}
	if where["d"] == where["a"] {
		t.Errorf("another index joined them: %v", where)
	}
}
