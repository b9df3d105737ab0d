package dr_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/cli"
)

// TestManPages fails when a flag that a command's --help shows is not in
// its man page, or a page lacks a section every page must have.
func TestManPages(t *testing.T) {
	flag := regexp.MustCompile(`--[a-z][a-z0-9-]*`)
	sections := []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"}
	for name, run := range commands {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			io := cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
			if code := run([]string{"--help"}, io); code != 0 {
				t.Fatalf("--help exited %d: %s", code, errb.String())
			}
			page, err := os.ReadFile(filepath.Join("man", name+".1"))
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(page), `\-`, "-")
			for _, f := range flag.FindAllString(out.String(), -1) {
				if !regexp.MustCompile(regexp.QuoteMeta(f) + `\b`).MatchString(text) {
					t.Errorf("%s --help shows %s, but man/%s.1 does not document it", name, f, name)
				}
			}
			for _, s := range sections {
				if !strings.Contains(text, ".SH "+s) {
					t.Errorf("man/%s.1 has no %s section", name, s)
				}
			}
			exit := text[strings.Index(text, ".SH EXIT STATUS"):]
			for _, e := range cli.ExitStatusText {
				if !strings.Contains(exit, ".B "+strconv.Itoa(e.Code)+"\n") {
					t.Errorf("man/%s.1 EXIT STATUS does not list %d (%s)", name, e.Code, e.Text)
				}
			}
		})
	}
}
