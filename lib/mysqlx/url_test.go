package mysqlx

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec   // fields compared: User Password Host Port Socket DB ConnectTimeout
		str     string // want String()
		warn    bool
		wantErr string
	}{
		{in: "mysql://repl@127.0.0.1:3307", want: Spec{User: "repl", Host: "127.0.0.1", Port: 3307}, str: "mysql://repl@127.0.0.1:3307"},
		{in: "mysql://repl@db.example.com", want: Spec{User: "repl", Host: "db.example.com", Port: 3306}, str: "mysql://repl@db.example.com:3306"},
		{in: "MySQL://repl@db", want: Spec{User: "repl", Host: "db", Port: 3306}, str: "mysql://repl@db:3306"},
		{in: "mysql://root@[::1]:3306", want: Spec{User: "root", Host: "::1", Port: 3306}, str: "mysql://root@[::1]:3306"},
		{in: "mysql://root@[fe80::1]", want: Spec{User: "root", Host: "fe80::1", Port: 3306}, str: "mysql://root@[fe80::1]:3306"},
		{in: "mysql://root@unix(/run/mysqld/mysqld.sock)", want: Spec{User: "root", Socket: "/run/mysqld/mysqld.sock"}, str: "mysql://root@unix(/run/mysqld/mysqld.sock)"},
		{in: "mysql://root@unix(/tmp/a b/s.sock)/cms", want: Spec{User: "root", Socket: "/tmp/a b/s.sock", DB: "cms"}, str: "mysql://root@unix(/tmp/a b/s.sock)/cms"},
		{in: "mysql://root@unix(rel.sock)", want: Spec{User: "root", Socket: "rel.sock"}},
		{in: "mysql://root@db/cms", want: Spec{User: "root", Host: "db", Port: 3306, DB: "cms"}, str: "mysql://root@db:3306/cms"},
		{in: "mysql://root@db:3306/", want: Spec{User: "root", Host: "db", Port: 3306}},
		{in: "mysql://root@db/my%20db", want: Spec{User: "root", Host: "db", Port: 3306, DB: "my db"}, str: "mysql://root@db:3306/my%20db"},
		{in: "mysql://root@db?connect-timeout=5s", want: Spec{User: "root", Host: "db", Port: 3306, ConnectTimeout: 5 * time.Second}},
		{in: "mysql://root@db/cms?connect-timeout=3", want: Spec{User: "root", Host: "db", Port: 3306, DB: "cms", ConnectTimeout: 3 * time.Second}},
		{in: "mysql://repl:s3cret@db", want: Spec{User: "repl", Password: "s3cret", Host: "db", Port: 3306}, str: "mysql://repl@db:3306", warn: true},
		{in: "mysql://repl:p@ss@db", want: Spec{User: "repl", Password: "p@ss", Host: "db", Port: 3306}, warn: true},
		{in: "mysql://repl:a%2Fb%3Fc@db", want: Spec{User: "repl", Password: "a/b?c", Host: "db", Port: 3306}, warn: true},
		{in: "mysql://repl:@db", want: Spec{User: "repl", Host: "db", Port: 3306}},
		{in: "mysql://us%40er@db", want: Spec{User: "us@er", Host: "db", Port: 3306}, str: "mysql://us%40er@db:3306"},
		{in: "mysql://u:pw@unix(/s.sock)", want: Spec{User: "u", Password: "pw", Socket: "/s.sock"}, warn: true},

		{in: "", wantErr: `invalid connection url "": want mysql://user@host:port`},
		{in: "db:3306", wantErr: `want mysql://user@host:port`},
		{in: "postgres://u@h", wantErr: `scheme must be mysql://`},
		{in: "mysql://", wantErr: `no user name`},
		{in: "mysql://db", wantErr: `no user name`},
		{in: "mysql://u@", wantErr: `no host`},
		{in: "mysql://@db", wantErr: `empty user name`},
		{in: "mysql://u@db:0", wantErr: `port "0"`},
		{in: "mysql://u@db:65536", wantErr: `port "65536"`},
		{in: "mysql://u@db:x", wantErr: `port "x"`},
		{in: "mysql://u@db:", wantErr: `empty port`},
		{in: "mysql://u@::1", wantErr: `must be in brackets`},
		{in: "mysql://u@[::1", wantErr: `without a closing ']'`},
		{in: "mysql://u@[db]:3306", wantErr: `not an ipv6 address`},
		{in: "mysql://u@[::1]x", wantErr: `unexpected "x"`},
		{in: "mysql://u@db!x", wantErr: `"!" is not allowed`},
		{in: "mysql://u@:3306", wantErr: `empty host`},
		{in: "mysql://u@unix()", wantErr: `empty socket path`},
		{in: "mysql://u@unix(/s.sock", wantErr: `without a closing )`},
		{in: "mysql://u@db/a/b", wantErr: `contains '/'`},
		{in: "mysql://u@db?tls=true", wantErr: `unknown parameter "tls"`},
		{in: "mysql://u@db?connect-timeout=soon", wantErr: `connect-timeout`},
		{in: "mysql://u@db?connect-timeout=-1s", wantErr: `positive`},
		{in: "mysql://u%zz@db", wantErr: `percent-encoding in user`},
		{in: "mysql://u:a/b@db", wantErr: `'@' after the host`},
		{in: "mysql://u@db\n", wantErr: `control character`},
	}
	for _, tt := range tests {
		s, warnings, err := ParseURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURL(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		got := Spec{User: s.User, Password: s.Password, Host: s.Host, Port: s.Port, Socket: s.Socket, DB: s.DB, ConnectTimeout: s.ConnectTimeout}
		if got != tt.want {
			t.Errorf("ParseURL(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if tt.str != "" && s.String() != tt.str {
			t.Errorf("ParseURL(%q).String() = %q, want %q", tt.in, s.String(), tt.str)
		}
		if s.Password != "" && strings.Contains(s.String(), s.Password) {
			t.Errorf("String() shows the password: %q", s.String())
		}
		if gotWarn := len(warnings) == 1 && warnings[0] == WarnPasswordInURL; gotWarn != tt.warn {
			t.Errorf("ParseURL(%q) warnings = %q, want password warning %v", tt.in, warnings, tt.warn)
		}
		if s.SSLMode != SSLPreferred {
			t.Errorf("ParseURL(%q) ssl mode %q", tt.in, s.SSLMode)
		}
	}
}

func TestURLErrorsHidePassword(t *testing.T) {
	for _, in := range []string{
		"mysql://repl:hunter2@db:notaport",
		"mysql://repl:hunter2@db?bad=1",
		"mysql://repl:hunter2@[db]",
		"mysql://repl:hun/ter2@db",
		"mysql://repl:hunter2@db/x/y",
	} {
		_, _, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q): want an error", in)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
			t.Errorf("error shows the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), `invalid connection url "mysql://repl:xxxxx@`) {
			t.Errorf("error = %v", err)
		}
	}
	var s Spec
	s.Password = "hunter2"
	if strings.Contains(s.GoString(), "hunter2") {
		t.Error("GoString shows the password")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://u:pw@h":          "mysql://u:xxxxx@h",
		"mysql://u@h":             "mysql://u@h",
		"mysql://u:p@w@unix(/s)":  "mysql://u:xxxxx@unix(/s)",
		"not a url":               "not a url",
		"mysql://h:3306":          "mysql://h:3306",
		"mysql://u:pw@h/db?x=y@z": "mysql://u:xxxxx@z",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseURL: the parser never panics, never puts the password in an
// error or in String, and String parses back to the same connection.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"mysql://repl@127.0.0.1:3307", "mysql://u:p@[::1]:3306/db?connect-timeout=5s",
		"mysql://u@unix(/tmp/s.sock)/db", "mysql://u:p@ss@h", "mysql://", "mysql://u@h/a%20b",
		"mysql://u:@unix())", "mysql://u@unix(/a)/b)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, _, err := ParseURL(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid connection url ") && !strings.HasPrefix(err.Error(), "mysql://") {
				t.Fatalf("error does not say what failed: %v", err)
			}
			return
		}
		if s.Password != "" && len(s.Password) > 3 && strings.Contains(s.String(), s.Password) {
			t.Fatalf("String %q shows password %q", s.String(), s.Password)
		}
		again, _, err := ParseURL(s.String())
		if err != nil {
			// A socket path may hold ")/" and then cannot be printed back
			// unambiguously; nothing else may fail.
			if strings.Contains(s.Socket, ")") {
				return
			}
			t.Fatalf("ParseURL(%q).String() = %q does not parse: %v", in, s.String(), err)
		}
		a, b := *s, *again
		a.Password, a.PasswordSource, a.ConnectTimeout, a.tls = "", "", 0, nil
		b.tls = nil
		if a != b {
			t.Fatalf("round trip of %q via %q: %#v != %#v", in, s.String(), b, a)
		}
	})
}
