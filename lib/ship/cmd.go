// Package ship is dr-ship: it stores snapshot streams, binlog files and
// directory trees in a DR repository (lib/repo) on a directory, over ssh
// or in S3, and gets them back, lists, checks and prunes them.
package ship

import (
	"github.com/alecthomas/kong"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/ratelimit"
)

// Name is the command's name.
const Name = "dr-ship"

const description = `Store snapshots and binlogs in a DR repository, and get them back.

A repository is a directory (a path or file:///path), a directory on another
host reached by ssh (ssh://[user@]host/path, which runs 'dr-ship serve' there),
or a key prefix in an S3 bucket (s3://bucket/prefix). Streams are cut into
content-defined chunks named by their BLAKE3, compressed and stored once: a
second snapshot of a database that changed a little costs little.

put of a snapshot stream stores it only once dr-snap's stream has been read to
its end and verified (SUMS.json); a truncated stream stores nothing (exit 4).
put --binlogs stores each binlog file once, under its name, and never replaces
one. get writes back the stream byte for byte, each chunk checked.`

// RepoFlags are the flags every subcommand shares: where the repository
// is and how to reach it.
type RepoFlags struct {
	Repo       string         `required:"" placeholder:"URL" env:"DR_REPO" help:"Repository: DIR, file:///DIR, ssh://[user@]host/DIR or s3://bucket/prefix."`
	SSHCommand string         `name:"ssh-command" placeholder:"CMD" env:"DR_SSH_COMMAND" help:"Program (and its options) run instead of ssh for ssh:// repositories; it gets the host and the remote command as its last two arguments."`
	S3Endpoint string         `name:"s3-endpoint" placeholder:"URL" env:"DR_S3_ENDPOINT" help:"S3 endpoint for s3:// repositories (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then AWS)."`
	BWLimit    ratelimit.Rate `name:"bwlimit" placeholder:"RATE" env:"DR_BWLIMIT" help:"Use at most RATE of network or disk bandwidth to the repository (e.g. 20MiB/s), smoothly."`
	Uploads    int            `default:"4" placeholder:"N" help:"Packs a put saves at once (pays on S3; an ssh session is one request at a time)."`
	JSON       bool           `help:"Print JSON on stdout instead of text."`

	lim *ratelimit.Limiter
}

// Cmd is the command line of dr-ship.
type Cmd struct {
	cli.Globals
	RepoFlags `embed:""`

	Init  InitCmd  `cmd:"" help:"Create a repository (put creates one with the defaults when there is none)."`
	Put   PutCmd   `cmd:"" help:"Store a snapshot stream from stdin, binlog files (--binlogs) or a directory tree (--tree)."`
	Get   GetCmd   `cmd:"" help:"Write a snapshot stream (ID or latest), binlog files (--binlogs) or a tree (--tree) back."`
	Ls    LsCmd    `cmd:"" help:"List the snapshots (or --binlogs, --trees)."`
	Check CheckCmd `cmd:"" help:"Check the repository's structure, and with --read-data every byte."`
	Prune PruneCmd `cmd:"" help:"Remove snapshots the --keep-* policy does not keep, binlogs no kept snapshot needs, and their chunks."`
	Serve ServeCmd `cmd:"" help:"Serve the repository DIR on stdin and stdout: the far end of ssh://."`
}

// Help is the text after the flags in --help.
func (c *Cmd) Help() string {
	return `Examples:

  # every completed binlog file into the repository as soon as it is complete
  dr-binlog-pull --source mysql://repl@db1 --dir /var/lib/dr/binlog \
      | dr-ship put --repo s3://dr/cms --binlogs

  # a nightly snapshot, stored as the chunks that changed
  dr-snap --source mysql://backup@db1 | dr-ship put --repo s3://dr/cms --tag kind=nightly

  # restore the newest snapshot, then roll forward with the binlogs it needs
  dr-ship get --repo s3://dr/cms latest | dr-replay --target mysql://root@standby --snapshot -
  dr-ship get --repo s3://dr/cms --binlogs --since "$GTID_SET" --dir /var/lib/dr/restore

  # keep 7 daily and 4 weekly snapshots, and the binlogs they need
  dr-ship prune --repo ssh://dr@backup1/srv/dr/cms --keep-daily 7 --keep-weekly 4

Exit status: 0 success, 2 usage or unknown id, 3 connection or I/O failure
(repository unreachable, read-only or locked), 4 corrupt input, or damage found
in the repository, 5 refused for safety, 130 interrupted. See dr-ship(1).`
}

// Main runs dr-ship with args and returns its exit status.
func Main(args []string, io cli.IO) int {
	c := &Cmd{}
	return cli.Run(Name, description, args, io, c, kong.Bind(&c.RepoFlags))
}
