// Package sqltext writes and reads the SQL text of snapshot members (see
// lib/snapfmt, section "Content").
//
// Writing is for dr-snap: AppendString, AppendHex and AppendIdent append
// literals and identifiers to a buffer without allocating, because they run
// for every value of every row of a dump.
//
// Reading is for dr-replay: a Splitter cuts a member script into the
// statements the mariadb command-line client would send for it, so that
// replay can execute them one by one, report "line 12" when one fails, and
// still agree with `tar -xOf stream member | mariadb`, the last-resort
// restore.
package sqltext
