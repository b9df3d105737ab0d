// Command dr-replay restores a dr-snap snapshot into a target server.
// See dr-replay(1).
package main

import (
	"os"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/replay"
)

func main() { os.Exit(replay.Main(os.Args[1:], cli.Std())) }
