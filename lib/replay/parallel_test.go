package replay

import (
	"testing"

	"github.com/dr-mysql/dr/lib/apply"
)

func TestPartition(t *testing.T) {
	// Keys: 1 links a-c, 2 links c-e, b and d stand alone, f has none.
	mk := func(name string, keys ...uint64) *work {
		return &work{t: &apply.Txn{File: name}, keys: keys, stmts: []apply.Stmt{{SQL: "x"}}}
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
