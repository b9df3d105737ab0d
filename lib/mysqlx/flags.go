package mysqlx

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ConnFlags are the connection flags every command shares. Embed them once
// per server; with two servers give each a prefix and an environment prefix:
//
//	Source mysqlx.ConnFlags `embed:"" prefix:"source-" set:"dr_env_prefix=SOURCE_"`
//	Target mysqlx.ConnFlags `embed:"" prefix:"target-" set:"dr_env_prefix=TARGET_"`
//
// which gives --target-defaults-file, read from DR_TARGET_DEFAULTS_FILE
// (without the set: DR_DEFAULTS_FILE). Pass EnvFor("TARGET_", getenv) to
// Resolve so the password variable follows suit.
//
// The connection URL itself is not part of the struct: each command names
// it as it reads best (--source, --target, --old, --new).
type ConnFlags struct {
	DefaultsFile string `name:"defaults-file" type:"path" placeholder:"FILE" env:"DR_${dr_env_prefix=}DEFAULTS_FILE" help:"Read user, password, host, port, socket and ssl settings from the [client] and [dr] groups of this my.cnf-style file; it must not be readable by group or others (chmod 600)."`
	SSLMode      string `name:"ssl-mode" placeholder:"MODE" help:"TLS as the mysql client does it: DISABLED, PREFERRED (TLS if the server offers it, unverified), REQUIRED (unverified), VERIFY_CA or VERIFY_IDENTITY. Default PREFERRED, or VERIFY_CA when --ssl-ca is given."`
	SSLCA        string `name:"ssl-ca" type:"path" placeholder:"FILE" help:"PEM file of the CA certificates that sign the server's certificate."`
	SSLCert      string `name:"ssl-cert" type:"path" placeholder:"FILE" help:"PEM client certificate (with --ssl-key)."`
	SSLKey       string `name:"ssl-key" type:"path" placeholder:"FILE" help:"PEM private key of --ssl-cert."`
}

// EnvFor returns a lookup for Resolve that reads the password of a prefixed
// server from DR_<prefix>PASSWORD (e.g. DR_TARGET_PASSWORD), falling back to
// DR_PASSWORD. Other variables are read unchanged.
func EnvFor(prefix string, getenv func(string) string) func(string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	return func(k string) string {
		if k == "DR_PASSWORD" && prefix != "" {
			if v := getenv("DR_" + prefix + "PASSWORD"); v != "" {
				return v
			}
		}
		return getenv(k)
	}
}

// ParseURL resolves a URL on its own: no option file, no environment, TLS
// PREFERRED. Warnings are as for Resolve.
func ParseURL(rawURL string) (*Spec, []string, error) {
	return ConnFlags{}.Resolve(rawURL, func(string) string { return "" })
}

// Resolve combines the URL, the option file and the environment into a
// Spec. Precedence, highest first:
//
//   - user, host/socket, port, database: the URL, then the option file
//     ([dr] over [client]), then port 3306;
//   - password: the URL (with warning WarnPasswordInURL), DR_PASSWORD,
//     MYSQL_PWD, the option file;
//   - TLS: the flags, then the option file (ssl-mode, ssl-ca, ssl-cert,
//     ssl-key, and MariaDB's ssl, skip-ssl, ssl-verify-server-cert).
//
// An option file is read only when DefaultsFile is set: dr reads no
// ~/.my.cnf behind the user's back, so cron and systemd see what a shell
// sees. env is the environment lookup (nil: os.Getenv). Warnings are for
// the caller to print; errors are all usage errors, and the refusal of a
// readable option file also wraps ErrInsecureOptionFile.
func (f ConnFlags) Resolve(rawURL string, env func(string) string) (*Spec, []string, error) {
	if env == nil {
		env = os.Getenv
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if u.hasPassword && u.password != "" {
		warnings = append(warnings, WarnPasswordInURL)
	}
	var opts *options
	if f.DefaultsFile != "" {
		var w []string
		opts, w, err = readOptionFile(f.DefaultsFile)
		warnings = append(warnings, w...)
		if err != nil {
			return nil, warnings, err
		}
	}
	s := &Spec{DB: u.db, ConnectTimeout: u.timeout}
	if err := s.resolveAddr(u, opts); err != nil {
		var missing *missingError
		if errors.As(err, &missing) {
			err = fmt.Errorf("invalid connection url %q: %w", Redact(rawURL), err)
		}
		return nil, warnings, err
	}
	s.resolvePassword(u, opts, env, &warnings)
	if s.DB == "" {
		s.DB = opts.str("database")
	}
	if s.ConnectTimeout == 0 {
		if v, ok := opts.get("connect-timeout"); ok {
			d, err := parseTimeout(v.value)
			if err != nil {
				return nil, warnings, fmt.Errorf("%s: connect-timeout %w", opts.where("connect-timeout"), err)
			}
			s.ConnectTimeout = d
		}
	}
	if err := s.resolveTLS(f, opts); err != nil {
		return nil, warnings, fmt.Errorf("%s: %w", s, err)
	}
	return s, warnings, nil
}

func (s *Spec) resolveAddr(u *connURL, opts *options) error {
	s.User = u.user
	if s.User == "" {
		s.User = opts.str("user")
	}
	if s.User == "" {
		return &missingError{"no user name: give one in the url (mysql://user@host) or as user= in the option file"}
	}
	switch {
	case u.socket != "":
		s.Socket = u.socket
	case u.host != "":
		s.Host = u.host
	default:
		// libmysqlclient's rule: host "localhost" (or none) with a socket
		// means the socket.
		h, sock := opts.str("host"), opts.str("socket")
		switch {
		case sock != "" && (h == "" || h == "localhost"):
			s.Socket = sock
		case h != "":
			s.Host = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		default:
			return &missingError{"no host: give one in the url (mysql://user@host:port) or as host= or socket= in the option file"}
		}
	}
	if s.Socket != "" {
		return nil
	}
	s.Port = u.port
	if s.Port == 0 {
		if v, ok := opts.get("port"); ok {
			n, err := strconv.ParseUint(v.value, 10, 16)
			if err != nil || n == 0 {
				return fmt.Errorf("%s: port %q: want a number from 1 to 65535", opts.where("port"), v.value)
			}
			s.Port = int(n)
		}
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	return nil
}

func (s *Spec) resolvePassword(u *connURL, opts *options, env func(string) string, warnings *[]string) {
	switch {
	case u.hasPassword:
		s.Password, s.PasswordSource = u.password, "url"
	case env("DR_PASSWORD") != "":
		s.Password, s.PasswordSource = env("DR_PASSWORD"), "DR_PASSWORD"
	case env("MYSQL_PWD") != "":
		s.Password, s.PasswordSource = env("MYSQL_PWD"), "MYSQL_PWD"
	default:
		v, ok := opts.get("password")
		if !ok {
			return
		}
		if !v.hasValue {
			// For mysql a bare "password" means "prompt"; dr runs from
			// cron and never prompts.
			*warnings = append(*warnings, fmt.Sprintf("%s: password without a value is ignored (dr does not prompt)", opts.where("password")))
			return
		}
		s.Password, s.PasswordSource = v.value, "option file "+opts.path
	}
}

func (s *Spec) resolveTLS(f ConnFlags, opts *options) error {
	s.SSLCA = first(f.SSLCA, opts.str("ssl-ca"))
	s.SSLCert = first(f.SSLCert, opts.str("ssl-cert"))
	s.SSLKey = first(f.SSLKey, opts.str("ssl-key"))
	mode, err := tlsMode(f, opts)
	if err != nil {
		return err
	}
	if mode == "" {
		mode = SSLPreferred
		if s.SSLCA != "" {
			mode = SSLVerifyCA
		}
	}
	s.SSLMode = mode
	s.tls, err = s.buildTLS()
	return err
}

// tlsMode returns the mode the flag or the option file asks for, "" when
// neither does.
func tlsMode(f ConnFlags, opts *options) (SSLMode, error) {
	if f.SSLMode != "" {
		return ParseSSLMode(f.SSLMode)
	}
	if v, ok := opts.get("ssl-mode"); ok {
		m, err := ParseSSLMode(v.value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", opts.where("ssl-mode"), err)
		}
		return m, nil
	}
	// MariaDB's client spells it differently.
	if v, ok := opts.get("skip-ssl"); ok {
		on, err := optBool(v)
		if err != nil {
			return "", fmt.Errorf("%s: skip-ssl: %w", opts.where("skip-ssl"), err)
		}
		if on {
			return SSLDisabled, nil
		}
	}
	if v, ok := opts.get("ssl-verify-server-cert"); ok {
		on, err := optBool(v)
		if err != nil {
			return "", fmt.Errorf("%s: ssl-verify-server-cert: %w", opts.where("ssl-verify-server-cert"), err)
		}
		if on {
			return SSLVerifyIdentity, nil
		}
	}
	if v, ok := opts.get("ssl"); ok {
		on, err := optBool(v)
		if err != nil {
			return "", fmt.Errorf("%s: ssl: %w", opts.where("ssl"), err)
		}
		if on {
			return SSLRequired, nil
		}
		return SSLDisabled, nil
	}
	return "", nil
}

// optBool reads a boolean option as libmysqlclient does: the bare key is
// true.
func optBool(v optionValue) (bool, error) {
	if !v.hasValue {
		return true, nil
	}
	switch strings.ToLower(v.value) {
	case "1", "on", "true", "yes":
		return true, nil
	case "0", "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", v.value)
}

// missingError is a part of the address neither the URL nor the option
// file gave.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
