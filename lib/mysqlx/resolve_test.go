package mysqlx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolvePrecedence(t *testing.T) {
	file := writeOptionFile(t, `
[client]
user = fileuser
password = filepw
host = filehost
port = 3310
database = filedb
[dr]
password = drpw
`, 0o600)
	tests := []struct {
		name     string
		url      string
		env      map[string]string
		wantUser string
		wantPW   string
		wantSrc  string
		wantAddr string
		wantDB   string
	}{
		{name: "file fills gaps", url: "mysql://", wantUser: "fileuser", wantPW: "drpw", wantSrc: "option file " + file, wantAddr: "filehost:3310", wantDB: "filedb"},
		{name: "url beats file", url: "mysql://urluser@urlhost:3999/urldb", wantUser: "urluser", wantPW: "drpw", wantSrc: "option file " + file, wantAddr: "urlhost:3999", wantDB: "urldb"},
		{name: "file port with url host", url: "mysql://u@urlhost", wantUser: "u", wantPW: "drpw", wantSrc: "option file " + file, wantAddr: "urlhost:3310", wantDB: "filedb"},
		{name: "MYSQL_PWD beats file", url: "mysql://u@h:1", env: map[string]string{"MYSQL_PWD": "mpw"}, wantUser: "u", wantPW: "mpw", wantSrc: "MYSQL_PWD", wantAddr: "h:1", wantDB: "filedb"},
		{name: "DR_PASSWORD beats MYSQL_PWD", url: "mysql://u@h:1", env: map[string]string{"MYSQL_PWD": "mpw", "DR_PASSWORD": "dpw"}, wantUser: "u", wantPW: "dpw", wantSrc: "DR_PASSWORD", wantAddr: "h:1", wantDB: "filedb"},
		{name: "url beats all", url: "mysql://u:upw@h:1", env: map[string]string{"DR_PASSWORD": "dpw"}, wantUser: "u", wantPW: "upw", wantSrc: "url", wantAddr: "h:1", wantDB: "filedb"},
		{name: "url socket beats file host", url: "mysql://u@unix(/s.sock)", wantUser: "u", wantPW: "drpw", wantSrc: "option file " + file, wantAddr: "/s.sock", wantDB: "filedb"},
	}
	for _, tt := range tests {
		s, _, err := ConnFlags{DefaultsFile: file}.Resolve(tt.url, envOf(tt.env))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		_, addr := s.Addr()
		if s.User != tt.wantUser || s.Password != tt.wantPW || s.PasswordSource != tt.wantSrc || addr != tt.wantAddr || s.DB != tt.wantDB {
			t.Errorf("%s: got user %q pw %q (%s) addr %q db %q", tt.name, s.User, s.Password, s.PasswordSource, addr, s.DB)
		}
	}
}

func TestResolveSocketFromFile(t *testing.T) {
	file := writeOptionFile(t, "[client]\nuser=u\nhost=localhost\nsocket=/run/m.sock\nport=3307\n", 0o600)
	s, _, err := ConnFlags{DefaultsFile: file}.Resolve("mysql://", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Socket != "/run/m.sock" || s.Port != 0 || s.String() != "mysql://u@unix(/run/m.sock)" {
		t.Errorf("got %s port %d", s, s.Port)
	}
	file = writeOptionFile(t, "[client]\nuser=u\nhost=db2\nsocket=/run/m.sock\n", 0o600)
	s, _, err = ConnFlags{DefaultsFile: file}.Resolve("mysql://", envOf(nil))
	if err != nil || s.Host != "db2" || s.Port != 3306 {
		t.Errorf("got %v, %v", s, err)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		file    string
		flags   ConnFlags
		url     string
		wantErr string
	}{
		{file: "[client]\nport=x\n", url: "mysql://u@h", wantErr: "line 2: port \"x\""},
		{file: "[client]\nssl-mode=SOMETIMES\n", url: "mysql://u@h", wantErr: `line 2: invalid ssl-mode "SOMETIMES"`},
		{file: "[client]\nconnect-timeout=x\n", url: "mysql://u@h", wantErr: "line 2: connect-timeout"},
		{file: "[client]\nskip-ssl=maybe\n", url: "mysql://u@h", wantErr: `"maybe" is not a boolean`},
		{flags: ConnFlags{SSLMode: "sometimes"}, url: "mysql://u@h", wantErr: `mysql://u@h:3306: invalid ssl-mode "sometimes"`},
		{flags: ConnFlags{SSLCert: "/c.pem"}, url: "mysql://u@h", wantErr: "ssl-cert and ssl-key must be given together"},
		{flags: ConnFlags{SSLCA: "/nonexistent/ca.pem"}, url: "mysql://u@h", wantErr: "ssl-ca: open /nonexistent/ca.pem"},
		{flags: ConnFlags{SSLMode: "VERIFY_IDENTITY"}, url: "mysql://u@unix(/s)", wantErr: "needs a host name"},
		{url: "mysql://", wantErr: `invalid connection url "mysql://": no user name`},
		{url: "mysql://u@", wantErr: `invalid connection url "mysql://u@": no host`},
	}
	for _, tt := range tests {
		f := tt.flags
		if tt.file != "" {
			f.DefaultsFile = writeOptionFile(t, tt.file, 0o600)
		}
		_, _, err := f.Resolve(tt.url, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%q %+v: error = %v, want one containing %q", tt.file, tt.flags, err, tt.wantErr)
		}
	}
}

func TestResolveWarnings(t *testing.T) {
	file := writeOptionFile(t, "!include /etc/x.cnf\n[client]\npassword\n", 0o600)
	s, w, err := ConnFlags{DefaultsFile: file}.Resolve("mysql://u:pw@h", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 2 || w[0] != WarnPasswordInURL || !strings.Contains(w[1], "!include is not followed") {
		t.Errorf("warnings %q", w)
	}
	if s.Password != "pw" {
		t.Errorf("password %q", s.Password)
	}
	_, w, err = ConnFlags{DefaultsFile: file}.Resolve("mysql://u@h", envOf(nil))
	if err != nil || len(w) != 2 || !strings.Contains(w[1], "password without a value is ignored") {
		t.Errorf("warnings %q, %v", w, err)
	}
}

func TestEnvFor(t *testing.T) {
	env := envOf(map[string]string{"DR_PASSWORD": "common", "DR_TARGET_PASSWORD": "target"})
	s, _, err := ConnFlags{}.Resolve("mysql://u@h", EnvFor("TARGET_", env))
	if err != nil || s.Password != "target" || s.PasswordSource != "DR_PASSWORD" {
		t.Errorf("target: %q %q %v", s.Password, s.PasswordSource, err)
	}
	s, _, err = ConnFlags{}.Resolve("mysql://u@h", EnvFor("SOURCE_", env))
	if err != nil || s.Password != "common" {
		t.Errorf("source falls back: %q %v", s.Password, err)
	}
}

func TestResolveTLSModes(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestCerts(t, dir)
	tests := []struct {
		name  string
		flags ConnFlags
		file  string
		url   string
		want  SSLMode
		check func(t *testing.T, s *Spec)
	}{
		{name: "default", want: SSLPreferred},
		{name: "ca implies verify_ca", flags: ConnFlags{SSLCA: ca}, want: SSLVerifyCA},
		{name: "flag lower case", flags: ConnFlags{SSLMode: "required"}, want: SSLRequired},
		{name: "flag beats file", flags: ConnFlags{SSLMode: "DISABLED"}, file: "[client]\nssl-mode=REQUIRED\n", want: SSLDisabled},
		{name: "file mode", file: "[client]\nssl-mode=VERIFY_IDENTITY\nssl-ca=" + ca + "\n", want: SSLVerifyIdentity},
		{name: "mariadb skip-ssl", file: "[client]\nskip-ssl\n", want: SSLDisabled},
		{name: "mariadb ssl", file: "[client]\nssl\n", want: SSLRequired},
		{name: "mariadb ssl=0", file: "[client]\nssl=0\n", want: SSLDisabled},
		{name: "mariadb verify", file: "[client]\nssl-verify-server-cert\n", want: SSLVerifyIdentity},
		{name: "client cert", flags: ConnFlags{SSLCert: cert, SSLKey: key, SSLMode: "REQUIRED"}, want: SSLRequired,
			check: func(t *testing.T, s *Spec) {
				c, err := s.TLSConfig()
				if err != nil || len(c.Certificates) != 1 || !c.InsecureSkipVerify {
					t.Errorf("tls config %+v, %v", c, err)
				}
			}},
		{name: "disabled has no config", flags: ConnFlags{SSLMode: "DISABLED"}, want: SSLDisabled,
			check: func(t *testing.T, s *Spec) {
				if c, err := s.TLSConfig(); c != nil || err != nil {
					t.Errorf("tls config %+v, %v", c, err)
				}
			}},
		{name: "verify identity names the host", flags: ConnFlags{SSLMode: "VERIFY_IDENTITY"}, url: "mysql://u@db.example.com", want: SSLVerifyIdentity,
			check: func(t *testing.T, s *Spec) {
				c, _ := s.TLSConfig()
				if c.ServerName != "db.example.com" || c.InsecureSkipVerify {
					t.Errorf("tls config %+v", c)
				}
			}},
		{name: "preferred socket", url: "mysql://u@unix(/s)", want: SSLPreferred,
			check: func(t *testing.T, s *Spec) {
				if use, _ := s.useTLS(true); use {
					t.Error("PREFERRED uses TLS on a socket")
				}
			}},
	}
	for _, tt := range tests {
		f := tt.flags
		if tt.file != "" {
			f.DefaultsFile = writeOptionFile(t, tt.file, 0o600)
		}
		url := tt.url
		if url == "" {
			url = "mysql://u@h"
		}
		s, _, err := f.Resolve(url, envOf(nil))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if s.SSLMode != tt.want {
			t.Errorf("%s: mode %s, want %s", tt.name, s.SSLMode, tt.want)
		}
		if tt.check != nil {
			tt.check(t, s)
		}
	}
}

// TestKongEmbedding shows the flags embed twice with prefixes, and the
// environment variable follows the prefix.
func TestKongEmbedding(t *testing.T) {
	var cli struct {
		Source string    `name:"source"`
		Target string    `name:"target"`
		Src    ConnFlags `embed:"" prefix:"source-"`
		Tgt    ConnFlags `embed:"" prefix:"target-" set:"dr_env_prefix=TARGET_"`
	}
	t.Setenv("DR_TARGET_DEFAULTS_FILE", "/etc/dr/target.cnf")
	t.Setenv("DR_DEFAULTS_FILE", "/etc/dr/source.cnf")
	p, err := kong.New(&cli, kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Parse([]string{"--source=mysql://a@h1", "--target=mysql://b@h2", "--target-ssl-mode=REQUIRED", "--source-ssl-ca=/ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	if cli.Tgt.SSLMode != "REQUIRED" || cli.Src.SSLCA != "/ca.pem" {
		t.Errorf("flags: %+v %+v", cli.Src, cli.Tgt)
	}
	if cli.Tgt.DefaultsFile != "/etc/dr/target.cnf" || cli.Src.DefaultsFile != "/etc/dr/source.cnf" {
		t.Errorf("env: source %q target %q", cli.Src.DefaultsFile, cli.Tgt.DefaultsFile)
	}
}

// writeTestCerts writes a self-signed CA and a leaf for "localhost" and
// 127.0.0.1 signed by it; it returns the CA, leaf cert and leaf key paths.
func writeTestCerts(t testing.TB, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dr test ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(leafKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}
