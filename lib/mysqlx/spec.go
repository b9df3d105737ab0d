package mysqlx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultConnectTimeout bounds dialling plus the handshake when neither
// the URL nor WithConnectTimeout says otherwise.
const DefaultConnectTimeout = 10 * time.Second

// SSLMode is the --ssl-mode of the mysql client.
type SSLMode string

// The modes, with the mysql client's meaning.
const (
	SSLDisabled       SSLMode = "DISABLED"        // plain connection
	SSLPreferred      SSLMode = "PREFERRED"       // TLS when the server offers it, certificate not checked; plain otherwise
	SSLRequired       SSLMode = "REQUIRED"        // TLS or fail, certificate not checked
	SSLVerifyCA       SSLMode = "VERIFY_CA"       // TLS, certificate signed by --ssl-ca (or a system CA)
	SSLVerifyIdentity SSLMode = "VERIFY_IDENTITY" // VERIFY_CA, and the certificate names the host
)

// ParseSSLMode accepts a mode in any case.
func ParseSSLMode(s string) (SSLMode, error) {
	m := SSLMode(strings.ToUpper(strings.TrimSpace(s)))
	switch m {
	case SSLDisabled, SSLPreferred, SSLRequired, SSLVerifyCA, SSLVerifyIdentity:
		return m, nil
	}
	return "", fmt.Errorf("invalid ssl-mode %q: want DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY", s)
}

// Spec is everything needed to connect to one server, resolved from URL,
// option file, environment and flags. Its String never shows the password.
type Spec struct {
	User     string
	Password string // empty: no password
	Host     string // TCP host name or IP address, without brackets; "" when Socket is set
	Port     int    // TCP port; 0 when Socket is set
	Socket   string // unix socket path; "" for TCP
	DB       string // default database, "" for none

	SSLMode SSLMode // never "" after Resolve
	SSLCA   string  // PEM file of CA certificates
	SSLCert string  // PEM client certificate, with SSLKey
	SSLKey  string

	ConnectTimeout time.Duration // from the URL or option file; 0: the Dial default

	// PasswordSource says where Password came from, for hints after an
	// access-denied error: "url", "DR_PASSWORD" (or the variable EnvFor
	// mapped it to), "MYSQL_PWD", "option file F", or "" for none.
	PasswordSource string

	tls *tls.Config // built by Resolve, so that bad files fail early
}

// Addr returns the network ("tcp" or "unix") and address for net.Dial.
func (s *Spec) Addr() (network, address string) {
	if s.Socket != "" {
		return "unix", s.Socket
	}
	return "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// TLSConfig returns a copy of the TLS configuration the mode asks for: nil
// for DISABLED; for PREFERRED the configuration to use if the server offers
// TLS (Dial decides per connection; see NegotiateTLS for code that dials by
// itself).
func (s *Spec) TLSConfig() (*tls.Config, error) {
	if s.tls == nil {
		cfg, err := s.buildTLS()
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	if s.tls == nil {
		return nil, nil
	}
	return s.tls.Clone(), nil
}

// useTLS decides, from what the server's greeting offered, whether this
// connection uses TLS. PREFERRED skips TLS on a unix socket, which is
// already private to the host (the server treats it as secure transport
// too); the other modes ask for TLS whatever the transport.
func (s *Spec) useTLS(serverOffers bool) (bool, error) {
	switch s.mode() {
	case SSLDisabled:
		return false, nil
	case SSLPreferred:
		return serverOffers && s.Socket == "", nil
	}
	if !serverOffers {
		return false, fmt.Errorf("ssl-mode %s needs tls but the server does not offer it", s.mode())
	}
	return true, nil
}

func (s *Spec) mode() SSLMode {
	if s.SSLMode == "" {
		return SSLPreferred
	}
	return s.SSLMode
}

func (s *Spec) buildTLS() (*tls.Config, error) {
	mode := s.mode()
	if mode == SSLDisabled {
		return nil, nil
	}
	cfg := &tls.Config{}
	if s.Socket == "" && net.ParseIP(s.Host) == nil {
		cfg.ServerName = s.Host
	}
	if s.SSLCert != "" || s.SSLKey != "" {
		if s.SSLCert == "" || s.SSLKey == "" {
			return nil, errors.New("ssl-cert and ssl-key must be given together")
		}
		cert, err := tls.LoadX509KeyPair(s.SSLCert, s.SSLKey)
		if err != nil {
			return nil, fmt.Errorf("ssl-cert %s, ssl-key %s: %w", s.SSLCert, s.SSLKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	var roots *x509.CertPool
	if s.SSLCA != "" {
		pem, err := os.ReadFile(s.SSLCA)
		if err != nil {
			return nil, fmt.Errorf("ssl-ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl-ca %s holds no PEM certificate", s.SSLCA)
		}
	}
	switch mode {
	case SSLPreferred, SSLRequired:
		if roots == nil {
			cfg.InsecureSkipVerify = true
			break
		}
		// A CA given with PREFERRED or REQUIRED is used: taking --ssl-ca
		// and then not checking against it would be a trap.
		verifyChainOnly(cfg, roots)
	case SSLVerifyCA:
		verifyChainOnly(cfg, roots)
	case SSLVerifyIdentity:
		if s.Socket != "" {
			return nil, errors.New("ssl-mode VERIFY_IDENTITY needs a host name to check, and a unix socket has none; use VERIFY_CA")
		}
		cfg.RootCAs = roots
		cfg.ServerName = s.Host // an IP address is checked against the certificate's IP SANs
	default:
		return nil, fmt.Errorf("invalid ssl-mode %q", mode)
	}
	return cfg, nil
}

// verifyChainOnly checks that the server certificate chains to roots (the
// system pool when nil) but not which name it carries: VERIFY_CA.
func verifyChainOnly(cfg *tls.Config, roots *x509.CertPool) {
	cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
}
