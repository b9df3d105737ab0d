package s3

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		in, bucket, prefix string
	}{
		{"s3://dr-bucket/cms", "dr-bucket", "cms"},
		{"s3://dr-bucket/cms/", "dr-bucket", "cms"},
		{"s3://dr-bucket", "dr-bucket", ""},
		{"s3://dr-bucket/", "dr-bucket", ""},
		{"s3://dr.bucket-1/site/db1", "dr.bucket-1", "site/db1"},
	} {
		b, p, err := ParseURL(tt.in)
		if err != nil || b != tt.bucket || p != tt.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tt.in, b, p, err, tt.bucket, tt.prefix)
		}
	}
	for _, in := range []string{
		"dr-bucket/cms", "s3:/dr-bucket", "s3://", "s3:///cms", "s3://ab/x", "s3://Upper/x",
		"s3://-bucket/x", "s3://bucket_1/x", "s3://bucket/a//b", "s3://bucket/a/../b", "s3://bucket/a?x",
	} {
		if _, _, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q): no error", in)
		}
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolve(t *testing.T) {
	creds := map[string]string{EnvAccessKeyID: "AK", EnvSecretAccessKey: "SK", EnvSessionToken: "TOK"}

	c, err := Options{Getenv: env(creds)}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "s3.amazonaws.com" || !c.secure || c.custom || c.accessKey != "AK" || c.secretKey != "SK" || c.token != "TOK" {
		t.Errorf("AWS default: %+v", c)
	}

	withEnv := map[string]string{EnvEndpoint: "http://127.0.0.1:9000", EnvRegion: "eu-west-3", EnvDefaultRegion: "x"}
	for k, v := range creds {
		withEnv[k] = v
	}
	c, err = Options{Getenv: env(withEnv)}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "127.0.0.1:9000" || c.secure || !c.custom || c.endpoint != "http://127.0.0.1:9000" || c.region != "eu-west-3" {
		t.Errorf("from AWS_ENDPOINT_URL: %+v", c)
	}

	// --s3-endpoint and explicit options win over the environment.
	c, err = Options{Endpoint: "minio.example:9443", Region: "r1", AccessKeyID: "A2", SecretAccessKey: "S2", Getenv: env(withEnv)}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "minio.example:9443" || !c.secure || c.endpoint != "https://minio.example:9443" || c.region != "r1" || c.accessKey != "A2" || c.token != "" {
		t.Errorf("explicit options: %+v", c)
	}

	// AWS_ENDPOINT_URL_S3 is the S3-only form and wins over the general one.
	withEnv[EnvEndpointS3] = "https://s3.other:443"
	delete(withEnv, EnvRegion)
	if c, err = (Options{Getenv: env(withEnv)}).resolve(); err != nil || c.host != "s3.other:443" || c.region != "x" {
		t.Errorf("AWS_ENDPOINT_URL_S3: %+v, %v", c, err)
	}

	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Getenv: env(nil)}, "no S3 credentials"},
		{Options{Getenv: env(map[string]string{EnvAccessKeyID: "AK"})}, "AWS_SECRET_ACCESS_KEY"},
		{Options{Getenv: env(map[string]string{EnvSecretAccessKey: "SK"})}, "AWS_ACCESS_KEY_ID"},
		{Options{Endpoint: "ftp://host", Getenv: env(creds)}, "scheme"},
		{Options{Endpoint: "http://host/path", Getenv: env(creds)}, "scheme://host[:port]"},
		{Options{Endpoint: "http://user@host", Getenv: env(creds)}, "scheme://host[:port]"},
	} {
		_, err := tt.opts.resolve()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolve(%+v) = %v, want an error saying %q", tt.opts.Endpoint, err, tt.want)
		}
	}
}
