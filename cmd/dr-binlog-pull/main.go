// Command dr-binlog-pull streams binlogs from a MySQL or MariaDB source
// into a local directory. See dr-binlog-pull(1).
package main

import (
	"os"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/pull"
)

func main() { os.Exit(pull.Main(os.Args[1:], cli.Std())) }
