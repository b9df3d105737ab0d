// Command dr-ship stores snapshots and binlogs in a DR repository and
// gets them back. See dr-ship(1).
package main

import (
	"os"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/ship"
)

func main() { os.Exit(ship.Main(os.Args[1:], cli.Std())) }
