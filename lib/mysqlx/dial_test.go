package mysqlx

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// fakeServer speaks just enough of the MySQL handshake to refuse a login:
// greeting (offering TLS when tlsCfg is set), optional TLS upgrade, then
// ERROR 1045 to whatever the client sends. It reports whether the client
// used TLS.
type fakeServer struct {
	ln      net.Listener
	tlsCfg  *tls.Config
	usedTLS chan bool
}

func startFake(t *testing.T, tlsCfg *tls.Config) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, tlsCfg: tlsCfg, usedTLS: make(chan bool, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeServer) port() string { return f.ln.Addr().(*net.TCPAddr).AddrPort().String() }

func writePacket(w io.Writer, seq byte, payload []byte) error {
	hdr := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	_, err := w.Write(append(hdr, payload...))
	return err
}

func readPacket(r io.Reader) (seq byte, payload []byte, err error) {
	var hdr [4]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return hdr[3], payload, err
}

func greeting(offerTLS bool) []byte {
	caps := uint32(mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION |
		mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_PLUGIN_AUTH)
	if offerTLS {
		caps |= mysql.CLIENT_SSL
	}
	p := []byte{10}
	p = append(p, "5.5.5-10.11.6-MariaDB-fake"...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 42)
	p = append(p, "abcdefgh"...) // scramble part 1
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 45) // charset
	p = binary.LittleEndian.AppendUint16(p, 2)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst"...) // scramble part 2
	p = append(p, 0)
	p = append(p, "mysql_native_password"...)
	return append(p, 0)
}

func (f *fakeServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writePacket(c, 0, greeting(f.tlsCfg != nil)); err != nil {
		return
	}
	var rw io.ReadWriter = c
	seq, p, err := readPacket(rw)
	if err != nil {
		return
	}
	used := false
	if len(p) == 32 && binary.LittleEndian.Uint32(p)&mysql.CLIENT_SSL != 0 {
		tc := tls.Server(c, f.tlsCfg)
		if err := tc.Handshake(); err != nil {
			f.usedTLS <- true
			return
		}
		used = true
		rw = tc
		if seq, _, err = readPacket(rw); err != nil {
			return
		}
	}
	f.usedTLS <- used
	msg := "Access denied for user 'repl'@'localhost' (using password: YES)"
	e := append([]byte{0xff}, binary.LittleEndian.AppendUint16(nil, mysql.ER_ACCESS_DENIED_ERROR)...)
	e = append(e, "#28000"...)
	_ = writePacket(rw, seq+1, append(e, msg...))
}

func resolve(t *testing.T, f ConnFlags, url string, env map[string]string) *Spec {
	t.Helper()
	s, _, err := f.Resolve(url, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDialAuthError(t *testing.T) {
	f := startFake(t, nil)
	s := resolve(t, ConnFlags{}, "mysql://repl@"+f.port(), map[string]string{"DR_PASSWORD": "x"})
	c, err := s.Dial(context.Background())
	if err == nil {
		c.Close()
		t.Fatal("want an error")
	}
	want := "connect mysql://repl@" + f.port() + ": access denied for user 'repl'@'localhost' (using password: YES)"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	if !IsAuth(err) || IsConnect(err) {
		t.Errorf("IsAuth %v IsConnect %v", IsAuth(err), IsConnect(err))
	}
	var ce *ConnError
	var my *mysql.MyError
	if !errors.As(err, &ce) || ce.Hint != "the password came from DR_PASSWORD" || !errors.As(err, &my) || my.Code != 1045 {
		t.Errorf("ConnError %+v", ce)
	}
	if used := <-f.usedTLS; used {
		t.Error("PREFERRED used TLS with a server that does not offer it")
	}
}

func TestDialRequiredWithoutServerTLS(t *testing.T) {
	f := startFake(t, nil)
	s := resolve(t, ConnFlags{SSLMode: "REQUIRED"}, "mysql://repl@"+f.port(), nil)
	_, err := s.Dial(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) || ce.Kind != KindTLS || !strings.Contains(err.Error(), "ssl-mode REQUIRED needs tls but the server does not offer it") {
		t.Fatalf("error = %v", err)
	}
	if IsConnect(err) || IsAuth(err) {
		t.Error("misclassified")
	}
}

func TestDialTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestCerts(t, dir)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	f := startFake(t, &tls.Config{Certificates: []tls.Certificate{pair}})
	otherCA, _, _ := writeTestCerts(t, t.TempDir())
	port := f.ln.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name    string
		flags   ConnFlags
		host    string
		wantTLS bool
		wantErr string // "" means the fake's access denied
		kind    Kind
	}{
		{name: "preferred upgrades", flags: ConnFlags{}, host: "127.0.0.1", wantTLS: true},
		{name: "required", flags: ConnFlags{SSLMode: "REQUIRED"}, host: "127.0.0.1", wantTLS: true},
		{name: "disabled", flags: ConnFlags{SSLMode: "DISABLED"}, host: "127.0.0.1", wantTLS: false},
		{name: "verify_ca good", flags: ConnFlags{SSLCA: ca}, host: "127.0.0.1", wantTLS: true},
		{name: "verify_ca wrong ca", flags: ConnFlags{SSLCA: otherCA}, host: "127.0.0.1", wantErr: "tls: ", kind: KindTLS},
		{name: "verify_identity good", flags: ConnFlags{SSLCA: ca, SSLMode: "VERIFY_IDENTITY"}, host: "localhost", wantTLS: true},
		{name: "verify_identity wrong name", flags: ConnFlags{SSLCA: ca, SSLMode: "VERIFY_IDENTITY"}, host: "127.0.0.1", wantErr: "tls: ", kind: KindTLS},
	}
	for _, tt := range tests {
		s := resolve(t, tt.flags, "mysql://repl@"+tt.host+":"+itoa(port), nil)
		_, err := s.Dial(context.Background())
		used := <-f.usedTLS
		var ce *ConnError
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %v", tt.name, err)
			continue
		}
		if tt.wantErr != "" {
			if ce.Kind != tt.kind || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %q kind %d", tt.name, err, ce.Kind)
			}
			continue
		}
		if ce.Kind != KindAuth {
			t.Errorf("%s: error %q", tt.name, err)
		}
		if used != tt.wantTLS {
			t.Errorf("%s: used TLS %v, want %v", tt.name, used, tt.wantTLS)
		}
	}

	// NegotiateTLS for code that dials by itself.
	s := resolve(t, ConnFlags{}, "mysql://repl@127.0.0.1:"+itoa(port), nil)
	cfg, err := s.NegotiateTLS(context.Background())
	if err != nil || cfg == nil {
		t.Errorf("NegotiateTLS with a TLS server: %v, %v", cfg, err)
	}
	plain := startFake(t, nil)
	s = resolve(t, ConnFlags{}, "mysql://repl@"+plain.port(), nil)
	cfg, err = s.NegotiateTLS(context.Background())
	if err != nil || cfg != nil {
		t.Errorf("NegotiateTLS with a plain server: %v, %v", cfg, err)
	}
	sc, err := s.SyncerConfig(context.Background())
	if err != nil || sc.Host != "127.0.0.1" || sc.Port == 0 || sc.User != "repl" || sc.TLSConfig != nil {
		t.Errorf("SyncerConfig: %+v, %v", sc, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := resolve(t, ConnFlags{}, "mysql://repl@"+addr, nil)
	_, err = s.Dial(context.Background())
	if err == nil || !IsConnect(err) || IsAuth(err) {
		t.Fatalf("error %v, IsConnect %v", err, IsConnect(err))
	}
	if want := "connect mysql://repl@" + addr + ": connection refused"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestDialMissingSocket(t *testing.T) {
	sock := t.TempDir() + "/none.sock"
	s := resolve(t, ConnFlags{}, "mysql://root@unix("+sock+")", nil)
	_, err := s.Dial(context.Background())
	if err == nil || !IsConnect(err) || !strings.Contains(err.Error(), "no socket at "+sock) {
		t.Fatalf("error %v", err)
	}
}

func TestDialUnknownHost(t *testing.T) {
	s := resolve(t, ConnFlags{}, "mysql://repl@no-such-host.invalid:3306", nil)
	_, err := s.Dial(context.Background(), WithConnectTimeout(5*time.Second))
	if err == nil || !IsConnect(err) {
		t.Fatalf("error %v", err)
	}
	// A resolver that does not answer gives a timeout instead; both are
	// connection failures.
	if !strings.Contains(err.Error(), `cannot resolve host "no-such-host.invalid"`) && !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error %v", err)
	}
}

// silentServer accepts and never speaks, like a half-dead host.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}

func TestDialTimeout(t *testing.T) {
	addr := silentServer(t)
	s := resolve(t, ConnFlags{}, "mysql://repl@"+addr, nil)
	start := time.Now()
	_, err := s.Dial(context.Background(), WithConnectTimeout(200*time.Millisecond))
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	if err == nil || !IsConnect(err) || err.Error() != "connect mysql://repl@"+addr+": timed out after 200ms" {
		t.Fatalf("error %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("not a deadline error")
	}
	// The URL's timeout beats the program's.
	s = resolve(t, ConnFlags{}, "mysql://repl@"+addr+"?connect-timeout=100ms", nil)
	_, err = s.Dial(context.Background(), WithConnectTimeout(time.Hour))
	if err == nil || !strings.HasSuffix(err.Error(), "timed out after 100ms") {
		t.Fatalf("error %v", err)
	}
}

func TestDialCancel(t *testing.T) {
	addr := silentServer(t)
	s := resolve(t, ConnFlags{}, "mysql://repl@"+addr, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.Dial(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if !errors.Is(err, context.Canceled) || IsConnect(err) {
		t.Fatalf("error %v", err)
	}
	if err.Error() != "connect mysql://repl@"+addr+": canceled" {
		t.Errorf("error %q", err)
	}
}

func TestGreetingOffersTLS(t *testing.T) {
	if greetingOffersTLS(greeting(false)) || !greetingOffersTLS(greeting(true)) {
		t.Error("capability flag misread")
	}
	for _, p := range [][]byte{nil, {10}, {10, 'x'}, {0xff, 0x15, 0x04}, greeting(true)[:20]} {
		if greetingOffersTLS(p) {
			t.Errorf("%q offers TLS", p)
		}
	}
}

func TestIsConnectGeneric(t *testing.T) {
	if !IsConnect(io.ErrUnexpectedEOF) || !IsConnect(&mysql.MyError{Code: 1040}) || IsConnect(&mysql.MyError{Code: 1064}) {
		t.Error("generic classification")
	}
	if !IsAuth(&mysql.MyError{Code: 1227}) || IsAuth(&mysql.MyError{Code: 1064}) || IsAuth(nil) || IsConnect(nil) {
		t.Error("auth classification")
	}
	if IsConnect(context.Canceled) {
		t.Error("canceled is not a connection failure")
	}
}
