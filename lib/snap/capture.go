package snap

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/dr-mysql/dr/lib/mysqlx"
	"github.com/dr-mysql/dr/lib/sqltext"
)

// The first lines of every member that is not data (see lib/snapfmt,
// "Content"): definitions are utf8mb4 text, read with the time zone and a
// plain sql_mode set here, so that each member means the same whatever
// ran before it (a trigger's own sql_mode, say) and under `tar -xOf |
// mariadb`.
const textPreamble = "/*!40101 SET NAMES utf8mb4*/;\n" +
	"SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', time_zone='+00:00';\n"

// capture reads the definitions of everything in the catalog. It runs
// under the lock: SHOW CREATE is not transactional, so only under the
// lock do definitions and data belong to the same point.
func capture(ctx context.Context, c *client.Conn, cat *catalog) error {
	if err := captureTables(ctx, c, cat); err != nil {
		return err
	}
	// Views, triggers, routines and events are read as the bytes they
	// were created with (as mysqldump does): each is written after the
	// character_set_client it was created under, which must read the
	// same bytes. Converted to utf8mb4, a latin1 'é' would come back as
	// 'Ã©'.
	if err := mysqlx.Exec(ctx, c, "SET character_set_results = binary"); err != nil {
		return classify(err)
	}
	defer mysqlx.Exec(ctx, c, "SET character_set_results = utf8mb4")
	for _, d := range cat.dbs {
		for _, v := range d.views {
			// View, Create View, character_set_client, collation_connection
			r, err := showCreate(ctx, c, "SHOW CREATE VIEW "+qualified(d.name, v.name), 4)
			if err != nil {
				return err
			}
			v.sql = fmt.Sprintf("SET character_set_client = %s, collation_connection = %s;\n%s;\n",
				r.Str(2), r.Str(3), r.Str(1))
		}
		orderViews(d)
		for _, t := range d.triggers {
			// Trigger, sql_mode, SQL Original Statement, character_set_client,
			// collation_connection, Database Collation, Created
			r, err := showCreate(ctx, c, "SHOW CREATE TRIGGER "+qualified(d.name, t.name), 5)
			if err != nil {
				return err
			}
			t.sql = sessionFor(r.Str(1), r.Str(3), r.Str(4), "") + r.Str(2) + ";;\n"
		}
		for _, p := range d.routines {
			// Procedure, sql_mode, Create Procedure, character_set_client, ...
			r, err := showCreate(ctx, c, "SHOW CREATE "+p.kind+" "+qualified(d.name, p.name), 5)
			if err != nil {
				return err
			}
			if r.Null(2) {
				return privilegeError(fmt.Errorf("%s %s: the definition is hidden from this user", strings.ToLower(p.kind), qualified(d.name, p.name)),
					"SELECT on mysql.proc (to read routines defined by other users)")
			}
			p.sql = sessionFor(r.Str(1), r.Str(3), r.Str(4), "") + r.Str(2) + ";;\n"
		}
		for _, e := range d.events {
			// Event, sql_mode, time_zone, Create Event, character_set_client, ...
			r, err := showCreate(ctx, c, "SHOW CREATE EVENT "+qualified(d.name, e.name), 6)
			if err != nil {
				return err
			}
			e.sql = sessionFor(r.Str(1), r.Str(4), r.Str(5), r.Str(2)) + r.Str(3) + ";;\n"
		}
	}
	return nil
}

// captureSequence reads a SEQUENCE's definition and where it stands, as
// mariadb-dump does: the restored sequence continues at the first value
// the source has not handed out or cached.
func captureSequence(ctx context.Context, c *client.Conn, t *table) error {
	r, err := showCreate(ctx, c, "SHOW CREATE SEQUENCE "+t.String(), 2)
	if err != nil {
		return err
	}
	t.create = r.Str(1)
	r, err = showCreate(ctx, c, "SELECT next_not_cached_value, cycle_count FROM "+t.String(), 2)
	if err != nil {
		return err
	}
	t.setval = fmt.Sprintf("SELECT SETVAL(%s, %s, 0, %s)", sqltext.QuoteIdent(t.name), r.Str(0), r.Str(1))
	return nil
}

// captureTables reads the definitions of databases and tables, as
// utf8mb4 text.
func captureTables(ctx context.Context, c *client.Conn, cat *catalog) error {
	for _, d := range cat.dbs {
		r, err := showCreate(ctx, c, "SHOW CREATE DATABASE "+sqltext.QuoteIdent(d.name), 2)
		if err != nil {
			return err
		}
		d.create = r.Str(1)
		for _, t := range d.tables {
			if t.sequence {
				if err := captureSequence(ctx, c, t); err != nil {
					return err
				}
				continue
			}
			r, err := showCreate(ctx, c, "SHOW CREATE TABLE "+t.String(), 2)
			if err != nil {
				return err
			}
			t.create = r.Str(1)
		}
	}
	return nil
}

func qualified(db, name string) string {
	return sqltext.QuoteIdent(db) + "." + sqltext.QuoteIdent(name)
}

// sessionFor sets what SHOW CREATE says an object was created with, so the
// restored object says the same.
func sessionFor(sqlMode, charset, collation, timeZone string) string {
	s := fmt.Sprintf("SET SESSION sql_mode = %s, character_set_client = %s, collation_connection = %s",
		sqltext.QuoteString(sqlMode), charset, collation)
	if timeZone != "" {
		s += ", time_zone = " + sqltext.QuoteString(timeZone)
	}
	return s + ";;\n"
}

func showCreate(ctx context.Context, c *client.Conn, q string, cols int) (mysqlx.Row, error) {
	rows, err := mysqlx.Query(ctx, c, q)
	if err != nil {
		return nil, classify(fmt.Errorf("%s: %w", q, err))
	}
	if len(rows) != 1 || len(rows[0]) < cols {
		return nil, fmt.Errorf("%s: unexpected result (%d rows)", q, len(rows))
	}
	return rows[0], nil
}

// orderViews puts views after the views they select from, so that each
// CREATE VIEW finds what it names. SHOW CREATE VIEW writes every table it
// uses as `db`.`name`, which is what is looked for.
func orderViews(d *database) {
	for _, v := range d.views {
		v.refs = nil
		for _, o := range d.views {
			if o != v && strings.Contains(v.sql, qualified(d.name, o.name)) {
				v.refs = append(v.refs, o.name)
			}
		}
	}
	var out []*object
	done := map[string]bool{}
	var visit func(v *object, depth int)
	byName := map[string]*object{}
	for _, v := range d.views {
		byName[v.name] = v
	}
	visit = func(v *object, depth int) {
		if done[v.name] || depth > len(d.views) {
			return
		}
		for _, r := range v.refs {
			visit(byName[r], depth+1)
		}
		if !done[v.name] {
			done[v.name] = true
			out = append(out, v)
		}
	}
	for _, v := range d.views {
		visit(v, 0)
	}
	d.views = out
}

// Member texts.

func dbMember(d *database) []byte {
	return []byte(textPreamble + d.create + ";\n")
}

func useLine(db string) string { return "USE " + sqltext.QuoteIdent(db) + ";\n" }

func tableMember(t *table) []byte {
	m := textPreamble + useLine(t.db) + t.create + ";\n"
	if t.setval != "" {
		m += t.setval + ";\n"
	}
	return []byte(m)
}

func viewsMember(d *database) []byte {
	var b bytes.Buffer
	b.WriteString(textPreamble + useLine(d.name))
	for _, v := range d.views {
		b.WriteString(v.sql)
	}
	return b.Bytes()
}

// delimited wraps objects whose bodies hold semicolons as the mariadb
// client wants them.
func delimited(db string, objs []*object) []byte {
	var b bytes.Buffer
	b.WriteString(textPreamble + useLine(db) + "DELIMITER ;;\n")
	for _, o := range objs {
		b.WriteString(o.sql)
	}
	b.WriteString("DELIMITER ;\n")
	return b.Bytes()
}

func hasObjects(d *database) bool {
	return len(d.views)+len(d.triggers)+len(d.routines)+len(d.events) > 0
}

// captureGrants reads users, roles and their grants. Users that exist on
// the target are left as they are there (CREATE ... IF NOT EXISTS); the
// grants are added.
func captureGrants(ctx context.Context, c *client.Conn) ([]byte, error) {
	rows, err := mysqlx.Query(ctx, c, "SELECT User, Host, is_role FROM mysql.user ORDER BY is_role DESC, User, Host")
	if err != nil {
		return nil, classify(fmt.Errorf("list users: %w", err))
	}
	var b bytes.Buffer
	b.WriteString(textPreamble)
	var grants []string
	for _, r := range rows {
		user, host, role := r.Str(0), r.Str(1), r.Str(2) == "Y"
		if user == "mariadb.sys" || user == "" {
			continue // the server's own account, and anonymous users
		}
		var who string
		if role {
			who = sqltext.QuoteIdent(user)
			b.WriteString("CREATE ROLE IF NOT EXISTS " + who + ";\n")
		} else {
			who = sqltext.QuoteString(user) + "@" + sqltext.QuoteString(host)
			r, err := showCreate(ctx, c, "SHOW CREATE USER "+who, 1)
			if err != nil {
				return nil, err
			}
			stmt, ok := strings.CutPrefix(r.Str(0), "CREATE USER ")
			if !ok {
				return nil, fmt.Errorf("SHOW CREATE USER %s: unexpected %q", who, sqltext.Abbrev(r.Str(0), 80))
			}
			b.WriteString("CREATE USER IF NOT EXISTS " + stmt + ";\n")
		}
		gr, err := mysqlx.Query(ctx, c, "SHOW GRANTS FOR "+who)
		if err != nil {
			return nil, classify(fmt.Errorf("SHOW GRANTS FOR %s: %w", who, err))
		}
		for _, g := range gr {
			grants = append(grants, withoutAuth(g.Str(0))+";\n")
		}
	}
	// Grants after every user and role exists: a role is granted to users.
	for _, g := range grants {
		b.WriteString(g)
	}
	return b.Bytes(), nil
}

// withoutAuth drops the IDENTIFIED clause SHOW GRANTS adds, so that a
// user who exists on the target keeps the credentials it has there; a new
// user gets the source's from its CREATE USER.
func withoutAuth(grant string) string {
	i := strings.Index(grant, " IDENTIFIED ")
	if i < 0 {
		return grant
	}
	if j := strings.Index(grant[i:], " WITH "); j >= 0 {
		return grant[:i] + grant[i+j:]
	}
	return grant[:i]
}
