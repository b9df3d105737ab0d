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

const description = `Restore a dr-snap snapshot into a target server.

The stream is verified as it is read: every member against its BLAKE3 before it
is applied, the whole against SUMS.json at the end. Tables are loaded in
parallel, with the binlog off for dr-replay's sessions (unless --binlog), unique
and foreign-key checks off and plain secondary keys of InnoDB tables built
after the rows; then routines, views, triggers, events and grants.

The target records in dr_replay.checkpoint the snapshot's source and the binlog
file:pos and GTID set it is consistent with: binlog replay starts exactly there.
dr_replay.snapshot_progress records each member applied, so an interrupted
restore continues with --resume.`

// Cmd is the command line of dr-replay.
type Cmd struct {
	cli.Globals

	Target string           `required:"" placeholder:"URL" env:"DR_TARGET" help:"Target server: mysql://user@host:port or mysql://user@unix(/path.sock)."`
	Conn   mysqlx.ConnFlags `embed:""`

	Snapshot     string   `required:"" placeholder:"FILE|-" help:"Restore this snapshot stream (plain or gzip); - reads stdin."`
	Threads      int      `placeholder:"N" help:"Connections loading data in parallel (default: number of CPUs)."`
	Databases    []string `placeholder:"LIST" sep:"," help:"Restore only these databases of the snapshot."`
	Resume       bool     `xor:"mode" help:"Continue an interrupted restore of the same snapshot, skipping what it applied."`
	Force        bool     `xor:"mode" help:"Drop the snapshot's databases where the target has them, and restore over any earlier restore."`
	Binlog       bool     `help:"Write the restore to the target's binlog (default: off for dr-replay's sessions)."`
	EnableEvents bool     `name:"enable-events" help:"Create events enabled as on the source (default: DISABLE ON SLAVE, so a standby's scheduler does not repeat what replayed binlogs bring)."`
	JSON         bool     `help:"Print a JSON summary on stdout instead of the summary line."`
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

Exit status: 0 success, 2 usage or missing privileges, 3 connection or I/O
failure, 4 corrupt or truncated stream or a statement the target refused,
5 refused for safety (the target holds the snapshot's databases), 130 interrupted.
See dr-replay(1).`
}

// Main runs dr-replay with args and returns its exit status.
func Main(args []string, io cli.IO) int {
	return cli.Run(Name, description, args, io, &Cmd{})
}
