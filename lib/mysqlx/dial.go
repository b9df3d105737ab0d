package mysqlx

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// DialOption adjusts one Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	timeout    time.Duration
	clientOpts []client.Option
}

// WithConnectTimeout sets the connect timeout for this dial when the URL
// does not give one (?connect-timeout=): the user's word wins over the
// program's default.
func WithConnectTimeout(d time.Duration) DialOption {
	return func(o *dialOptions) { o.timeout = d }
}

// WithClientOptions passes options through to go-mysql's client (charset,
// read timeout, capabilities). They run after mysqlx has set up TLS.
func WithClientOptions(opts ...client.Option) DialOption {
	return func(o *dialOptions) { o.clientOpts = append(o.clientOpts, opts...) }
}

// Dial connects and authenticates. The connect timeout (default 10 s)
// covers dialling, TLS and authentication; ctx may cancel at any point
// until Dial returns, after which it no longer matters. With ssl-mode
// PREFERRED, the decision to use TLS is taken from the capabilities in the
// server's greeting, as the mysql client takes it, on one connection.
//
// Errors are *ConnError: one line naming the server ("connect
// mysql://repl@127.0.0.1:3307: access denied for user 'repl'@'localhost'
// (using password: YES)"), classified by IsAuth and IsConnect.
func (s *Spec) Dial(ctx context.Context, opts ...DialOption) (*client.Conn, error) {
	o := dialOptions{timeout: DefaultConnectTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	timeout := o.timeout
	if s.ConnectTimeout > 0 {
		timeout = s.ConnectTimeout
	}
	tlsCfg, err := s.TLSConfig()
	if err != nil {
		return nil, &ConnError{Server: s.String(), Msg: err.Error(), Err: err, Kind: KindTLS}
	}

	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var (
		mu       sync.Mutex
		raw      net.Conn
		canceled bool
		offers   bool // the greeting offers TLS
	)
	// Once dialled, the socket's deadline is what stops a stuck handshake:
	// go-mysql reads and writes without a context.
	stop := context.AfterFunc(dctx, func() {
		mu.Lock()
		defer mu.Unlock()
		canceled = true
		if raw != nil {
			_ = raw.SetDeadline(time.Unix(1, 0))
		}
	})
	defer stop()

	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		raw = c
		if canceled {
			_ = c.SetDeadline(time.Unix(1, 0))
		} else if d, ok := dctx.Deadline(); ok {
			_ = c.SetDeadline(d)
		}
		mu.Unlock()
		greeting, tlsOffered, err := readGreeting(c)
		if err != nil {
			c.Close()
			return nil, err
		}
		offers = tlsOffered
		return &replayConn{Conn: c, pending: greeting}, nil
	}
	tlsOpt := func(c *client.Conn) error {
		use, err := s.useTLS(offers)
		if err != nil {
			return &tlsError{err}
		}
		if use {
			c.SetTLSConfig(tlsCfg)
		}
		return nil
	}
	// QueryRaw writes COM_QUERY itself, in the form without query
	// attributes; MySQL 8.0.23+ would read a query as attributes if they
	// were negotiated.
	noAttrs := func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		return nil
	}
	network, addr := s.Addr()
	conn, err := client.ConnectWithDialer(dctx, network, addr, s.User, s.Password, s.DB, dialer,
		append([]client.Option{tlsOpt, noAttrs}, o.clientOpts...)...)
	if err == nil && !stop() {
		// The deadline fired as the handshake finished: the connection
		// may be half-dead, and the caller asked to stop anyway.
		conn.Close()
		conn, err = nil, dctx.Err()
	}
	if err != nil {
		return nil, s.connError(err, ctx, timeout)
	}
	_ = raw.SetDeadline(time.Time{})
	return conn, nil
}

type tlsError struct{ err error }

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// readGreeting reads the server's first packet and reports whether it
// offers TLS (CLIENT_SSL), so that PREFERRED can decide before go-mysql
// sends its reply. Anything unexpected is left for go-mysql to report:
// the bytes are replayed to it unchanged.
func readGreeting(c net.Conn) (pkt []byte, tlsOffered bool, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, false, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n > 1<<16 {
		return nil, false, fmt.Errorf("not a mysql server: greeting of %d bytes", n)
	}
	pkt = make([]byte, 4+n)
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(c, pkt[4:]); err != nil {
		return nil, false, err
	}
	return pkt, greetingOffersTLS(pkt[4:]), nil
}

// greetingOffersTLS reads the lower capability flags of a protocol-10
// handshake: version byte, NUL-terminated server version, connection id
// (4), scramble (8), filler (1), then the flags (2).
func greetingOffersTLS(p []byte) bool {
	if len(p) == 0 || p[0] != mysql.ClassicProtocolVersion {
		return false
	}
	i := 1
	for i < len(p) && p[i] != 0 {
		i++
	}
	i += 1 + 4 + 8 + 1
	if i+2 > len(p) {
		return false
	}
	return uint32(binary.LittleEndian.Uint16(p[i:]))&mysql.CLIENT_SSL != 0
}

// replayConn hands back the greeting readGreeting consumed, then reads on.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// NegotiateTLS returns the TLS configuration for a connection that code
// other than Dial makes, such as go-mysql's BinlogSyncer, which takes a
// fixed *tls.Config: nil for DISABLED; for PREFERRED it reads the server's
// greeting on a short connection of its own and returns nil when the
// server offers no TLS (or on a unix socket), the configuration otherwise.
// The other modes need no connection.
func (s *Spec) NegotiateTLS(ctx context.Context) (*tls.Config, error) {
	cfg, err := s.TLSConfig()
	if err != nil || cfg == nil {
		return nil, err
	}
	if s.mode() != SSLPreferred {
		return cfg, nil
	}
	if s.Socket != "" {
		return nil, nil
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout(DefaultConnectTimeout))
	defer cancel()
	network, addr := s.Addr()
	c, err := (&net.Dialer{}).DialContext(dctx, network, addr)
	if err != nil {
		return nil, s.connError(err, ctx, s.timeout(DefaultConnectTimeout))
	}
	defer c.Close()
	if d, ok := dctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	_, offers, err := readGreeting(c)
	if err != nil {
		return nil, s.connError(err, ctx, s.timeout(DefaultConnectTimeout))
	}
	if !offers {
		return nil, nil
	}
	return cfg, nil
}

func (s *Spec) timeout(def time.Duration) time.Duration {
	if s.ConnectTimeout > 0 {
		return s.ConnectTimeout
	}
	return def
}

// SyncerConfig returns a go-mysql BinlogSyncerConfig with the connection
// fields filled in (Host, Port, User, Password, TLSConfig, with a unix
// socket as Host and Port 0, which is how go-mysql takes one). The caller
// adds ServerID, Flavor and the rest. TLS for PREFERRED is settled now, by
// NegotiateTLS, because the syncer reconnects with a fixed configuration.
func (s *Spec) SyncerConfig(ctx context.Context) (replication.BinlogSyncerConfig, error) {
	tlsCfg, err := s.NegotiateTLS(ctx)
	if err != nil {
		return replication.BinlogSyncerConfig{}, err
	}
	cfg := replication.BinlogSyncerConfig{
		Host:      s.Host,
		Port:      uint16(s.Port),
		User:      s.User,
		Password:  s.Password,
		TLSConfig: tlsCfg,
	}
	if s.Socket != "" {
		cfg.Host, cfg.Port = s.Socket, 0
	}
	return cfg, nil
}
