package snap

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/dr-mysql/dr/lib/cli"
	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/position"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// checkPrivileges lists, in one line and before anything is locked or
// written, every privilege the snapshot needs and the user lacks.
//
// The server hides what a user may not see: information_schema lists no
// trigger without TRIGGER, no event without EVENT, no routine of another
// definer without SELECT on mysql.proc. A snapshot taken with fewer
// privileges would silently miss objects, so they are required, not
// merely used when present.
func (s *snapshot) checkPrivileges(ctx context.Context) error {
	rows, err := mysqlx.Query(ctx, s.main, "SELECT CURRENT_USER(), CURRENT_ROLE()")
	if err != nil {
		return classify(fmt.Errorf("%s: %w", s.spec, err))
	}
	user := rows[0].Str(0)
	at := strings.LastIndexByte(user, '@')
	if at < 0 {
		return nil // not a user@host: nothing to compare with
	}
	grantees := []string{"'" + user[:at] + "'@'" + user[at+1:] + "'"}
	if !rows[0].Null(1) {
		grantees = append(grantees, "'"+rows[0].Str(1)+"'")
	}
	in := sqltext.InList(grantees)
	global := map[string]bool{}
	rows, err = mysqlx.Query(ctx, s.main, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE IN "+in)
	if err != nil {
		return classify(fmt.Errorf("%s: read privileges: %w", s.spec, err))
	}
	for _, r := range rows {
		global[r.Str(0)] = true
	}
	// Database-level grants name patterns (`cms%`.*, `t\_3`.*).
	var schema []schemaGrant
	rows, err = mysqlx.Query(ctx, s.main, "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE IN "+in)
	if err != nil {
		return classify(fmt.Errorf("%s: read privileges: %w", s.spec, err))
	}
	for _, r := range rows {
		schema = append(schema, schemaGrant{pattern: likeRegexp(r.Str(0)), priv: r.Str(1)})
	}
	tablePriv := map[string]bool{} // "db.table PRIV"
	rows, err = mysqlx.Query(ctx, s.main, "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE IN "+in)
	if err != nil {
		return classify(fmt.Errorf("%s: read privileges: %w", s.spec, err))
	}
	for _, r := range rows {
		tablePriv[r.Str(0)+"."+r.Str(1)+" "+r.Str(2)] = true
	}
	has := func(priv, db string) bool {
		if global[priv] {
			return true
		}
		for _, g := range schema {
			if g.priv == priv && g.pattern.MatchString(db) {
				return true
			}
		}
		return false
	}

	var missing []string
	need := func(priv, on string) {
		m := priv + " on " + on
		if !slices.Contains(missing, m) {
			missing = append(missing, m)
		}
	}
	if !global["RELOAD"] {
		need("RELOAD", "*.*")
	}
	if s.srv.Flavor == position.MySQL && s.srv.LogBin && !global["REPLICATION CLIENT"] && !global["SUPER"] {
		need("REPLICATION CLIENT", "*.*")
	}
	dbs := s.sel.databases
	if len(dbs) == 0 {
		rows, err := mysqlx.Query(ctx, s.main, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
		if err != nil {
			return classify(fmt.Errorf("%s: list databases: %w", s.spec, err))
		}
		for _, r := range rows {
			if !slices.Contains(systemDBs, strings.ToLower(r.Str(0))) {
				dbs = append(dbs, r.Str(0))
			}
		}
	}
	for _, db := range dbs {
		on := sqltext.QuoteIdent(db) + ".*"
		if s.sel.tables != nil {
			for _, t := range s.sel.tables[db] {
				for _, p := range []string{"SELECT", "TRIGGER"} {
					if !has(p, db) && !tablePriv[db+"."+t+" "+p] {
						need(p, sqltext.QuoteIdent(db)+"."+sqltext.QuoteIdent(t))
					}
				}
			}
			continue
		}
		for _, p := range []string{"SELECT", "SHOW VIEW", "TRIGGER", "EVENT"} {
			if !has(p, db) {
				need(p, on)
			}
		}
	}
	if s.sel.tables == nil {
		// Routines of other definers: MariaDB shows them with SELECT on
		// mysql.proc, MySQL 8 (which has no mysql.proc) with SHOW_ROUTINE.
		if s.srv.Flavor == position.MySQL {
			if !global["SELECT"] && !global["SHOW_ROUTINE"] {
				need("SHOW_ROUTINE", "*.*")
			}
		} else if !has("SELECT", "mysql") && !tablePriv["mysql.proc SELECT"] {
			need("SELECT", "mysql.proc")
		}
	}
	if s.cmd.Grants && !has("SELECT", "mysql") {
		need("SELECT", "mysql.*")
	}
	if len(missing) == 0 {
		return nil
	}
	return cli.WithHint(cli.Errorf(cli.ExitUsage, "%s: user %s lacks privileges: %s", s.spec, user, strings.Join(missing, ", ")),
		"GRANT them, e.g. GRANT "+grantList(missing)+" ON *.* TO "+grantees[0])
}

type schemaGrant struct {
	pattern *regexp.Regexp
	priv    string
}

// likeRegexp turns a GRANT's database pattern into a regexp: _ and %
// are wildcards unless escaped with a backslash, as for LIKE.
func likeRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		case c == '_':
			b.WriteString(".")
		case c == '%':
			b.WriteString(".*")
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func grantList(missing []string) string {
	var privs []string
	for _, m := range missing {
		p, _, _ := strings.Cut(m, " on ")
		if !slices.Contains(privs, p) {
			privs = append(privs, p)
		}
	}
	return strings.Join(privs, ", ")
}

// privilegeError is a missing privilege found while reading: exit 2, like
// the up-front check.
func privilegeError(err error, missing string) error {
	return cli.WithHint(cli.WithCode(cli.ExitUsage, fmt.Errorf("missing privilege: %w", err)), "GRANT "+missing+" to the snapshot's user")
}

// Server errors that mean a privilege is missing.
var accessDenied = []uint16{1044, 1045, 1142, 1143, 1227, 1370}

// classify gives an error from the server its exit status: 2 for a missing
// privilege, 3 for everything else (a lost connection, a server error; a
// new snapshot may succeed). Errors that already have one keep it.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *cli.Error
	if errors.As(err, &ce) {
		return err
	}
	var me *mysql.MyError
	if errors.As(err, &me) && slices.Contains(accessDenied, me.Code) {
		return cli.WithHint(cli.WithCode(cli.ExitUsage, err), "GRANT the snapshot's user the privilege named above")
	}
	return cli.WithCode(cli.ExitIO, err)
}
