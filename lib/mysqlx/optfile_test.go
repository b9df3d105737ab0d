package mysqlx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseOptionFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		warn    string
		wantErr string
	}{
		{
			name: "client group",
			in:   "[client]\nuser=repl\npassword=s3cret\nhost=db1\nport=3307\n",
			want: map[string]string{"user": "repl", "password": "s3cret", "host": "db1", "port": "3307"},
		},
		{
			name: "dr overrides client wherever it is",
			in:   "[dr]\nuser=dr\n[client]\nuser=client\npassword=a\n",
			want: map[string]string{"user": "dr", "password": "a"},
		},
		{
			name: "other groups ignored",
			in:   "[mysqld]\nuser=mysql\nport=1\n[client]\nuser=u\n[mysqldump]\nuser=x\n",
			want: map[string]string{"user": "u"},
		},
		{
			name: "client groups in file order",
			in:   "[client-mariadb]\nport=1\n[client]\nport=2\n[client-server]\nhost=h\n",
			want: map[string]string{"port": "2", "host": "h"},
		},
		{
			name: "comments, blanks, spaces, case",
			in:   "# top\n; semi\n\n  [ Client ]  \n  User = repl  # trailing\nPASSWORD= pw \n",
			want: map[string]string{"user": "repl", "password": "pw"},
		},
		{
			name: "quotes keep # and spaces",
			in:   "[client]\npassword=\"a#b c\"\nuser='x y'\nhost=h#comment\n",
			want: map[string]string{"password": "a#b c", "user": "x y", "host": "h"},
		},
		{
			name: "escapes",
			in:   `[client]` + "\n" + `password="a\"b\\c\sd\n"` + "\n" + `user=u\x` + "\n",
			want: map[string]string{"password": "a\"b\\c d\n", "user": `u\x`},
		},
		{
			name: "underscores, loose- prefix, bare keys, CRLF, BOM",
			in:   "\xef\xbb\xbf[client]\r\nssl_ca=/ca.pem\r\nloose-ssl-mode=REQUIRED\r\nskip-ssl\r\n",
			want: map[string]string{"ssl-ca": "/ca.pem", "ssl-mode": "REQUIRED", "skip-ssl": ""},
		},
		{
			name: "includes ignored with a warning",
			in:   "!include /etc/mysql/other.cnf\n!includedir /etc/mysql/conf.d/\n[client]\nuser=u\n",
			want: map[string]string{"user": "u"},
			warn: "!include is not followed",
		},
		{name: "option before group", in: "user=u\n", wantErr: "line 1: option before any [group]"},
		{name: "bad header", in: "[client\nuser=u\n", wantErr: "line 1: group header without ']'"},
		{name: "empty header", in: "[ ]\n", wantErr: "line 1: empty group name"},
		{name: "no key", in: "[client]\n=x\n", wantErr: "line 2: option without a name"},
		{name: "bad directive", in: "!source x\n", wantErr: `unknown directive "!source"`},
	}
	for _, tt := range tests {
		o, warnings, err := parseOptionFile("my.cnf", []byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error = %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got := map[string]string{}
		for k, v := range o.m {
			got[k] = v.value
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got[k], v)
			}
		}
		if tt.warn != "" && (len(warnings) == 0 || !strings.Contains(warnings[0], tt.warn)) {
			t.Errorf("%s: warnings %q, want %q", tt.name, warnings, tt.warn)
		}
		if tt.warn == "" && len(warnings) > 0 {
			t.Errorf("%s: unexpected warnings %q", tt.name, warnings)
		}
	}
}

func writeOptionFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dr.cnf")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOptionFilePermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606} {
		p := writeOptionFile(t, "[client]\npassword=x\n", mode)
		_, _, err := readOptionFile(p)
		if err == nil {
			t.Errorf("mode %04o: want a refusal", mode)
			continue
		}
		if !errors.Is(err, ErrInsecureOptionFile) {
			t.Errorf("mode %04o: error does not wrap ErrInsecureOptionFile: %v", mode, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("option file %s is readable by others (mode %04o); chmod 600 %s", p, mode, p)) {
			t.Errorf("mode %04o: error = %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		p := writeOptionFile(t, "[client]\npassword=x\n", mode)
		if _, _, err := readOptionFile(p); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if _, _, err := readOptionFile(filepath.Join(t.TempDir(), "missing.cnf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o700)
	if _, _, err := readOptionFile(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestOptionFileExactRefusal(t *testing.T) {
	p := writeOptionFile(t, "[client]\n", 0o644)
	_, _, err := ConnFlags{DefaultsFile: p}.Resolve("mysql://u@h", func(string) string { return "" })
	want := "option file " + p + " is readable by others (mode 0644); chmod 600 " + p
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func FuzzParseOptionFile(f *testing.F) {
	for _, s := range []string{
		"[client]\nuser=repl\npassword=\"a#b\"\n",
		"[dr]\nssl-mode=VERIFY_CA\n!include x\n",
		"[client]\npassword='it\\'s'\n",
		"x=y", "[", "[client]\n\\", "[client]\nk=\"\\",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, _, err := parseOptionFile("f.cnf", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "option file f.cnf line ") {
				t.Fatalf("error does not name the file and line: %v", err)
			}
			return
		}
		for k, v := range o.m {
			if k == "" || k != strings.ToLower(k) || strings.Contains(k, "_") {
				t.Fatalf("key %q not normalised", k)
			}
			if v.line < 1 {
				t.Fatalf("key %q has no line", k)
			}
		}
		// Resolving must not panic whatever the file holds.
		s := &Spec{}
		_ = s.resolveAddr(&connURL{}, o)
		var w []string
		s.resolvePassword(&connURL{}, o, func(string) string { return "" }, &w)
		_, _ = tlsMode(ConnFlags{}, o)
	})
}
