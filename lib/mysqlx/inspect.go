package mysqlx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/position"
)

// Server is what the toolkit needs to know about a server before it pulls,
// snapshots, replays or switches.
type Server struct {
	Flavor         position.Flavor
	Version        string // @@version, e.g. "10.11.6-MariaDB-0+deb12u1-log"
	VersionComment string // @@version_comment
	Major, Minor   int    // from Version: 10, 11
	Patch          int    // 6
	ServerID       uint32 // @@server_id
	ServerUUID     string // @@server_uuid; "" on MariaDB, which has none
	ReadOnly       bool   // @@read_only

	LogBin         bool   // @@log_bin
	BinlogFormat   string // @@binlog_format: ROW, STATEMENT or MIXED
	BinlogChecksum string // @@binlog_checksum: CRC32 or NONE

	GTIDMode       string // MySQL @@gtid_mode (OFF, OFF_PERMISSIVE, ON_PERMISSIVE, ON); "" on MariaDB, whose GTIDs are always on
	GTIDDomainID   uint32 // MariaDB @@gtid_domain_id
	GTIDStrictMode bool   // MariaDB @@gtid_strict_mode

	// GTIDSet is where the server's binlog is: MariaDB @@gtid_binlog_pos,
	// MySQL @@gtid_executed. Never nil after Inspect.
	GTIDSet *position.Set
}

// String is a one-line description for logs: "MariaDB 10.11.6 server_id 7".
func (s *Server) String() string {
	name := "MySQL"
	if s.Flavor == position.MariaDB {
		name = "MariaDB"
	}
	return fmt.Sprintf("%s %d.%d.%d server_id %d", name, s.Major, s.Minor, s.Patch, s.ServerID)
}

// AtLeast reports whether the server version is major.minor.patch or later.
func (s *Server) AtLeast(major, minor, patch int) bool {
	if s.Major != major {
		return s.Major > major
	}
	if s.Minor != minor {
		return s.Minor > minor
	}
	return s.Patch >= patch
}

// Inspect reads the server's identity and binlog settings with two short
// queries. It needs no privilege beyond a login.
func Inspect(c *client.Conn) (*Server, error) {
	row, err := queryRow(c, "SELECT @@version, @@version_comment, @@server_id, @@log_bin, "+
		"@@binlog_format, @@binlog_checksum, @@read_only")
	if err != nil {
		return nil, fmt.Errorf("inspect server: %w", err)
	}
	srv := &Server{
		Version:        row[0],
		VersionComment: row[1],
		LogBin:         row[3] == "1" || strings.EqualFold(row[3], "ON"),
		BinlogFormat:   strings.ToUpper(row[4]),
		BinlogChecksum: strings.ToUpper(row[5]),
		ReadOnly:       row[6] == "1" || strings.EqualFold(row[6], "ON"),
	}
	id, err := strconv.ParseUint(row[2], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("inspect server: @@server_id %q is not a number", row[2])
	}
	srv.ServerID = uint32(id)
	srv.Flavor = DetectFlavor(srv.Version, srv.VersionComment)
	srv.Major, srv.Minor, srv.Patch = parseVersion(srv.Version)

	if srv.Flavor == position.MariaDB {
		row, err = queryRow(c, "SELECT @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_domain_id, @@GLOBAL.gtid_strict_mode")
		if err != nil {
			return nil, fmt.Errorf("inspect server: %w", err)
		}
		dom, err := strconv.ParseUint(row[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("inspect server: @@gtid_domain_id %q is not a number", row[1])
		}
		srv.GTIDDomainID = uint32(dom)
		srv.GTIDStrictMode = row[2] == "1" || strings.EqualFold(row[2], "ON")
	} else {
		row, err = queryRow(c, "SELECT @@GLOBAL.gtid_executed, @@GLOBAL.server_uuid, @@GLOBAL.gtid_mode")
		if err != nil {
			return nil, fmt.Errorf("inspect server: %w", err)
		}
		srv.ServerUUID = row[1]
		srv.GTIDMode = strings.ToUpper(row[2])
	}
	if srv.GTIDSet, err = position.ParseSet(srv.Flavor, row[0]); err != nil {
		return nil, fmt.Errorf("inspect server: %w", err)
	}
	return srv, nil
}

// DetectFlavor tells MariaDB from MySQL (and its forks, such as Percona
// Server) by @@version, e.g. "10.11.6-MariaDB-log", or @@version_comment.
// The handshake's version string works too ("5.5.5-10.11.6-MariaDB").
func DetectFlavor(version, versionComment string) position.Flavor {
	if strings.Contains(strings.ToLower(version), "mariadb") ||
		strings.Contains(strings.ToLower(versionComment), "mariadb") {
		return position.MariaDB
	}
	return position.MySQL
}

// parseVersion reads "10.11.6-MariaDB-log" as 10, 11, 6. MariaDB used to
// put "5.5.5-" in front of its version in the handshake so that old MySQL
// replicas would accept it; that prefix is skipped.
func parseVersion(v string) (major, minor, patch int) {
	if strings.HasPrefix(v, "5.5.5-") && strings.Contains(strings.ToLower(v), "mariadb") {
		v = v[len("5.5.5-"):]
	}
	var n [3]int
	for i := range n {
		j := 0
		for j < len(v) && v[j] >= '0' && v[j] <= '9' {
			j++
		}
		n[i], _ = strconv.Atoi(v[:j])
		if j >= len(v) || v[j] != '.' {
			break
		}
		v = v[j+1:]
	}
	return n[0], n[1], n[2]
}

// CurrentPos returns the file:pos the server is writing its binlog at, or
// the zero Pos when the binlog is off. MySQL 8.2 renamed SHOW MASTER STATUS
// to SHOW BINARY LOG STATUS (and 8.4 removed the old name); MariaDB keeps
// the old name. It needs REPLICATION CLIENT (MySQL) or BINLOG MONITOR
// (MariaDB 10.5 and later).
func CurrentPos(c *client.Conn, srv *Server) (position.Pos, error) {
	q := "SHOW MASTER STATUS"
	if srv.Flavor == position.MySQL && srv.AtLeast(8, 2, 0) {
		q = "SHOW BINARY LOG STATUS"
	}
	r, err := c.Execute(q)
	if err != nil {
		return position.Pos{}, fmt.Errorf("%s: %w", strings.ToLower(q), err)
	}
	defer r.Close()
	if r.Resultset == nil || r.RowNumber() == 0 {
		return position.Pos{}, nil
	}
	file, err := r.GetString(0, 0)
	if err != nil {
		return position.Pos{}, fmt.Errorf("%s: %w", strings.ToLower(q), err)
	}
	off, err := r.GetUint(0, 1)
	if err != nil {
		return position.Pos{}, fmt.Errorf("%s: %w", strings.ToLower(q), err)
	}
	return position.Pos{File: strings.Clone(file), Offset: off}, nil
}

// queryRow runs a one-row query and returns its columns as strings, copied
// out of go-mysql's pooled buffers, which Close recycles.
func queryRow(c *client.Conn, q string) ([]string, error) {
	r, err := c.Execute(q)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Resultset == nil || r.RowNumber() != 1 {
		return nil, fmt.Errorf("%s: want one row", q)
	}
	out := make([]string, r.ColumnNumber())
	for i := range out {
		s, err := r.GetString(0, i)
		if err != nil {
			return nil, fmt.Errorf("%s: column %d: %w", q, i, err)
		}
		out[i] = strings.Clone(s)
	}
	return out, nil
}
