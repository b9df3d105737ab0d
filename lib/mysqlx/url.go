// Package mysqlx turns what a user types (a mysql:// URL, an option file,
// environment variables, TLS flags) into a connection to a MySQL or MariaDB
// server, and tells the commands what kind of server they reached and why a
// connection failed, in one clean line.
package mysqlx

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the port used when neither the URL nor the option file
// gives one.
const DefaultPort = 3306

// WarnPasswordInURL is the warning Resolve and ParseURL return when the URL
// carries a password, which other users can read in ps and shell history.
const WarnPasswordInURL = "password given on the command line; use --defaults-file or DR_PASSWORD"

// url is what a mysql:// URL says, with a note of what it left out so that
// an option file may fill the gaps.
type connURL struct {
	user        string
	password    string
	hasPassword bool
	host        string // without brackets
	port        int    // 0 when not given
	socket      string
	db          string
	timeout     time.Duration // from ?connect-timeout=, 0 when not given
}

// Redact returns raw with any password in it replaced by "xxxxx", for
// echoing a URL the user typed. It works on text that does not parse too,
// treating everything between "://" and the last "@" as user:password.
func Redact(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	c := strings.IndexByte(rest[:at], ':')
	if c < 0 {
		return raw
	}
	return raw[:i+3] + rest[:c] + ":xxxxx" + rest[at:]
}

// parseURL parses the URL forms of DESIGN.md:
//
//	mysql://user@host:port        mysql://user@host (port from the option file, else 3306)
//	mysql://user@[::1]:3306       mysql://user@unix(/path/to.sock)
//	mysql://user@host/dbname      mysql://user@host?connect-timeout=5s
//	mysql://user:pass@host        (accepted, with WarnPasswordInURL)
//	mysql://  mysql://user@       (user, host or both from the option file)
//
// User and password may be percent-encoded; a password holding '@', '/'
// or '?' must be.
func parseURL(raw string) (*connURL, error) {
	u, err := parseURLInner(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid connection url %q: %w", Redact(raw), err)
	}
	return u, nil
}

func parseURLInner(raw string) (*connURL, error) {
	const scheme = "mysql://"
	if len(raw) < len(scheme) || !strings.EqualFold(raw[:len(scheme)], scheme) {
		if strings.Contains(raw, "://") {
			return nil, fmt.Errorf("scheme must be mysql://")
		}
		return nil, fmt.Errorf("want mysql://user@host:port or mysql://user@unix(/path/to.sock)")
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return nil, fmt.Errorf("control character in url")
		}
	}
	rest := raw[len(scheme):]
	u := &connURL{}

	// Split off the user info. A socket path holds slashes, so the unix()
	// form is found first; otherwise, as in RFC 3986, the authority ends
	// at the first '/' or '?' and the user info at its last '@'.
	var userinfo, after string
	hasUserinfo := false
	if strings.HasPrefix(rest, "unix(") {
		after = rest
	} else if k := strings.Index(rest, "@unix("); k >= 0 {
		userinfo, after, hasUserinfo = rest[:k], rest[k+1:], true
	} else {
		end := strings.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
			userinfo, after, hasUserinfo = rest[:at], rest[at+1:], true
		} else if strings.Contains(rest, "@") {
			// Most likely a password with an unencoded '/' or '?': say so
			// rather than report a "bad port" that quotes part of it.
			return nil, fmt.Errorf("'@' after the host; percent-encode '/', '?' and '@' in a password (better: keep it out of the url)")
		} else {
			after = rest
		}
	}
	if hasUserinfo {
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if u.user, err = url.PathUnescape(user); err != nil {
			return nil, fmt.Errorf("bad percent-encoding in user name")
		}
		if u.user == "" {
			return nil, fmt.Errorf("empty user name before '@'")
		}
		if hasPass {
			if u.password, err = url.PathUnescape(pass); err != nil {
				return nil, fmt.Errorf("bad percent-encoding in password")
			}
			u.hasPassword = true
		}
	}

	// Host part.
	if strings.HasPrefix(after, "unix(") {
		close := -1
		for i := len("unix("); i < len(after); i++ {
			if after[i] == ')' && (i+1 == len(after) || after[i+1] == '/' || after[i+1] == '?') {
				close = i
				break
			}
		}
		if close < 0 {
			return nil, fmt.Errorf("unix( without a closing )")
		}
		u.socket = after[len("unix("):close]
		if u.socket == "" {
			return nil, fmt.Errorf("empty socket path in unix()")
		}
		after = after[close+1:]
	} else {
		end := strings.IndexAny(after, "/?")
		if end < 0 {
			end = len(after)
		}
		hostport := after[:end]
		after = after[end:]
		if err := u.parseHostPort(hostport); err != nil {
			return nil, err
		}
	}

	// Database and parameters.
	path, query, hasQuery := strings.Cut(after, "?")
	if path != "" {
		db, err := url.PathUnescape(path[1:]) // path starts with '/'
		if err != nil {
			return nil, fmt.Errorf("bad percent-encoding in database name")
		}
		if strings.Contains(path[1:], "/") {
			return nil, fmt.Errorf("database name %q contains '/'", db)
		}
		u.db = db
	}
	if hasQuery {
		if err := u.parseQuery(query); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (u *connURL) parseHostPort(hp string) error {
	if hp == "" {
		return nil
	}
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		close := strings.IndexByte(hp, ']')
		if close < 0 {
			return fmt.Errorf("'[' without a closing ']'")
		}
		host = hp[1:close]
		if ip := net.ParseIP(host); ip == nil || !strings.Contains(host, ":") {
			return fmt.Errorf("%q in brackets is not an ipv6 address", host)
		}
		rest := hp[close+1:]
		if rest != "" {
			if rest[0] != ':' {
				return fmt.Errorf("unexpected %q after ']'", rest)
			}
			port = rest[1:]
			if port == "" {
				return fmt.Errorf("empty port after ':'")
			}
		}
	} else {
		if strings.Count(hp, ":") > 1 {
			return fmt.Errorf("an ipv6 address must be in brackets, as in mysql://user@[::1]:3306")
		}
		var hasPort bool
		host, port, hasPort = strings.Cut(hp, ":")
		if hasPort && port == "" {
			return fmt.Errorf("empty port after ':'")
		}
		if host == "" {
			return fmt.Errorf("empty host")
		}
		for _, c := range []byte(host) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return fmt.Errorf("host %q: %q is not allowed in a host name", host, string(c))
			}
		}
	}
	u.host = host
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("port %q: want a number from 1 to 65535", port)
		}
		u.port = int(n)
	}
	return nil
}

// parseQuery reads the URL parameters. Unknown ones are refused so that a
// typo does not silently do nothing.
func (u *connURL) parseQuery(q string) error {
	vals, err := url.ParseQuery(q)
	if err != nil {
		return fmt.Errorf("bad parameters: %v", err)
	}
	for k, v := range vals {
		switch k {
		case "connect-timeout":
			d, err := parseTimeout(v[len(v)-1])
			if err != nil {
				return fmt.Errorf("connect-timeout: %w", err)
			}
			u.timeout = d
		default:
			return fmt.Errorf("unknown parameter %q (known: connect-timeout)", k)
		}
	}
	return nil
}

// parseTimeout takes a Go duration ("5s", "1m30s") or, as mysql's
// connect-timeout does, a plain number of seconds.
func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, err2 := strconv.ParseUint(s, 10, 32)
		if err2 != nil {
			return 0, fmt.Errorf("%q: want a duration such as 5s", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration", s)
	}
	return d, nil
}

// String prints the spec as a URL without its password, fit for messages
// and logs: mysql://repl@127.0.0.1:3307, mysql://root@unix(/run/mysqld.sock),
// mysql://u@[::1]:3306/db.
func (s *Spec) String() string {
	if s == nil {
		return "mysql://"
	}
	var b strings.Builder
	b.WriteString("mysql://")
	if s.User != "" {
		b.WriteString(url.User(s.User).String())
		b.WriteByte('@')
	}
	switch {
	case s.Socket != "":
		b.WriteString("unix(" + s.Socket + ")")
	case s.Host != "":
		b.WriteString(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	}
	if s.DB != "" {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s.DB))
	}
	return b.String()
}

// GoString keeps a %#v of a Spec from printing the password.
func (s *Spec) GoString() string { return "mysqlx.Spec(" + s.String() + ")" }
