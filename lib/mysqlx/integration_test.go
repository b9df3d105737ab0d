package mysqlx

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/dr-mysql/dr/lib/position"
)

// TestIntegration dials a real server and inspects it. It runs only when
// DR_TEST_MYSQL_URL names one (e.g. mysql://root@127.0.0.1:33907 from
// scripts/dr-sandbox); the password, if any, comes from DR_PASSWORD or
// DR_TEST_MYSQL_DEFAULTS_FILE, as for the commands. With DR_TEST_MYSQL_SSL_CA
// set to the CA of a TLS-enabled server it also checks VERIFY_CA.
func TestIntegration(t *testing.T) {
	raw := os.Getenv("DR_TEST_MYSQL_URL")
	if raw == "" {
		t.Skip("DR_TEST_MYSQL_URL not set")
	}
	flags := ConnFlags{DefaultsFile: os.Getenv("DR_TEST_MYSQL_DEFAULTS_FILE")}
	spec, _, err := flags.Resolve(raw, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := spec.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := Inspect(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s, log_bin %v, binlog_format %s, checksum %s, gtid %q, read_only %v",
		spec, srv, srv.LogBin, srv.BinlogFormat, srv.BinlogChecksum, srv.GTIDSet, srv.ReadOnly)
	if srv.Version == "" || srv.Major == 0 || srv.ServerID == 0 || srv.GTIDSet == nil {
		t.Errorf("incomplete: %+v", srv)
	}
	if srv.Flavor != DetectFlavor(c.GetServerVersion(), "") {
		t.Errorf("flavor %s, but the handshake says %q", srv.Flavor, c.GetServerVersion())
	}
	if srv.GTIDSet.Flavor() != srv.Flavor {
		t.Errorf("gtid set flavor %s", srv.GTIDSet.Flavor())
	}
	switch srv.Flavor {
	case position.MariaDB:
		if srv.ServerUUID != "" || srv.GTIDMode != "" {
			t.Errorf("MariaDB with uuid %q gtid_mode %q", srv.ServerUUID, srv.GTIDMode)
		}
	case position.MySQL:
		if _, err := position.ParseUUID(srv.ServerUUID); err != nil {
			t.Error(err)
		}
	}
	if srv.LogBin {
		pos, err := CurrentPos(c, srv)
		if err != nil {
			t.Logf("current pos (needs REPLICATION CLIENT or BINLOG MONITOR): %v", err)
		} else if _, ok := position.Index(pos.File); !ok || pos.Offset < 4 {
			t.Errorf("current pos %v", pos)
		} else {
			t.Logf("current pos %v", pos)
		}
	}
	if _, err := GoMySQLGTIDSet(srv.GTIDSet); err != nil {
		t.Error(err)
	}

	t.Run("wrong password", func(t *testing.T) {
		bad := *spec
		bad.Password, bad.PasswordSource = "surely-not-the-password", "test"
		_, err := bad.Dial(ctx)
		if !IsAuth(err) || IsConnect(err) {
			t.Fatalf("error %v: IsAuth %v IsConnect %v", err, IsAuth(err), IsConnect(err))
		}
		t.Log(err)
	})

	t.Run("ssl modes", func(t *testing.T) {
		ca := os.Getenv("DR_TEST_MYSQL_SSL_CA")
		for _, mode := range []string{"DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA"} {
			f := flags
			f.SSLMode = mode
			if mode == "VERIFY_CA" {
				if ca == "" {
					continue
				}
				f.SSLCA = ca
			}
			s, _, err := f.Resolve(raw, os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Dial(ctx)
			var ce *ConnError
			if mode == "REQUIRED" && errors.As(err, &ce) && ce.Kind == KindTLS {
				t.Logf("%s: server has no TLS: %v", mode, err)
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			r, err := c.Execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
			if err != nil {
				t.Fatal(err)
			}
			cipher, _ := r.GetString(0, 1)
			t.Logf("%s: cipher %q", mode, cipher)
			if mode == "DISABLED" && cipher != "" {
				t.Errorf("DISABLED but TLS cipher %q", cipher)
			}
			if (mode == "REQUIRED" || mode == "VERIFY_CA") && cipher == "" {
				t.Errorf("%s without TLS", mode)
			}
			r.Close()
			c.Close()
		}
	})
}
