package apply

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/dr-mysql/dr/lib/sqltext"
)

// StatusVars are the session settings a QUERY event records, to run its
// statement as the source did (see the Q_* codes of the server's
// log_event.h). Fields are set only when the event carries them.
type StatusVars struct {
	HasFlags2                                           bool
	Flags2                                              uint32
	HasSQLMode                                          bool
	SQLMode                                             uint64
	HasCharset                                          bool
	CharsetClient, CollationConnection, CollationServer uint16
	TimeZone                                            string
	HasLCTime                                           bool
	LCTimeNames                                         uint16
	HasCollDB                                           bool
	CollationDB                                         uint16
	AutoIncIncrement, AutoIncOffset                     uint16
	HasAutoInc                                          bool
	Micros                                              int // -1: none (MariaDB Q_HRNOW, MySQL Q_MICROSECONDS)
	ExplicitDefaultsForTimestamp                        int // -1: none
}

// Bits of Q_FLAGS2 (the server's OPTION_* flags).
const (
	optionAutoIsNull          = 1 << 14
	optionNoForeignKeyChecks  = 1 << 26
	optionRelaxedUniqueChecks = 1 << 27
)

// ParseStatusVars reads the status variables block of a QUERY event. An
// unknown code ends the block as far as it can be read, as the server's
// own reader does: the codes after it cannot be found.
func ParseStatusVars(b []byte) (StatusVars, error) {
	v := StatusVars{Micros: -1, ExplicitDefaultsForTimestamp: -1}
	short := fmt.Errorf("status variables: truncated")
	need := func(n int) bool { return len(b) >= n }
	for len(b) > 0 {
		code := b[0]
		b = b[1:]
		switch code {
		case 0: // Q_FLAGS2_CODE
			if !need(4) {
				return v, short
			}
			v.HasFlags2, v.Flags2 = true, binary.LittleEndian.Uint32(b)
			b = b[4:]
		case 1: // Q_SQL_MODE_CODE
			if !need(8) {
				return v, short
			}
			v.HasSQLMode, v.SQLMode = true, binary.LittleEndian.Uint64(b)
			b = b[8:]
		case 2: // Q_CATALOG_CODE: length, name, NUL
			if !need(1) || !need(2+int(b[0])) {
				return v, short
			}
			b = b[2+int(b[0]):]
		case 3: // Q_AUTO_INCREMENT
			if !need(4) {
				return v, short
			}
			v.HasAutoInc = true
			v.AutoIncIncrement, v.AutoIncOffset = binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:])
			b = b[4:]
		case 4: // Q_CHARSET_CODE
			if !need(6) {
				return v, short
			}
			v.HasCharset = true
			v.CharsetClient = binary.LittleEndian.Uint16(b)
			v.CollationConnection = binary.LittleEndian.Uint16(b[2:])
			v.CollationServer = binary.LittleEndian.Uint16(b[4:])
			b = b[6:]
		case 5: // Q_TIME_ZONE_CODE
			if !need(1) || !need(1+int(b[0])) {
				return v, short
			}
			v.TimeZone = string(b[1 : 1+int(b[0])])
			b = b[1+int(b[0]):]
		case 6: // Q_CATALOG_NZ_CODE
			if !need(1) || !need(1+int(b[0])) {
				return v, short
			}
			b = b[1+int(b[0]):]
		case 7: // Q_LC_TIME_NAMES_CODE
			if !need(2) {
				return v, short
			}
			v.HasLCTime, v.LCTimeNames = true, binary.LittleEndian.Uint16(b)
			b = b[2:]
		case 8: // Q_CHARSET_DATABASE_CODE
			if !need(2) {
				return v, short
			}
			v.HasCollDB, v.CollationDB = true, binary.LittleEndian.Uint16(b)
			b = b[2:]
		case 9: // Q_TABLE_MAP_FOR_UPDATE_CODE
			if !need(8) {
				return v, short
			}
			b = b[8:]
		case 10: // Q_MASTER_DATA_WRITTEN_CODE
			if !need(4) {
				return v, short
			}
			b = b[4:]
		case 11: // Q_INVOKER: user, host, each length-prefixed
			for range 2 {
				if !need(1) || !need(1+int(b[0])) {
					return v, short
				}
				b = b[1+int(b[0]):]
			}
		case 12: // Q_UPDATED_DB_NAMES: a count, then NUL-terminated names
			if !need(1) {
				return v, short
			}
			n := int(b[0])
			b = b[1:]
			if n == 254 { // OVER_MAX_DBS_IN_EVENT_MTS: no names follow
				n = 0
			}
			for range n {
				i := strings.IndexByte(string(b), 0)
				if i < 0 {
					return v, short
				}
				b = b[i+1:]
			}
		case 13, 128: // Q_MICROSECONDS (MySQL), Q_HRNOW (MariaDB)
			if !need(3) {
				return v, short
			}
			v.Micros = int(b[0]) | int(b[1])<<8 | int(b[2])<<16
			b = b[3:]
		case 14: // Q_COMMIT_TS
			return v, nil
		case 15: // Q_COMMIT_TS2
			return v, nil
		case 16: // Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP
			if !need(1) {
				return v, short
			}
			v.ExplicitDefaultsForTimestamp = int(b[0])
			b = b[1:]
		case 17, 129: // Q_DDL_LOGGED_WITH_XID (MySQL), Q_XID (MariaDB)
			if !need(8) {
				return v, short
			}
			b = b[8:]
		case 18: // Q_DEFAULT_COLLATION_FOR_UTF8MB4
			if !need(2) {
				return v, short
			}
			b = b[2:]
		case 19, 20, 130: // Q_SQL_REQUIRE_PRIMARY_KEY, Q_DEFAULT_TABLE_ENCRYPTION, Q_GTID_FLAGS3
			if !need(1) {
				return v, short
			}
			b = b[1:]
		default:
			return v, nil
		}
	}
	return v, nil
}

// SessionSQL is the statements that put a session in the state the
// source's session was in for this statement, in the form mariadb-binlog
// prints them (numeric codes are what the server reads from them).
func (v StatusVars) SessionSQL(time uint32, collations map[uint32]Collation) []string {
	var out []string
	if v.Micros >= 0 {
		out = append(out, fmt.Sprintf("SET TIMESTAMP = %d.%06d", time, v.Micros))
	} else {
		out = append(out, fmt.Sprintf("SET TIMESTAMP = %d", time))
	}
	if v.HasFlags2 {
		// Not autocommit: dr-replay frames every transaction itself, and
		// SET autocommit = 1 inside its BEGIN would commit half a batch
		// without its checkpoint.
		out = append(out, fmt.Sprintf("SET @@session.foreign_key_checks = %d, @@session.sql_auto_is_null = %d, @@session.unique_checks = %d",
			b2i(v.Flags2&optionNoForeignKeyChecks == 0), b2i(v.Flags2&optionAutoIsNull != 0),
			b2i(v.Flags2&optionRelaxedUniqueChecks == 0)))
	}
	if v.HasSQLMode {
		out = append(out, fmt.Sprintf("SET @@session.sql_mode = %d", v.SQLMode))
	}
	if v.HasAutoInc {
		out = append(out, fmt.Sprintf("SET @@session.auto_increment_increment = %d, @@session.auto_increment_offset = %d", v.AutoIncIncrement, v.AutoIncOffset))
	}
	if v.HasCharset {
		// character_set_client takes a number only when it is a
		// character set's default collation: by name, where the target
		// knows it.
		client := strconv.FormatUint(uint64(v.CharsetClient), 10)
		if c, ok := collations[uint32(v.CharsetClient)]; ok {
			client = c.Charset
		}
		out = append(out, fmt.Sprintf("SET @@session.character_set_client = %s, @@session.collation_connection = %d, @@session.collation_server = %d",
			client, v.CollationConnection, v.CollationServer))
	}
	if v.TimeZone != "" {
		out = append(out, "SET @@session.time_zone = "+sqltext.QuoteString(v.TimeZone))
	}
	if v.HasLCTime {
		out = append(out, fmt.Sprintf("SET @@session.lc_time_names = %d", v.LCTimeNames))
	}
	if v.HasCollDB {
		out = append(out, fmt.Sprintf("SET @@session.collation_database = %d", v.CollationDB))
	}
	if v.ExplicitDefaultsForTimestamp >= 0 {
		out = append(out, fmt.Sprintf("SET @@session.explicit_defaults_for_timestamp = %d", v.ExplicitDefaultsForTimestamp))
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
