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
// # Content
//
// snapfmt does not parse the SQL, but dr-snap and dr-replay agree on it,
// and so does `tar -xOf stream ... | mariadb`, the last-resort restore:
// every member is a script the mariadb client runs as it is.
//
// Data members are executed as bytes: they begin with the same preamble
//
//	/*!40101 SET NAMES binary*/;
//	/*!40014 SET FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0*/;
//	SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO', time_zone='+00:00';
//	USE `db`;
//
// followed by multi-row INSERT statements, one a line, each ending in
// ";\n". String values are escaped ('\0 \' \\ \n \r \Z'), so no
// statement holds a raw newline; binary strings, BLOBs, BIT and spatial
// values are hex (0x...); numbers are the server's digits (FLOAT read as
// DOUBLE, so nothing is rounded); TIMESTAMPs are UTC. Columns are named
// only when the table has generated or invisible ones.
//
// Every other member is SQL text (databases, tables and grants in
// utf8mb4) and begins with
//
//	/*!40101 SET NAMES utf8mb4*/;
//	SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', time_zone='+00:00';
//	USE `db`;                      (not in _db.sql or _grants.sql)
//
// Views, triggers, routines and events are the bytes they were created
// with, each preceded by the session settings it was created under
// (character_set_client and collation_connection, which read those bytes;
// sql_mode for all but views; time_zone for events), as SHOW CREATE
// reports them. Triggers, routines and events are wrapped in
// "DELIMITER ;;" ... "DELIMITER ;".
//
// # Verification
//
// A Reader checks each entry's content against DR.blake3 as it reads it
// (NextBytes before returning it), each name against the layout and the
// manifest, the zero padding archive/tar skips, and at the end SUMS.json
// against every entry seen: names, order, hashes, sizes, rows, totals and
// the manifest's hash. Only then does Next return io.EOF.
package snapfmt
