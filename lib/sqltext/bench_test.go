package sqltext

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// shortValues are the values of a typical CMS row: slugs, titles, names,
// dates as strings, a few with something to escape.
var shortValues = func() [][]byte {
	words := strings.Fields("the quick brown fox jumps over lazy dog news article breaking " +
		"update report city council election weather sports market today")
	r := rand.New(rand.NewPCG(1, 2))
	var vs [][]byte
	for i := range 1000 {
		var b []byte
		for n := 1 + r.IntN(8); n > 0; n-- {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[r.IntN(len(words))]...)
		}
		if i%10 == 0 {
			b = append(b, " O'Brien"...)
		}
		vs = append(vs, b)
	}
	return vs
}()

func benchAppend(b *testing.B, vals [][]byte, f func([]byte, []byte) []byte) {
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	b.SetBytes(int64(n))
	buf := make([]byte, 0, 4*n)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, v := range vals {
			buf = f(buf, v)
		}
	}
}

// BenchmarkAppendStringShort: the dump's common case, ~30-byte ASCII
// values, throughput counted in input bytes.
func BenchmarkAppendStringShort(b *testing.B) { benchAppend(b, shortValues, AppendString) }

// BenchmarkAppendStringLong: article bodies, 4 KiB of text with a quote or
// newline every few hundred bytes.
func BenchmarkAppendStringLong(b *testing.B) {
	body := []byte(strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, it's sed do eiusmod tempor.\n", 48))
	benchAppend(b, [][]byte{body}, AppendString)
}

// BenchmarkAppendStringBinary: random bytes, about 2% to escape.
func BenchmarkAppendStringBinary(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	v := make([]byte, 4096)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	benchAppend(b, [][]byte{v}, AppendString)
}

func BenchmarkAppendHex(b *testing.B) { benchAppend(b, shortValues, AppendHex) }

// dataScript is a data member as dr-snap writes it: 16 MiB of multi-row
// INSERTs of about 1 MiB each, one a line, full of escaped strings.
func dataScript() []byte {
	r := rand.New(rand.NewPCG(5, 6))
	script := []byte("/*!40101 SET NAMES binary*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0*/;\n" +
		"SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO', time_zone='+00:00';\nUSE `cms`;\n")
	body := []byte(strings.Repeat("Lorem ipsum \"dolor\" sit amet, it's consectetur\r\nadipiscing \\ elit; ", 6))
	id := 0
	for len(script) < 16<<20 {
		script = append(script, "INSERT INTO `articles` VALUES "...)
		for n := 0; n < 1<<20; {
			before := len(script)
			if n > 0 {
				script = append(script, ',')
			}
			id++
			script = fmt.Appendf(script, "(%d,", id)
			script = AppendString(script, shortValues[id%len(shortValues)])
			script = append(script, ',')
			script = AppendString(script, body[r.IntN(64):])
			script = append(script, ",'2026-11-21 09:55:00',"...)
			script = AppendHex(script, shortValues[(id*7)%len(shortValues)][:8])
			script = append(script, ",NULL,-1.5)"...)
			n += len(script) - before
		}
		script = append(script, ";\n"...)
	}
	return script
}

func BenchmarkSplitter(b *testing.B) {
	script := dataScript()
	b.SetBytes(int64(len(script)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewSplitter(script)
		for {
			if _, _, err := s.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
