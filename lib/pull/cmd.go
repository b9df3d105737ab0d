// Package pull is dr-binlog-pull: it streams a source's binlogs over the
// replication protocol into a local directory, byte-identical, crash-safe
// and resumable, and prints the path of every file it completes.
package pull

import (
	"time"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
)

// Name is the command's name.
const Name = "dr-binlog-pull"

const description = `Stream binlogs from a MySQL or MariaDB source into a local directory.

The files in DIR are byte-identical to the source's binlog files (mariadb-binlog
and mysqlbinlog read them) and a small state file records the last durable
transaction boundary. When a file is complete its path is printed on stdout, one
per line, so the output can feed dr-ship put --binlogs or a while-read loop.

An empty DIR starts at the oldest binlog the source still has, or at --start-*.
A DIR with state resumes by itself: a partial event or unfinished transaction at
the end of the active file is cut off and fetched again.`

// Cmd is the command line of dr-binlog-pull.
type Cmd struct {
	cli.Globals

	Source string           `required:"" placeholder:"URL" env:"DR_SOURCE" help:"Source server: mysql://user@host:port or mysql://user@unix(/path.sock)."`
	Conn   mysqlx.ConnFlags `embed:""`
	Dir    string           `required:"" type:"path" env:"DR_BINLOG_DIR" help:"Binlog directory to write."`

	ServerID  uint32 `name:"server-id" placeholder:"N" help:"server_id to use as a replica (default: derived from DIR, stable across restarts)."`
	StartFile string `name:"start-file" placeholder:"NAME" help:"Empty DIR only: start at this binlog file instead of the oldest."`
	StartPos  uint64 `name:"start-pos" placeholder:"N" help:"With --start-file: a position the pull must cover; files are always fetched whole from their start."`
	StartGTID string `name:"start-gtid" placeholder:"SET" help:"Empty DIR only: start at the file holding the first transaction after this GTID set."`

	SemiSync      bool          `name:"semi-sync" env:"DR_SEMI_SYNC" help:"Acknowledge transactions as a semi-sync replica, after they are fsync'd (RPO = 0)."`
	FsyncInterval time.Duration `name:"fsync-interval" default:"1s" help:"Longest time received bytes stay unsynced."`
	UntilEnd      bool          `name:"until-end" help:"Pull to the source's current end, then exit 0 (for cron)."`
	Heartbeat     time.Duration `default:"1s" help:"Heartbeat period asked of the source; a peer silent for 10 heartbeats (at least 10s) is dead."`
	RetryMax      time.Duration `name:"retry-max" default:"30s" help:"Longest wait between reconnection attempts."`
	MetricsFile   string        `name:"metrics-file" type:"path" placeholder:"FILE" help:"Write metrics in node_exporter textfile format to FILE."`
	JSON          bool          `help:"Print one JSON object per completed file instead of its path."`
}

// Help is the text after the flags in --help.
func (c *Cmd) Help() string {
	return `Examples:

  # follow a primary forever, shipping each completed file to the DR repository
  dr-binlog-pull --source mysql://repl@db1:3306 --defaults-file /etc/dr/repl.cnf \
      --dir /var/lib/dr/binlog | dr-ship put --repo s3://dr/cms --binlogs

  # RPO = 0: acknowledge as a semi-sync replica once the bytes are on disk
  dr-binlog-pull --source mysql://repl@db1 --dir /var/lib/dr/binlog --semi-sync

  # from cron: catch up and exit
  dr-binlog-pull --source mysql://repl@db1 --dir /var/lib/dr/binlog --until-end

Exit status: 0 success, 2 usage, 3 connection or I/O failure, 4 corrupt input,
5 refused for safety (DIR of another source, position purged), 130 interrupted.
See dr-binlog-pull(1).`
}

// Main runs dr-binlog-pull with args and returns its exit status.
func Main(args []string, io cli.IO) int {
	return cli.Run(Name, description, args, io, &Cmd{})
}
