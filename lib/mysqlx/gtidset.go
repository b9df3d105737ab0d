package mysqlx

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dr-mysql/dr/lib/position"
)

// GoMySQLGTIDSet converts s for go-mysql, e.g. for
// replication.BinlogSyncer.StartSyncGTID. position keeps go-mysql types
// out of its API; this is the one bridge.
func GoMySQLGTIDSet(s *position.Set) (mysql.GTIDSet, error) {
	f := s.Flavor()
	if f == "" {
		return nil, fmt.Errorf("gtid set has no flavor")
	}
	g, err := mysql.ParseGTIDSet(string(f), s.String())
	if err != nil {
		return nil, fmt.Errorf("gtid set %q for go-mysql: %v", s.String(), rootMsg(err))
	}
	return g, nil
}

// FromGoMySQLGTIDSet converts a go-mysql GTID set. MariaDB sets are read
// entry by entry, because go-mysql prints the GTID 0-0-0 as "".
func FromGoMySQLGTIDSet(flavor position.Flavor, g mysql.GTIDSet) (*position.Set, error) {
	if m, ok := g.(*mysql.MariadbGTIDSet); ok {
		s := position.NewSet(position.MariaDB)
		for _, e := range m.Sets {
			s.AddMariaDB(e.DomainID, e.ServerID, e.SequenceNumber)
		}
		return s, nil
	}
	return position.ParseSet(flavor, g.String())
}
