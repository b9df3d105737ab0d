package pull

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/position"
)

type binaryLog struct {
	name string
	size int64
}

// binaryLogs lists the source's binlog files, oldest first.
func binaryLogs(c *client.Conn) ([]binaryLog, error) {
	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	logs := make([]binaryLog, 0, r.RowNumber())
	for i := 0; i < r.RowNumber(); i++ {
		name, _ := r.GetString(i, 0)
		size, _ := r.GetInt(i, 1)
		logs = append(logs, binaryLog{name, size})
	}
	return logs, nil
}

// previousGTIDs is the GTID set of everything before file, as the file's
// GTID list event (MariaDB) or PREVIOUS_GTIDS event (MySQL) records it.
func previousGTIDs(c *client.Conn, flavor position.Flavor, file string) (*position.Set, error) {
	r, err := c.Execute(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' LIMIT 5", strings.ReplaceAll(file, "'", "''")))
	if err != nil {
		return nil, fmt.Errorf("show binlog events in %s: %w", file, err)
	}
	for i := 0; i < r.RowNumber(); i++ {
		typ, _ := r.GetString(i, 2)
		if typ != "Gtid_list" && typ != "Previous_gtids" {
			continue
		}
		info, _ := r.GetString(i, 5)
		info = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(info), "["), "]")
		return position.ParseSet(flavor, strings.ReplaceAll(info, "\n", ""))
	}
	return position.NewSet(flavor), nil
}
