package dr_test

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// commitLoop is the test program dr-test-commits URL-ADDR SECONDS OUT:
// it commits small transactions on the server at ADDR (host:port, user
// root) until it fails or SECONDS pass, and after each commit the client
// saw succeed writes that transaction's GTID to OUT. A semi-sync scenario
// then checks every GTID in OUT reached the pulled binlogs.
func commitLoop() int {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: dr-test-commits HOST:PORT SECONDS OUT")
		return 2
	}
	secs, _ := strconv.Atoi(os.Args[2])
	c, err := client.Connect(os.Args[1], "root", "", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS drtest", "CREATE TABLE IF NOT EXISTS drtest.acked (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))"} {
		if _, err := c.Execute(q); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	f, err := os.Create(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	n := 0
	for end := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(end); n++ {
		if _, err := c.Execute("INSERT INTO drtest.acked (at) VALUES (NOW(6))"); err != nil {
			fmt.Fprintf(os.Stderr, "commit %d failed: %v\n", n+1, err)
			break
		}
		r, err := c.Execute("SELECT @@last_gtid")
		if err != nil {
			fmt.Fprintf(os.Stderr, "after commit %d: %v\n", n+1, err)
			break
		}
		g, _ := r.GetString(0, 0)
		fmt.Fprintln(f, g)
	}
	fmt.Fprintf(os.Stderr, "%d commits acknowledged\n", n)
	return 0
}
