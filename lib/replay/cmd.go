// Package replay is dr-replay: it restores a snapshot stream into a target
// server and records in the target (the dr_replay schema) the exact binlog
// point where replay of the source's binlogs must go on.
package replay

import (
	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
)

// Name is the command's name.
const Name = "dr-replay"

const description = `Restore a dr-snap snapshot into a target server, or replay binlogs on it.

The stream is verified as it is read: every member against its BLAKE3 before it
is applied, the whole against SUMS.json at the end. Tables are loaded in
parallel, with the binlog off for dr-replay's sessions (unless --binlog), unique
and foreign-key checks off and plain secondary keys of InnoDB tables built
after the rows; then routines, views, triggers, events and grants.

The target records in dr_replay.checkpoint the snapshot's source and the binlog
file:pos and GTID set it is consistent with: binlog replay starts exactly there.
dr_replay.snapshot_progress records each member applied, so an interrupted
restore continues with --resume.

Binlog replay (--binlog-dir or FILE...) decodes row-based binlogs natively and
applies each source transaction exactly once: it starts at the target's
checkpoint and commits batches of source transactions together with the
checkpoint (or, with --threads, records each applied transaction where the
next run finds it), so a crash at any moment loses nothing and repeats
nothing. It stops at the end of the binlogs or at --stop-*, skips
--skip-gtid, follows a live directory with --follow, and with --sql prints the
SQL instead.`

// Cmd is the command line of dr-replay.
type Cmd struct {
	cli.Globals

	Target string           `required:"" placeholder:"URL" env:"DR_TARGET" help:"Target server: mysql://user@host:port or mysql://user@unix(/path.sock)."`
	Conn   mysqlx.ConnFlags `embed:""`

	Snapshot     string   `placeholder:"FILE|-" help:"Restore this snapshot stream (plain or gzip); - reads stdin."`
	Threads      int      `placeholder:"N" help:"Connections loading data in parallel (default: number of CPUs; for binlog replay at most 8)."`
	Databases    []string `placeholder:"LIST" sep:"," help:"Restore or replay only these databases."`
	Resume       bool     `xor:"mode" help:"Continue an interrupted restore of the same snapshot, skipping what it applied."`
	Force        bool     `xor:"mode" help:"Drop the snapshot's databases where the target has them, and restore over any earlier restore."`
	Binlog       bool     `help:"Write to the target's binlog (default: off for dr-replay's sessions); binlog replay logs each transaction under the source's GTID."`
	EnableEvents bool     `name:"enable-events" help:"Create events enabled as on the source (default: DISABLE ON SLAVE, so a standby's scheduler does not repeat what replayed binlogs bring)."`
	JSON         bool     `help:"Print a JSON summary on stdout instead of the summary line (with --follow, a JSON progress line every second too)."`

	BinlogFlags
}

// BinlogFlags are the flags of binlog replay.
type BinlogFlags struct {
	BinlogDir     string   `name:"binlog-dir" placeholder:"DIR" env:"DR_BINLOG_DIR" help:"Replay the binlogs of this directory, written by dr-binlog-pull (never past its durable end)."`
	Files         []string `arg:"" optional:"" name:"file" help:"Binlog files to replay, in order (instead of --binlog-dir)."`
	StartGTID     string   `name:"start-gtid" placeholder:"SET" help:"Start after this GTID set, for a target without a checkpoint."`
	StartPosition string   `name:"start-position" placeholder:"FILE:POS" help:"Start at this position, for a target without a checkpoint."`
	StopDatetime  string   `name:"stop-datetime" placeholder:"T" help:"Stop before the first transaction committed at or after T ('2006-01-02 15:04:05', local time, or RFC 3339)."`
	StopPosition  string   `name:"stop-position" placeholder:"FILE:POS" help:"Stop before the first transaction that starts at or after FILE:POS."`
	StopGTID      string   `name:"stop-gtid" placeholder:"GTID" help:"Stop before this transaction."`
	SkipGTID      []string `name:"skip-gtid" placeholder:"GTID" sep:"," help:"Skip these transactions (the accidental DROP, the UPDATE without WHERE) and go on after them."`
	Tables        []string `placeholder:"LIST" sep:"," help:"Replay only these tables (db.table); statements, selected by database, are not replayed for them."`
	Follow        bool     `help:"Keep following the binlog directory as dr-binlog-pull writes it."`
	SQL           bool     `name:"sql" help:"Print the SQL of the selected transactions on stdout instead of applying it (the target is only read)."`
	Idempotent    bool     `help:"Apply rows whatever the target holds: INSERT as REPLACE, no check that an UPDATE or DELETE found its row."`
	Batch         int      `default:"500" placeholder:"N" help:"Source transactions applied in one target transaction, at most."`
}

// Help is the text after the flags in --help.
func (c *Cmd) Help() string {
	return `Examples:

  # restore a standby from the repository
  dr-ship get --repo s3://dr/cms latest | dr-replay --target mysql://root@standby --snapshot -

  # straight from the primary, 4 loaders
  dr-snap --source mysql://backup@db1 | dr-replay --target mysql://root@standby --snapshot - --threads 4

  # an interrupted restore goes on where it stopped
  dr-replay --target mysql://root@standby --snapshot /backup/cms.tar.gz --resume

  # roll forward from the snapshot's point to just before an accidental DROP
  dr-replay --target mysql://root@standby --binlog-dir /var/lib/dr/binlog \
      --stop-datetime '2026-11-21 09:55:00'

  # skip the bad UPDATE and apply everything after it
  dr-replay --target mysql://root@standby --binlog-dir /var/lib/dr/binlog --skip-gtid 0-1-4711

  # a warm standby, kept seconds behind (systemd)
  dr-replay --target mysql://root@standby --binlog-dir /var/lib/dr/binlog --follow

  # review what would be applied
  dr-replay --target mysql://root@standby --binlog-dir /var/lib/dr/binlog --sql | less

Exit status: 0 success, 1 a --stop-* point was never reached, 2 usage or
missing privileges, 3 connection or I/O failure, 4 corrupt or truncated stream
or binlog, a missing binlog file, a statement the target refused or a target
that diverged, 5 refused for safety (the target holds the snapshot's
databases, or follows another source), 130 interrupted.
See dr-replay(1).`
}

// Main runs dr-replay with args and returns its exit status.
func Main(args []string, io cli.IO) int {
	return cli.Run(Name, description, args, io, &Cmd{})
}

// binlogOnly names a flag of binlog replay that is set, "" if none: a
// restore would ignore it (--sql would even write what it promises only
// to print).
func (c *Cmd) binlogOnly() string {
	f := &c.BinlogFlags
	for _, x := range []struct {
		name string
		set  bool
	}{
		{"--start-gtid", f.StartGTID != ""}, {"--start-position", f.StartPosition != ""},
		{"--stop-datetime", f.StopDatetime != ""}, {"--stop-position", f.StopPosition != ""}, {"--stop-gtid", f.StopGTID != ""},
		{"--skip-gtid", len(f.SkipGTID) > 0}, {"--tables", len(f.Tables) > 0}, {"--follow", f.Follow},
		{"--sql", f.SQL}, {"--idempotent", f.Idempotent},
	} {
		if x.set {
			return x.name
		}
	}
	return ""
}
