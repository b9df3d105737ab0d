package s3

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options configure Open and Create. The zero value takes everything from
// the standard AWS environment variables.
type Options struct {
	// Endpoint is the S3 service, as given to --s3-endpoint:
	// "http://127.0.0.1:9000", "https://s3.example.com" or "host:port"
	// (https). Empty means AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL,
	// then AWS itself (s3.amazonaws.com).
	Endpoint string

	// Region is the bucket's region. Empty means AWS_REGION, then
	// AWS_DEFAULT_REGION, then asking the server (one request per bucket).
	Region string

	// The credentials. When AccessKeyID is empty all three come from
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// MaxRetries is how many times a failed request is tried in all,
	// with a short backoff; 0 means 3. minio-go's own default (10, with
	// up to a second between tries) turns an unreachable endpoint into
	// a wait of many seconds before the error.
	MaxRetries int

	// DialTimeout bounds connecting to the endpoint; 0 means 10s. A
	// refused connection fails at once; this only bounds a black hole.
	DialTimeout time.Duration

	// WrapConn, when set, wraps every connection to the endpoint: a
	// bandwidth limit at the socket (ratelimit.Limiter.Conn).
	WrapConn func(net.Conn) net.Conn

	// Getenv looks up environment variables; nil means os.Getenv. Tests
	// set it to keep the process environment out.
	Getenv func(string) string
}

// Environment variables read when Options leave a field empty.
const (
	EnvEndpoint        = "AWS_ENDPOINT_URL"
	EnvEndpointS3      = "AWS_ENDPOINT_URL_S3"
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	EnvRegion          = "AWS_REGION"
	EnvDefaultRegion   = "AWS_DEFAULT_REGION"
)

// awsEndpoint is the endpoint when none is configured.
const awsEndpoint = "s3.amazonaws.com"

// config is Options resolved against the environment.
type config struct {
	host       string // host[:port] for minio.New
	secure     bool   // https
	custom     bool   // not AWS: use path-style addressing
	endpoint   string // as shown in messages: scheme://host[:port]
	region     string
	accessKey  string
	secretKey  string
	token      string
	maxRetries int
	dial       time.Duration
}

func (o Options) resolve() (config, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := config{maxRetries: o.MaxRetries, dial: o.DialTimeout}
	if c.maxRetries <= 0 {
		c.maxRetries = 3
	}
	if c.dial <= 0 {
		c.dial = 10 * time.Second
	}

	ep, from := o.Endpoint, "--s3-endpoint"
	if ep == "" {
		ep, from = getenv(EnvEndpointS3), EnvEndpointS3
	}
	if ep == "" {
		ep, from = getenv(EnvEndpoint), EnvEndpoint
	}
	if ep == "" {
		c.host, c.secure, c.endpoint = awsEndpoint, true, "https://"+awsEndpoint
	} else {
		host, secure, err := parseEndpoint(ep)
		if err != nil {
			return config{}, fmt.Errorf("%s: %w", from, err)
		}
		c.host, c.secure, c.custom = host, secure, true
		c.endpoint = "https://" + host
		if !secure {
			c.endpoint = "http://" + host
		}
	}

	c.region = o.Region
	if c.region == "" {
		c.region = getenv(EnvRegion)
	}
	if c.region == "" {
		c.region = getenv(EnvDefaultRegion)
	}

	if o.AccessKeyID != "" {
		c.accessKey, c.secretKey, c.token = o.AccessKeyID, o.SecretAccessKey, o.SessionToken
	} else {
		c.accessKey, c.secretKey, c.token = getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey), getenv(EnvSessionToken)
	}
	// A DR repository is never public: without credentials every request
	// would fail with a puzzling "access denied", so say what is missing.
	switch {
	case c.accessKey == "" && c.secretKey == "":
		return config{}, fmt.Errorf("no S3 credentials: set %s and %s", EnvAccessKeyID, EnvSecretAccessKey)
	case c.accessKey == "":
		return config{}, fmt.Errorf("no S3 access key: %s is set but %s is not", EnvSecretAccessKey, EnvAccessKeyID)
	case c.secretKey == "":
		return config{}, fmt.Errorf("no S3 secret key: %s is set but %s is not", EnvAccessKeyID, EnvSecretAccessKey)
	}
	return c, nil
}

// parseEndpoint accepts "http://host[:port]", "https://host[:port]" or a
// bare "host[:port]" (https, as the AWS tools assume).
func parseEndpoint(s string) (host string, secure bool, err error) {
	secure = true
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", false, fmt.Errorf("invalid S3 endpoint %q: %w", s, err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
		default:
			return "", false, fmt.Errorf("invalid S3 endpoint %q: the scheme must be http or https", s)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return "", false, fmt.Errorf("invalid S3 endpoint %q: want only scheme://host[:port]", s)
		}
		s = u.Host
	}
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return "", false, fmt.Errorf("invalid S3 endpoint %q: want scheme://host[:port]", s)
	}
	return s, secure, nil
}

// ParseURL splits "s3://bucket/prefix" into the bucket and the key prefix
// (no leading or trailing slash; empty for the bucket's root).
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("invalid S3 repository %q: want s3://bucket/prefix", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("invalid S3 repository %q: %w", s, err)
	}
	prefix = strings.Trim(prefix, "/")
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return "", "", fmt.Errorf("invalid S3 repository %q: empty, \".\" or \"..\" element in the prefix", s)
		}
	}
	if strings.ContainsAny(prefix, "?#\\") {
		return "", "", fmt.Errorf("invalid S3 repository %q: the prefix may not contain '?', '#' or '\\'", s)
	}
	return bucket, prefix, nil
}

// checkBucket applies the S3 bucket naming rules that matter for
// addressing: 3-63 lowercase letters, digits, '.' and '-'.
func checkBucket(b string) error {
	if b == "" {
		return errors.New("no bucket")
	}
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket name %q: only lowercase letters, digits, '.' and '-' are allowed", b)
		}
	}
	if b[0] == '.' || b[0] == '-' || b[len(b)-1] == '.' || b[len(b)-1] == '-' {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
	}
	return nil
}
