// Command dr-snap takes a consistent online snapshot of a MySQL or
// MariaDB server as a tar stream. See dr-snap(1).
package main

import (
	"os"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/snap"
)

func main() { os.Exit(snap.Main(os.Args[1:], cli.Std())) }
