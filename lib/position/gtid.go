package position

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Flavor says which GTID form a server speaks.
type Flavor string

// The two flavors. The strings match go-mysql's flavor names, so a Flavor
// converts to them with a plain string().
const (
	MariaDB Flavor = "mariadb"
	MySQL   Flavor = "mysql"
)

// ParseFlavor accepts "mariadb" or "mysql" in any case.
func ParseFlavor(s string) (Flavor, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case string(MariaDB):
		return MariaDB, nil
	case string(MySQL):
		return MySQL, nil
	}
	return "", fmt.Errorf("invalid flavor %s: want mariadb or mysql", quote(s))
}

// maxGNO is the largest transaction number MySQL hands out: it reserves
// 2^63-1 as the end marker of its intervals.
const maxGNO = math.MaxInt64 - 1

// GTID is one global transaction id of either flavor. Only the fields of
// its Flavor are meaningful: Domain, ServerID and Seq for MariaDB
// ("0-1-42"); SID, Tag and GNO for MySQL ("3e11fa47-71ca-11e1-9e33-c80aa9429562:23",
// or with a MySQL 8.4 tag "...:tag:23").
type GTID struct {
	Flavor Flavor

	Domain   uint32
	ServerID uint32
	Seq      uint64

	SID [16]byte
	Tag string // normalised to lower case; "" when untagged
	GNO int64
}

// MariaDBGTID returns the MariaDB GTID domain-serverID-seq.
func MariaDBGTID(domain, serverID uint32, seq uint64) GTID {
	return GTID{Flavor: MariaDB, Domain: domain, ServerID: serverID, Seq: seq}
}

// MySQLGTID returns the untagged MySQL GTID sid:gno.
func MySQLGTID(sid [16]byte, gno int64) GTID {
	return GTID{Flavor: MySQL, SID: sid, GNO: gno}
}

// ParseGTID parses one GTID of the given flavor: "domain-server-seq" for
// MariaDB, "uuid:gno" or "uuid:tag:gno" for MySQL.
func ParseGTID(flavor Flavor, s string) (GTID, error) {
	var (
		g   GTID
		err error
	)
	switch flavor {
	case MariaDB:
		g, err = parseMariaDBGTID(strings.TrimSpace(s))
	case MySQL:
		g, err = parseMySQLGTID(strings.TrimSpace(s))
	default:
		err = fmt.Errorf("unknown flavor %s", quote(string(flavor)))
	}
	if err != nil {
		return GTID{}, fmt.Errorf("invalid gtid %s: %w", quote(s), err)
	}
	return g, nil
}

func parseMariaDBGTID(s string) (GTID, error) {
	d, rest, ok1 := strings.Cut(s, "-")
	sv, q, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return GTID{}, fmt.Errorf("want domain-server-seq")
	}
	domain, err := strconv.ParseUint(d, 10, 32)
	if err != nil {
		return GTID{}, fmt.Errorf("domain %s: want a number below 2^32", quote(d))
	}
	server, err := strconv.ParseUint(sv, 10, 32)
	if err != nil {
		return GTID{}, fmt.Errorf("server id %s: want a number below 2^32", quote(sv))
	}
	seq, err := strconv.ParseUint(q, 10, 64)
	if err != nil {
		return GTID{}, fmt.Errorf("sequence %s: want a number below 2^64", quote(q))
	}
	return MariaDBGTID(uint32(domain), uint32(server), seq), nil
}

func parseMySQLGTID(s string) (GTID, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return GTID{}, fmt.Errorf("want uuid:number or uuid:tag:number")
	}
	sid, err := parseUUID(strings.TrimSpace(parts[0]))
	if err != nil {
		return GTID{}, err
	}
	g := GTID{Flavor: MySQL, SID: sid}
	if len(parts) == 3 {
		if g.Tag, err = parseTag(strings.TrimSpace(parts[1])); err != nil {
			return GTID{}, err
		}
	}
	n := strings.TrimSpace(parts[len(parts)-1])
	if g.GNO, err = parseGNO(n); err != nil {
		return GTID{}, err
	}
	return g, nil
}

func parseGNO(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > maxGNO {
		return 0, fmt.Errorf("transaction number %s: want 1 to %d", quote(s), int64(maxGNO))
	}
	return n, nil
}

// parseUUID accepts the three spellings MySQL accepts for a server uuid:
// 8-4-4-4-12 hex digits, 32 bare hex digits, or the first in braces.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := s
	if len(h) == 38 && h[0] == '{' && h[37] == '}' {
		h = h[1:37]
	}
	if len(h) == 36 {
		if h[8] != '-' || h[13] != '-' || h[18] != '-' || h[23] != '-' {
			return u, fmt.Errorf("uuid %s is malformed", quote(s))
		}
		h = h[0:8] + h[9:13] + h[14:18] + h[19:23] + h[24:]
	}
	if len(h) != 32 {
		return u, fmt.Errorf("uuid %s is malformed", quote(s))
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("uuid %s is malformed", quote(s))
	}
	return u, nil
}

// formatUUID writes the canonical lower-case 8-4-4-4-12 form, the one
// MySQL prints in @@gtid_executed.
func formatUUID(b *strings.Builder, u [16]byte) {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	b.Write(buf[:])
}

// FormatUUID returns u in the canonical lower-case 8-4-4-4-12 form.
func FormatUUID(u [16]byte) string {
	var b strings.Builder
	formatUUID(&b, u)
	return b.String()
}

// ParseUUID parses a MySQL server uuid (as in @@server_uuid) in any of the
// spellings MySQL accepts.
func ParseUUID(s string) ([16]byte, error) {
	u, err := parseUUID(strings.TrimSpace(s))
	if err != nil {
		return u, fmt.Errorf("invalid uuid %s", quote(s))
	}
	return u, nil
}

// parseTag checks a MySQL 8.4 GTID tag and lower-cases it, as the server
// does: a letter or underscore, then up to 31 letters, digits or
// underscores.
func parseTag(s string) (string, error) {
	if !isTag(s) {
		return "", fmt.Errorf("tag %s: want a letter or _ then up to 31 letters, digits or _", quote(s))
	}
	return strings.ToLower(s), nil
}

func isTag(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// String returns the GTID in its server's form, or "" for a GTID with no
// flavor.
func (g GTID) String() string {
	switch g.Flavor {
	case MariaDB:
		return strconv.FormatUint(uint64(g.Domain), 10) + "-" +
			strconv.FormatUint(uint64(g.ServerID), 10) + "-" +
			strconv.FormatUint(g.Seq, 10)
	case MySQL:
		var b strings.Builder
		formatUUID(&b, g.SID)
		if g.Tag != "" {
			b.WriteByte(':')
			b.WriteString(g.Tag)
		}
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(g.GNO, 10))
		return b.String()
	}
	return ""
}
