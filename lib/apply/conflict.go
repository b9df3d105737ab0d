package apply

import (
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/go-mysql-org/go-mysql/replication"
)

// Conflicts of parallel apply. Two source transactions may be applied
// at once, in either order, when no row of one can meet a row of the
// other in the target: no key value that both write, read or free.
// Each transaction gets the keys below; transactions that share one are
// applied in binlog order. A key is a hash, so two keys may collide:
// that only orders two transactions that need not be, never the other
// way round.
//
//   - a row: every unique key (the primary key too) of the table, with
//     the values of the row's before and after images, as long as the
//     values compare byte for byte in the index (integers, binary
//     strings, temporal values, DECIMAL);
//   - the index as a whole, for a unique key whose values a collation
//     may fold ('a' = 'A', trailing spaces), that has a FLOAT or a
//     generated column, or that the image leaves out: every change of
//     the table then meets every other;
//   - the table as a whole, when it has no unique key of NOT NULL
//     columns: its rows may have no identity to tell apart;
//   - the tables that foreign keys link, directly or through others, as
//     one whole: a child row needs its parent, and a cascade changes
//     rows the binlog does not show, as far as the links go.

// seed is this process's: keys are compared within one run only.
var seed = maphash.MakeSeed()

// Key is a conflict key: a row's value of a unique index (Row), and the
// index (Index). A key whose Row is its Index stands for the whole index
// (or table): it meets every row key of that index too (see the
// partition of parallel apply).
type Key struct{ Row, Index uint64 }

// Wide reports whether k stands for its whole index.
func (k Key) Wide() bool { return k.Row == k.Index }

// Keys calls add with the conflict keys of the rows of e, a rows event on
// t.
func (t *Table) Keys(e *replication.RowsEvent, add func(Key)) {
	t.keys(e.Type() == replication.EnumRowsEventTypeUpdate, e.Rows, func(i int) []int { return present(t, e, i) }, add)
}

// keys is Keys for rows (before and after images in turn for an update),
// with the columns that image i carries.
func (t *Table) keys(update bool, rows [][]any, present func(i int) []int, add func(Key)) {
	var h maphash.Hash
	h.SetSeed(seed)
	start := func(kind byte, name string, index int) {
		h.Reset()
		h.WriteByte(kind)
		h.WriteString(name)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(index))
		h.Write(b[:])
	}
	wide := func(kind byte, name string, index int) {
		start(kind, name, index)
		k := h.Sum64()
		add(Key{k, k})
	}
	if t.Family != "" {
		wide('f', t.Family, 0)
	}
	name := t.String()
	if t.Key == nil {
		// No unique key of NOT NULL columns: rows with NULLs in every
		// unique key have no identity to tell apart.
		wide('t', name, 0)
		return
	}
	// Each unique key's index key, once; one whose values this code
	// cannot compare as the index does is wide instead.
	index := make([]uint64, len(t.Uniques))
	exact := make([]bool, len(t.Uniques))
	for u, cols := range t.Uniques {
		if exact[u] = t.exact(cols); !exact[u] {
			wide('i', name, u)
			continue
		}
		start('i', name, u)
		index[u] = h.Sum64()
	}
	var buf []byte
	for i, row := range rows {
		cols := present(i)
		var before []any
		var beforeCols []int
		if update && i%2 == 1 {
			// An after image may leave out what did not change: the
			// before image has it.
			before, beforeCols = rows[i-1], present(i-1)
		}
	keys:
		for u, key := range t.Uniques {
			if !exact[u] {
				continue
			}
			start('r', name, u)
			for _, c := range key {
				var v any
				switch {
				case slices.Contains(cols, c) && c < len(row):
					v = row[c]
				case slices.Contains(beforeCols, c) && c < len(before):
					v = before[c]
				default:
					// A partial image without it: the whole index,
					// to be safe.
					add(Key{index[u], index[u]})
					continue keys
				}
				if v == nil {
					continue keys // NULLs never collide in a unique key
				}
				// The value as the statement writes it: the decoder
				// gives an unsigned column signed values when the
				// binlog does not say it is unsigned.
				var err error
				if buf, err = appendValue(buf[:0], v, &t.Cols[c]); err != nil {
					add(Key{index[u], index[u]})
					continue keys
				}
				writeBytes(&h, buf)
			}
			add(Key{h.Sum64(), index[u]})
		}
	}
}

// exact reports whether the values of the columns compare as their
// bytes do, so that equal keys in the index are equal values here.
func (t *Table) exact(cols []int) bool {
	for _, c := range cols {
		if c < 0 || c >= len(t.Cols) {
			return false
		}
		col := &t.Cols[c]
		switch {
		case col.Generated:
			return false
		case col.Charset != "" && col.Charset != "binary":
			return false
		case col.DataType == "float" || col.DataType == "double" || col.DataType == "real":
			return false
		}
	}
	return true
}

// writeBytes adds a value to h with its length, so that two columns'
// values cannot run into each other.
func writeBytes(h *maphash.Hash, v []byte) {
	var n [9]byte
	n[0] = 's'
	binary.LittleEndian.PutUint64(n[1:], uint64(len(v)))
	h.Write(n[:])
	h.Write(v)
}
