package replay

import (
	"regexp"
	"strings"
)

// deferKeys takes a CREATE TABLE as SHOW CREATE TABLE prints it and, for
// an InnoDB table, moves its plain secondary KEYs out: the table is
// created without them and they are added once its rows are in, built by
// sorting, which is about a quarter faster than maintaining them row by
// row. It returns the statement unchanged and no keys when that is not
// safe or not worth it:
//   - other engines (MyISAM already builds keys of an empty table in bulk);
//   - a table with FOREIGN KEYs, whose keys back the constraints;
//   - a table other tables reference (referenced), whose keys must exist
//     when the referencing tables are created;
//   - the key that leads with the AUTO_INCREMENT column, which must
//     always have one.
//
// UNIQUE, FULLTEXT and SPATIAL keys stay: the first must hold while rows
// arrive, the others are rare and have their own build paths.
func deferKeys(create string, referenced bool) (string, []string) {
	if referenced || !engineInnoDB.MatchString(create) || strings.Contains(create, " FOREIGN KEY ") {
		return create, nil
	}
	lines := strings.Split(create, "\n")
	// Definitions are the lines between "CREATE TABLE ... (" and the
	// line that starts with ")", each beginning with two spaces.
	end := -1
	for i := 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], ")") {
			end = i
			break
		}
	}
	if end < 0 || !strings.HasSuffix(lines[0], "(") {
		return create, nil
	}
	autoInc := ""
	for _, l := range lines[1:end] {
		if m := autoIncCol.FindStringSubmatch(l); m != nil {
			autoInc = m[1]
		}
	}
	var keep []string
	var keys []string
	for _, l := range lines[1:end] {
		def := strings.TrimSuffix(l, ",")
		if strings.HasPrefix(def, "  KEY ") && (autoInc == "" || !strings.Contains(def, "(`"+autoInc+"`")) {
			keys = append(keys, strings.TrimSpace(def))
			continue
		}
		keep = append(keep, def)
	}
	if len(keys) == 0 || len(keep) == 0 {
		return create, nil
	}
	out := append([]string{lines[0]}, strings.Join(keep, ",\n"))
	out = append(out, lines[end:]...)
	return strings.Join(out, "\n"), keys
}

// addKeysSQL adds the deferred keys back, in their order, in one ALTER
// (one pass over the table).
func addKeysSQL(table string, keys []string) string {
	return "ALTER TABLE " + table + " ADD " + strings.Join(keys, ", ADD ")
}

var (
	engineInnoDB = regexp.MustCompile(`(?m)^\) ENGINE=InnoDB\b`)
	autoIncCol   = regexp.MustCompile("^  `((?:[^`]|``)+)` .* AUTO_INCREMENT")
	// references finds the tables a CREATE TABLE's foreign keys name:
	// REFERENCES `t` or REFERENCES `db`.`t`.
	references = regexp.MustCompile("REFERENCES (?:`((?:[^`]|``)+)`\\.)?`((?:[^`]|``)+)`")
)

// referencedTables returns "db.table" of every table a CREATE TABLE
// in database db references.
func referencedTables(db, create string) []string {
	var out []string
	for _, m := range references.FindAllStringSubmatch(create, -1) {
		d := db
		if m[1] != "" {
			d = strings.ReplaceAll(m[1], "``", "`")
		}
		out = append(out, d+"."+strings.ReplaceAll(m[2], "``", "`"))
	}
	return out
}
