// Package apply applies snapshots and binlogs to a target server and keeps
// the target's replay state: the dr_replay schema, which says which
// snapshot the target was restored from and exactly where binlog replay
// goes on.
package apply

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/snapfmt"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// Schema is the target's replay state database. Snapshots never include it.
const Schema = "dr_replay"

// States of the checkpoint.
const (
	// StateRestoring: a snapshot restore began and has not finished; the
	// target's data is incomplete and binlog replay must not start.
	StateRestoring = "restoring"
	// StateRestored: the snapshot is restored; binlog replay starts at
	// the checkpoint's position.
	StateRestored = "restored"
)

// Checkpoint is the single row of dr_replay.checkpoint: where the target's
// data stands in the source's history. The position is the first binlog
// event NOT yet in the target: replay starts exactly there.
type Checkpoint struct {
	State    string
	Snapshot string // snapfmt ID of the snapshot the target was restored from
	Source   snapfmt.Source
	Binlog   snapfmt.BinlogPos
	GTIDSet  string
	Updated  time.Time
}

var schemaDDL = []string{
	"CREATE DATABASE IF NOT EXISTS " + Schema,
	// One row: a target follows one source.
	"CREATE TABLE IF NOT EXISTS " + Schema + ".checkpoint (" +
		"id TINYINT UNSIGNED NOT NULL PRIMARY KEY, " +
		"state VARCHAR(16) NOT NULL, " +
		"snapshot CHAR(64) NOT NULL, " +
		"source_server_id INT UNSIGNED NOT NULL, " +
		"source_uuid VARCHAR(64) NOT NULL, " +
		"source_flavor VARCHAR(16) NOT NULL, " +
		"source_version VARCHAR(128) NOT NULL, " +
		"source_address VARCHAR(512) NOT NULL, " +
		"binlog_file VARCHAR(255) NOT NULL, " +
		"binlog_pos BIGINT UNSIGNED NOT NULL, " +
		"gtid_set TEXT NOT NULL, " +
		"updated DATETIME(6) NOT NULL" +
		") ENGINE=InnoDB",
	// What a snapshot restore has applied, a row a member, written in the
	// member's own transaction where the table is transactional.
	"CREATE TABLE IF NOT EXISTS " + Schema + ".snapshot_progress (" +
		"snapshot CHAR(64) NOT NULL, " +
		"member VARBINARY(1024) NOT NULL, " +
		"blake3 CHAR(64) NOT NULL, " +
		"rows_applied BIGINT UNSIGNED NOT NULL, " +
		"applied DATETIME(6) NOT NULL, " +
		"PRIMARY KEY (snapshot, member)" +
		") ENGINE=InnoDB",
	// The source transactions past the checkpoint that parallel binlog
	// replay applied, by where they end, a row each, written in the
	// transaction that applied them; deleted in the one that moves the
	// checkpoint past them.
	"CREATE TABLE IF NOT EXISTS " + Schema + ".replay_done (" +
		"binlog_file VARCHAR(255) NOT NULL, " +
		"binlog_end BIGINT UNSIGNED NOT NULL, " +
		"PRIMARY KEY (binlog_file, binlog_end)" +
		") ENGINE=InnoDB",
}

// EnsureSchema creates the dr_replay schema where it is missing.
func EnsureSchema(ctx context.Context, c *client.Conn) error {
	if err := mysqlx.Exec(ctx, c, schemaDDL...); err != nil {
		return fmt.Errorf("create %s schema: %w", Schema, err)
	}
	return nil
}

// ReadCheckpoint returns the target's checkpoint, or nil if it has none
// (no dr_replay schema, or no row).
func ReadCheckpoint(ctx context.Context, c *client.Conn) (*Checkpoint, error) {
	rows, err := mysqlx.Query(ctx, c, "SELECT state, snapshot, source_server_id, source_uuid, source_flavor, source_version, "+
		"source_address, binlog_file, binlog_pos, gtid_set, DATE_FORMAT(updated, '%Y-%m-%dT%H:%i:%s.%fZ') FROM "+Schema+".checkpoint WHERE id = 1")
	if NoSchema(err) {
		return nil, nil // no such table or database
	}
	if err != nil {
		return nil, fmt.Errorf("read %s.checkpoint: %w", Schema, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := rows[0]
	cp := &Checkpoint{
		State: r.Str(0), Snapshot: r.Str(1),
		Source: snapfmt.Source{ServerID: uint32(r.Uint(2)), ServerUUID: r.Str(3), Flavor: r.Str(4), Version: r.Str(5), Address: r.Str(6)},
		Binlog: snapfmt.BinlogPos{File: r.Str(7), Pos: r.Uint(8)}, GTIDSet: r.Str(9),
	}
	cp.Updated, _ = time.Parse("2006-01-02T15:04:05.999999Z", r.Str(10))
	return cp, nil
}

// WriteCheckpointSQL is the statement that sets the checkpoint, for the
// caller to run inside the transaction whose effect it records.
func WriteCheckpointSQL(cp *Checkpoint) string {
	q := sqltext.QuoteString
	return fmt.Sprintf("REPLACE INTO %s.checkpoint (id, state, snapshot, source_server_id, source_uuid, source_flavor, "+
		"source_version, source_address, binlog_file, binlog_pos, gtid_set, updated) VALUES "+
		"(1, %s, %s, %d, %s, %s, %s, %s, %s, %d, %s, %s)", Schema,
		q(cp.State), q(cp.Snapshot), cp.Source.ServerID, q(cp.Source.ServerUUID), q(cp.Source.Flavor),
		q(cp.Source.Version), q(cp.Source.Address), q(cp.Binlog.File), cp.Binlog.Pos, q(cp.GTIDSet),
		q(cp.Updated.UTC().Format("2006-01-02 15:04:05.999999")))
}

// DoneSQL records, in the transaction that applied them, that the source
// transactions ending at ends are applied. ends must not be empty.
func DoneSQL(ends []snapfmt.BinlogPos) string {
	return "INSERT INTO " + Schema + ".replay_done (binlog_file, binlog_end) VALUES " + endList(ends)
}

// ForgetDoneSQL deletes what DoneSQL recorded of ends, in the transaction
// that moves the checkpoint past them. ends must not be empty.
func ForgetDoneSQL(ends []snapfmt.BinlogPos) string {
	return "DELETE FROM " + Schema + ".replay_done WHERE (binlog_file, binlog_end) IN (" + endList(ends) + ")"
}

func endList(ends []snapfmt.BinlogPos) string {
	var b strings.Builder
	for i, e := range ends {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%s,%d)", sqltext.QuoteString(e.File), e.Pos)
	}
	return b.String()
}

// ClearDoneSQL forgets every transaction DoneSQL recorded: for a new
// start (a snapshot restored, or replay from --start-*), after which
// they mean nothing.
const ClearDoneSQL = "DELETE FROM " + Schema + ".replay_done"

// ReadDone returns the transactions recorded by DoneSQL, nil if none.
func ReadDone(ctx context.Context, c *client.Conn) (map[snapfmt.BinlogPos]bool, error) {
	rows, err := mysqlx.Query(ctx, c, "SELECT binlog_file, binlog_end FROM "+Schema+".replay_done")
	if NoSchema(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s.replay_done: %w", Schema, err)
	}
	var done map[snapfmt.BinlogPos]bool
	for _, r := range rows {
		if done == nil {
			done = map[snapfmt.BinlogPos]bool{}
		}
		done[snapfmt.BinlogPos{File: r.Str(0), Pos: r.Uint(1)}] = true
	}
	return done, nil
}

// NoSchema reports whether err says the dr_replay schema or one of its
// tables is not there (yet).
func NoSchema(err error) bool {
	code := mysqlx.ErrorCode(err)
	return code == 1146 || code == 1049
}

// ProgressSQL records that a member of a snapshot is applied.
func ProgressSQL(snapshot, member, blake3 string, rows int64, at time.Time) string {
	return fmt.Sprintf("INSERT INTO %s.snapshot_progress (snapshot, member, blake3, rows_applied, applied) VALUES (%s, %s, %s, %d, %s)",
		Schema, sqltext.QuoteString(snapshot), sqltext.QuoteString(member), sqltext.QuoteString(blake3), rows,
		sqltext.QuoteString(at.UTC().Format("2006-01-02 15:04:05.999999")))
}

// Progress returns the members of a snapshot recorded as applied, with
// their BLAKE3.
func Progress(ctx context.Context, c *client.Conn, snapshot string) (map[string]string, error) {
	rows, err := mysqlx.Query(ctx, c, "SELECT member, blake3 FROM "+Schema+".snapshot_progress WHERE snapshot = "+sqltext.QuoteString(snapshot))
	if NoSchema(err) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s.snapshot_progress: %w", Schema, err)
	}
	done := make(map[string]string, len(rows))
	for _, r := range rows {
		done[r.Str(0)] = r.Str(1)
	}
	return done, nil
}
