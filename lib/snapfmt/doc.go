// Package snapfmt is the snapshot stream that dr-snap writes and
// dr-replay --snapshot reads. It knows only the container; it never
// parses the SQL inside.
//
// # Format, version 1
//
// A POSIX tar stream (PAX format), optionally gzip-compressed (readers
// tell by the gzip magic 1f 8b), so that `tar tvf` lists it and, as a last
// resort, `tar -xOf stream 'db/t/data-000001.sql' | mysql` restores from
// it. GNU tar warns "Ignoring unknown extended header keyword" once per
// DR.* record; --warning=no-unknown-keyword silences it.
//
// Entries, in order:
//
//	MANIFEST.json                 the Manifest, indented JSON
//	<db>/_db.sql                  CREATE DATABASE
//	<db>/<table>/schema.sql       CREATE TABLE
//	<db>/<table>/data-000001.sql  multi-row INSERTs, primary-key order, numbered from 1 without gaps
//	<db>/_views.sql  <db>/_triggers.sql  <db>/_routines.sql  <db>/_events.sql
//	_grants.sql                   users and grants
//	SUMS.json                     the Sums, indented JSON; a stream without it is incomplete
//
// <db> and <table> are the server's names with every byte outside
// [A-Za-z0-9_-] written %XX (uppercase hex), see EncodeName. Members come
// in the order the writer's caller added them, under two rules a restore
// relies on: a database's _db.sql before anything else of that database,
// a table's schema.sql before its data. The manifest lists what the
// stream holds, and a reader holds the stream to it.
//
// Every entry is a regular file, mode 0644, uid and gid 0, no user or
// group name, mtime 0, with PAX records
//
//	DR.blake3  BLAKE3-256 of the content, 64 lowercase hex digits (every entry)
//	DR.rows    rows in the INSERTs, decimal (data entries only)
//
// so the bytes of an entry depend only on its name and content: an
// unchanged table gives identical bytes in tomorrow's snapshot, wherever
// it lands in the stream, which the deduplicating repository relies on.
// The stream ends with tar's two zero blocks. Compressed streams are
// written by pgzip in 1 MiB blocks; at the same level they are
// deterministic too.
//
// # Verification
//
// A Reader checks each entry's content against DR.blake3 as it reads it
// (NextBytes before returning it), each name against the layout and the
// manifest, the zero padding archive/tar skips, and at the end SUMS.json
// against every entry seen: names, order, hashes, sizes, rows, totals and
// the manifest's hash. Only then does Next return io.EOF.
package snapfmt
