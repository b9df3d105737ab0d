// Package snap is dr-snap: a consistent online logical snapshot of a MySQL
// or MariaDB server, written as the snapshot stream of lib/snapfmt with the
// exact binlog position and GTID set it is consistent with.
package snap

import (
	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/ratelimit"
)

// Name is the command's name.
const Name = "dr-snap"

const description = `Take a consistent online snapshot of a MySQL or MariaDB server.

The snapshot is a tar stream (see dr-snap(1)): MANIFEST.json with the binlog
file:pos and GTID set the snapshot is consistent with, then per table its
CREATE TABLE and its rows as multi-row INSERTs in primary-key order, then views,
triggers, routines, events and, with --grants, users; SUMS.json last. A stream
without SUMS.json is incomplete, and dr-replay refuses it.

Transactional tables (InnoDB) are read in consistent-snapshot transactions
started under a global lock held for milliseconds (BACKUP STAGE BLOCK_COMMIT on
MariaDB, FLUSH TABLES WITH READ LOCK elsewhere). Non-transactional tables (MyISAM,
Aria, ...) cannot be read consistently without the lock, so they are read while
it is held; the lock time is reported on stderr and in SUMS.json.`

// Cmd is the command line of dr-snap.
type Cmd struct {
	cli.Globals

	Source string           `required:"" placeholder:"URL" env:"DR_SOURCE" help:"Source server: mysql://user@host:port or mysql://user@unix(/path.sock)."`
	Conn   mysqlx.ConnFlags `embed:""`

	Databases []string `placeholder:"LIST" sep:"," help:"Only these databases (default: all but information_schema, performance_schema, mysql, sys and dr_replay)."`
	Tables    []string `placeholder:"DB.T" sep:"," help:"Only these tables (and their triggers; no views, routines or events)."`
	Exclude   []string `placeholder:"PATTERN" help:"Leave out tables and views whose DB.NAME matches PATTERN (shell wildcards, e.g. 'logs.*'); repeatable."`

	Threads   int            `placeholder:"N" help:"Connections reading tables in parallel (default: number of CPUs)."`
	ChunkSize ratelimit.Size `name:"chunk-size" default:"4MiB" placeholder:"SIZE" help:"Bytes of INSERTs per data member: the unit of parallel restore and resume."`
	Compress  bool           `help:"Compress the stream with gzip (parallel, pgzip)."`
	MaxRate   ratelimit.Rate `name:"max-rate" placeholder:"RATE" env:"DR_MAX_RATE" help:"Read at most RATE from the server (e.g. 50MiB/s); smooth, not in bursts."`
	Grants    bool           `help:"Include users, roles and their grants."`
	Output    string         `short:"o" default:"-" placeholder:"FILE" help:"Write the stream to FILE (under a temporary name until complete); - is stdout."`
	JSON      bool           `help:"Print a JSON summary instead of the summary line (on stdout with -o FILE, else on stderr)."`
}

// Help is the text after the flags in --help.
func (c *Cmd) Help() string {
	return `Examples:

  # a snapshot straight into the DR repository, gentle on production
  dr-snap --source mysql://backup@db1 --defaults-file /etc/dr/backup.cnf \
      --max-rate 50MiB/s | dr-ship put --repo s3://dr/cms

  # to a file, compressed, with users and grants
  dr-snap --source mysql://root@db1 --compress --grants -o /backup/cms.tar.gz

  # what is inside
  tar tvf /backup/cms.tar.gz

  # restore
  dr-replay --target mysql://root@standby --snapshot /backup/cms.tar.gz

Exit status: 0 success, 2 usage or missing privileges, 3 connection or I/O
failure, 4 a table changed by DDL during the snapshot, 130 interrupted.
See dr-snap(1).`
}

// Main runs dr-snap with args and returns its exit status.
func Main(args []string, io cli.IO) int {
	return cli.Run(Name, description, args, io, &Cmd{})
}
