package mysqlx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Kind classifies a failed connection.
type Kind int

// The kinds of ConnError.
const (
	KindOther    Kind = iota // protocol trouble, unsupported server, ...
	KindConnect              // cannot reach the server or it went away: a retry may help
	KindAuth                 // access denied
	KindTLS                  // TLS set-up or certificate check failed, or the server has no TLS
	KindCanceled             // the caller's context was canceled
)

// ConnError is a failed Dial: one clean line naming the server, and the
// root cause (a *mysql.MyError, a net error, a context error...) for
// errors.Is and errors.As.
type ConnError struct {
	Server string // the Spec's String: a URL without password
	Msg    string // lower-case, one line
	Hint   string // advice for a "hint:" line, or ""
	Kind   Kind
	Err    error
}

func (e *ConnError) Error() string { return "connect " + e.Server + ": " + e.Msg }
func (e *ConnError) Unwrap() error { return e.Err }

// connError turns what go-mysql returns (wrapped in pingcap/errors, with
// stack traces when printed with %+v) into a ConnError.
func (s *Spec) connError(err error, ctx context.Context, timeout time.Duration) error {
	e := &ConnError{Server: s.String(), Err: err}
	var (
		myErr   *mysql.MyError
		tlsE    *tlsError
		dnsErr  *net.DNSError
		verr    *tls.CertificateVerificationError
		alert   tls.AlertError
		rhe     tls.RecordHeaderError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		cinv    x509.CertificateInvalidError
		errno   syscall.Errno
	)
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		e.Kind, e.Msg, e.Err = KindCanceled, "canceled", ctx.Err()
	case ctx.Err() != nil:
		e.Kind, e.Msg, e.Err = KindConnect, "deadline exceeded", ctx.Err()
	case errors.As(err, &myErr):
		e.Err = myErr
		e.Msg = cleanLine(myErr.Message)
		switch {
		case isAuthCode(myErr.Code):
			e.Kind = KindAuth
			e.Hint = s.passwordHint()
		case isConnectCode(myErr.Code):
			e.Kind = KindConnect
		}
	case errors.As(err, &tlsE):
		e.Kind, e.Msg, e.Err = KindTLS, tlsE.Error(), tlsE.err
	case errors.As(err, &verr), errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &cinv):
		e.Kind, e.Msg = KindTLS, "tls: "+cleanLine(strings.TrimPrefix(rootMsg(err), "tls: "))
		e.Hint = "check --ssl-ca and --ssl-mode (VERIFY_IDENTITY needs the host name in the certificate)"
	case errors.As(err, &alert), errors.As(err, &rhe):
		e.Kind, e.Msg = KindTLS, "tls handshake failed: "+cleanLine(strings.TrimPrefix(rootMsg(err), "tls: "))
	case isTimeout(err):
		e.Kind, e.Msg, e.Err = KindConnect, fmt.Sprintf("timed out after %s", timeout), context.DeadlineExceeded
	case errors.As(err, &dnsErr):
		e.Kind, e.Err = KindConnect, dnsErr
		e.Msg = fmt.Sprintf("cannot resolve host %q: %s", dnsErr.Name, cleanLine(dnsErr.Err))
	case errors.As(err, &errno):
		e.Kind, e.Err = KindConnect, errno
		switch {
		case errno == syscall.ENOENT && s.Socket != "":
			e.Msg = "no socket at " + s.Socket + " (is the server running?)"
		case errno == syscall.EACCES && s.Socket != "":
			e.Msg = "permission denied on socket " + s.Socket
		default:
			e.Msg = errno.Error()
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, mysql.ErrBadConn):
		e.Kind, e.Msg = KindConnect, "the server closed the connection during the handshake"
	default:
		e.Msg = cleanLine(rootMsg(err))
		var ne net.Error
		if errors.As(err, &ne) {
			e.Kind = KindConnect
		}
	}
	return e
}

// passwordHint says where the password came from, the first thing to
// check after "access denied".
func (s *Spec) passwordHint() string {
	if s.PasswordSource == "" {
		return "no password was given; use --defaults-file or DR_PASSWORD"
	}
	return "the password came from " + s.PasswordSource
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rootMsg is the message of the innermost error: go-mysql prefixes its own
// ("handleAuthResult: ...") and pingcap/errors adds stacks, none of which
// helps the reader.
func rootMsg(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// cleanLine makes a server or library message fit an error line: one line,
// lower-case first letter unless the word is an acronym.
func cleanLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	r, n := utf8.DecodeRuneInString(s)
	if unicode.IsUpper(r) {
		r2, _ := utf8.DecodeRuneInString(s[n:])
		if !unicode.IsUpper(r2) {
			s = string(unicode.ToLower(r)) + s[n:]
		}
	}
	return s
}

// Server error codes by what the commands do about them.
var (
	authCodes = map[uint16]bool{
		mysql.ER_DBACCESS_DENIED_ERROR:           true, // 1044
		mysql.ER_ACCESS_DENIED_ERROR:             true, // 1045
		mysql.ER_HOST_NOT_PRIVILEGED:             true, // 1130
		mysql.ER_TABLEACCESS_DENIED_ERROR:        true, // 1142
		mysql.ER_COLUMNACCESS_DENIED_ERROR:       true, // 1143
		mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR:    true, // 1227, e.g. REPLICATION SLAVE missing
		mysql.ER_NOT_SUPPORTED_AUTH_MODE:         true, // 1251
		mysql.ER_PROCACCESS_DENIED_ERROR:         true, // 1370
		mysql.ER_ACCESS_DENIED_NO_PASSWORD_ERROR: true, // 1698
		mysql.ER_MUST_CHANGE_PASSWORD:            true, // 1820
		mysql.ER_MUST_CHANGE_PASSWORD_LOGIN:      true, // 1862
		3118:                                     true, // MySQL ER_ACCOUNT_HAS_BEEN_LOCKED
		4151:                                     true, // MariaDB ER_ACCOUNT_HAS_BEEN_LOCKED
	}
	connectCodes = map[uint16]bool{
		mysql.ER_CON_COUNT_ERROR:           true, // 1040 too many connections
		mysql.ER_HANDSHAKE_ERROR:           true, // 1043
		mysql.ER_SERVER_SHUTDOWN:           true, // 1053
		mysql.ER_HOST_IS_BLOCKED:           true, // 1129
		mysql.ER_NET_READ_ERROR:            true, // 1158
		mysql.ER_NET_READ_INTERRUPTED:      true, // 1159
		mysql.ER_NET_ERROR_ON_WRITE:        true, // 1160
		mysql.ER_NET_WRITE_INTERRUPTED:     true, // 1161
		mysql.ER_TOO_MANY_USER_CONNECTIONS: true, // 1203
		1927:                               true, // MariaDB ER_CONNECTION_KILLED
		2002:                               true, // CR_CONNECTION_ERROR
		2003:                               true, // CR_CONN_HOST_ERROR
		2006:                               true, // CR_SERVER_GONE_ERROR
		2013:                               true, // CR_SERVER_LOST
		3032:                               true, // MySQL ER_SERVER_OFFLINE_MODE
		4031:                               true, // MySQL ER_CLIENT_INTERACTION_TIMEOUT
	}
)

func isAuthCode(c uint16) bool    { return authCodes[c] }
func isConnectCode(c uint16) bool { return connectCodes[c] }

// IsAuth reports whether err is an access or privilege error: wrong
// password, unknown user, host not allowed, missing grant, locked account.
// Retrying will not help; fixing credentials or grants will.
func IsAuth(err error) bool {
	var ce *ConnError
	if errors.As(err, &ce) && ce.Kind == KindAuth {
		return true
	}
	var my *mysql.MyError
	return errors.As(err, &my) && isAuthCode(my.Code)
}

// IsConnect reports whether err means the server could not be reached or
// went away (refused, timed out, unknown host, unreachable, reset, too many
// connections, shutting down): a retry may help. It applies to errors from
// any go-mysql call, not only Dial. A canceled context is not one.
func IsConnect(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ce *ConnError
	if errors.As(err, &ce) {
		return ce.Kind == KindConnect
	}
	var my *mysql.MyError
	if errors.As(err, &my) {
		return isConnectCode(my.Code)
	}
	var ne net.Error
	var errno syscall.Errno
	return errors.As(err, &ne) || errors.As(err, &errno) || isTimeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, mysql.ErrBadConn)
}
