package replay

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/dr-mysql/dr/lib/apply"
	"github.com/dr-mysql/dr/lib/cli"
)

// printHeader starts the --sql output: the session the statements are
// written for, so that `dr-replay --sql | mariadb` applies them as
// dr-replay would.
func (r *replayer) printHeader() error {
	var b strings.Builder
	b.WriteString("-- dr-replay --sql: the transactions of the binlogs after the target's checkpoint\n")
	for _, s := range baseSession {
		b.WriteString(s)
		b.WriteString(";\n")
	}
	return r.write(b.String())
}

// printBatch prints the statements of a batch, a source transaction each
// between BEGIN and COMMIT. A statement with a ';' of its own (a routine's
// body) is written between DELIMITER lines for the mariadb client.
func (r *replayer) printBatch(stmts []apply.Stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("BEGIN;\n")
	for _, s := range stmts {
		if strings.Contains(s.SQL, ";") && !strings.HasPrefix(s.SQL, "INSERT ") && !strings.HasPrefix(s.SQL, "REPLACE ") &&
			!strings.HasPrefix(s.SQL, "UPDATE ") && !strings.HasPrefix(s.SQL, "DELETE ") && !strings.HasPrefix(s.SQL, "SET ") {
			b.WriteString("DELIMITER /*dr-replay*/\n")
			b.WriteString(s.SQL)
			b.WriteString("/*dr-replay*/\nDELIMITER ;\n")
			continue
		}
		b.WriteString(s.SQL)
		b.WriteString(";\n")
	}
	b.WriteString("COMMIT;\n")
	if r.cp != nil && r.cp.Binlog.File != "" {
		b.WriteString("-- at " + r.cp.Binlog.File + ":" + strconv.FormatUint(r.cp.Binlog.Pos, 10) + "\n")
	}
	return r.write(b.String())
}

func (r *replayer) write(s string) error {
	if err := r.env.Printf("%s", s); err != nil {
		return cli.Errorf(cli.ExitIO, "standard output: %w", err)
	}
	return nil
}
