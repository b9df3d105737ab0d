package sqltext

import "unicode/utf8"

// Abbrev shortens a statement for a message: at most n bytes (n of 3 or
// more), the last three "..." when it was cut, never inside a UTF-8
// character.
func Abbrev[T string | []byte](s T, n int) string {
	if len(s) <= n {
		return string(s)
	}
	cut := max(n-3, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return string(s[:cut]) + "..."
}
