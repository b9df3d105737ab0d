package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/dr-mysql/dr/lib/repo/backend/backendtest"
	"github.com/dr-mysql/dr/lib/repo/ids"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The credentials scripts/minio gives every server it starts.
const (
	testAccessKey = "drtest"
	testSecretKey = "drtest-secret-key"
)

var (
	minioOnce    sync.Once
	minioDir     string        // the server's directory, to stop it
	minioURL     string        // the server of this test binary, "" when none
	minioErr     error         // why it did not start, when the binary exists
	minioStartup time.Duration // how long scripts/minio start took
)

// TestMain stops the MinIO that the first test needing it started.
func TestMain(m *testing.M) {
	m.Run()
	if minioDir != "" {
		exec.Command(minioScript(), "stop", minioDir).Run()
		os.RemoveAll(minioDir)
	}
}

func minioScript() string {
	p, _ := filepath.Abs("../../../../scripts/minio")
	return p
}

// startMinio starts one MinIO for the package (scripts/minio start).
// Without a minio binary the tests that need it skip, so "go test ./..."
// works anywhere; scripts/deps builds it for CI. It runs inside a test,
// not in TestMain, so that the test cache sees the look-up of the binary
// and reruns once it is installed.
func startMinio() {
	bin := minioBinary()
	if bin == "" {
		return
	}
	dir, err := os.MkdirTemp("", "dr-s3-test-")
	if err != nil {
		minioErr = err
		return
	}
	minioDir = dir
	start := time.Now()
	cmd := exec.Command(minioScript(), "start", dir)
	cmd.Env = append(os.Environ(), "MINIO_BIN="+bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	minioStartup = time.Since(start)
	if err != nil {
		minioErr = fmt.Errorf("scripts/minio start: %v: %s", err, stderr.Bytes())
		return
	}
	minioURL = strings.TrimSpace(string(out))
}

// minioBinary finds the server the way scripts/minio does.
func minioBinary() string {
	if p := os.Getenv("MINIO_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	dir := os.Getenv("GOBIN")
	if dir == "" {
		dir = filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "bin")
	}
	if p := filepath.Join(dir, "minio"); isExec(p) {
		return p
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func needMinio(t *testing.T) {
	t.Helper()
	minioOnce.Do(startMinio)
	if minioErr != nil {
		t.Fatalf("minio is installed but did not start: %v", minioErr)
	}
	if minioURL == "" {
		t.Skip("minio is not installed: run scripts/deps (go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c)")
	}
}

// opts are the options of a client of the test server; the process
// environment is kept out so an AWS profile of the developer cannot leak in.
func opts() Options {
	return Options{
		Endpoint:        minioURL,
		AccessKeyID:     testAccessKey,
		SecretAccessKey: testSecretKey,
		Getenv:          func(string) string { return "" },
	}
}

var seq atomic.Int64

// newRepo returns an empty repository under a fresh prefix of a shared
// bucket (a fresh bucket per subtest would cost a request and leave many).
func newRepo(t *testing.T, bucket string) *S3 {
	t.Helper()
	needMinio(t)
	url := fmt.Sprintf("s3://%s/t%d/%s", bucket, seq.Add(1), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	b, err := Create(context.Background(), url, opts())
	if err != nil {
		t.Fatalf("Create %s: %v", url, err)
	}
	return b
}

func TestBackend(t *testing.T) {
	needMinio(t)
	t.Logf("minio at %s, started in %v", minioURL, minioStartup.Round(time.Millisecond))
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newRepo(t, "dr-suite") })
}

// rawClient talks to the test server without the backend, to look at
// keys and plant stray ones.
func rawClient(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(minioURL, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(testAccessKey, testSecretKey, ""),
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keys(t *testing.T, c *minio.Client, bucket string) []string {
	t.Helper()
	var ks []string
	for o := range c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		ks = append(ks, o.Key)
	}
	slices.Sort(ks)
	return ks
}

// TestLayout checks the keys mirror the file backend's paths, at the
// bucket's root and under a prefix, and that List skips keys that are not
// objects of the repository.
func TestLayout(t *testing.T) {
	needMinio(t)
	ctx := context.Background()
	raw := rawClient(t)
	pack := []byte("pack bytes")
	ph := backend.Handle{Type: backend.Pack, Name: ids.Hash(pack).String()}
	for _, tt := range []struct{ url, bucket, prefix string }{
		{"s3://dr-layout-root", "dr-layout-root", ""},
		{"s3://dr-layout/site/db1/", "dr-layout", "site/db1/"},
	} {
		b, err := Create(ctx, tt.url, opts())
		if err != nil {
			t.Fatal(err)
		}
		for h, data := range map[backend.Handle][]byte{
			ph:                                   pack,
			backend.ConfigHandle:                 []byte("{}"),
			{Type: backend.Index, Name: "i1"}:    []byte("i"),
			{Type: backend.Snapshot, Name: "s1"}: []byte("s"),
			{Type: backend.Binlog, Name: "b1"}:   []byte("b"),
			{Type: backend.Tree, Name: "t1"}:     []byte("t"),
			{Type: backend.Lock, Name: "l1"}:     []byte("l"),
		} {
			if err := b.Save(ctx, h, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
		}
		p := tt.prefix
		want := []string{
			p + "binlogs/b1", p + "config", p + "data/" + ph.Name[:2] + "/" + ph.Name, p + "index/i1",
			p + "locks/l1", p + "snapshots/s1", p + "trees/t1",
		}
		if got := keys(t, raw, tt.bucket); !slices.Equal(got, want) {
			t.Errorf("%s: keys\n%q\nwant\n%q", tt.url, got, want)
		}
		if got := b.Location(); got != strings.TrimSuffix(tt.url, "/")+" at "+minioURL {
			t.Errorf("Location() = %q", got)
		}

		// Stray keys: a console's folder marker, a nested key, a pack in
		// the wrong fan-out directory, a name no handle can have.
		for _, k := range []string{"snapshots/", "snapshots/sub/x", "data/00/" + ph.Name, "data/" + ph.Name, "index/.hidden", "index/a b"} {
			if _, err := raw.PutObject(ctx, tt.bucket, p+k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for ft, want := range map[backend.FileType][]string{
			backend.Pack: {ph.Name}, backend.Snapshot: {"s1"}, backend.Index: {"i1"}, backend.Config: {"config"},
		} {
			var got []string
			if err := b.List(ctx, ft, func(fi backend.FileInfo) error { got = append(got, fi.Name); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: List %s = %q, want %q", tt.url, ft, got, want)
			}
		}
		b.Close()
	}
}

func TestWrongCredentials(t *testing.T) {
	needMinio(t)
	ctx := context.Background()
	if _, err := Create(ctx, "s3://dr-creds/x", opts()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		ak, sk   string
		mentions string
	}{
		{"secret", testAccessKey, "not-the-secret", EnvSecretAccessKey},
		{"access key", "nobody", testSecretKey, EnvAccessKeyID},
	} {
		o := opts()
		o.AccessKeyID, o.SecretAccessKey = tt.ak, tt.sk
		start := time.Now()
		_, err := Open(ctx, "s3://dr-creds/x", o)
		if err == nil {
			t.Fatalf("wrong %s: Open succeeded", tt.name)
		}
		msg := err.Error()
		t.Logf("wrong %s (%v): %v", tt.name, time.Since(start).Round(time.Millisecond), msg)
		for _, want := range []string{tt.mentions, minioURL, "dr-creds"} {
			if !strings.Contains(msg, want) {
				t.Errorf("wrong %s: error %q does not mention %q", tt.name, msg, want)
			}
		}
		if errors.Is(err, ErrNoBucket) || backend.IsNotExist(err) {
			t.Errorf("wrong %s: error %q reads as a missing bucket or object", tt.name, msg)
		}
	}
}

func TestMissingBucket(t *testing.T) {
	needMinio(t)
	ctx := context.Background()
	_, err := Open(ctx, "s3://dr-no-such-bucket/cms", opts())
	if !errors.Is(err, ErrNoBucket) {
		t.Fatalf("Open of a missing bucket: %v, want ErrNoBucket", err)
	}
	t.Logf("missing bucket: %v", err)
	for _, want := range []string{"dr-no-such-bucket", minioURL} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// Create makes it; a second Create finds it.
	for range 2 {
		b, err := Create(ctx, "s3://dr-made-by-create/cms", opts())
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		b.Close()
	}
	if _, err := Open(ctx, "s3://dr-made-by-create/cms", opts()); err != nil {
		t.Fatalf("Open after Create: %v", err)
	}
}

// TestUnreachable needs no server: a port nobody listens on must fail
// fast (refused, few retries), not hang, and say which endpoint.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()

	o := opts()
	o.Endpoint = endpoint
	start := time.Now()
	_, err = Open(context.Background(), "s3://dr-bucket/cms", o)
	took := time.Since(start)
	if err == nil {
		t.Fatal("Open of an unreachable endpoint succeeded")
	}
	t.Logf("unreachable (%v): %v", took.Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "cannot reach S3 endpoint "+endpoint) || !strings.Contains(err.Error(), "dr-bucket") {
		t.Errorf("error %q does not say it cannot reach %s for dr-bucket", err, endpoint)
	}
	if took > 5*time.Second {
		t.Errorf("took %v to report a refused connection", took)
	}
}

// TestStreamingSave covers what the suite does not: a Save of a reader that
// cannot seek and holds the wrong number of bytes.
func TestStreamingSave(t *testing.T) {
	b := newRepo(t, "dr-misc")
	defer b.Close()
	ctx := context.Background()
	data := backendtest.Data("stream", 5<<20+17)
	h := backend.Handle{Type: backend.Pack, Name: ids.Hash(data).String()}
	// io.MultiReader hides bytes.Reader's Seek and ReadAt.
	if err := b.Save(ctx, h, io.MultiReader(bytes.NewReader(data)), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := b.Load(ctx, h, 0, 0, func(rd io.Reader) (err error) { got, err = io.ReadAll(rd); return err }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("streamed save loads as %d bytes, not the %d saved", len(got), len(data))
	}
	// Too long and too short, without Seek: refused, nothing stored.
	h2 := backend.Handle{Type: backend.Snapshot, Name: "sized"}
	if err := b.Save(ctx, h2, io.MultiReader(bytes.NewReader(data)), int64(len(data)-1)); err == nil {
		t.Errorf("streamed Save of one byte more than announced: no error")
	}
	if err := b.Save(ctx, h2, io.MultiReader(bytes.NewReader(data[:100])), 101); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("streamed Save of one byte less than announced: %v, want io.ErrUnexpectedEOF", err)
	}
	if err := b.Save(ctx, h2, io.MultiReader(strings.NewReader("x")), 0); err == nil {
		t.Errorf("streamed Save of one byte announced as empty: no error")
	}
	if _, err := b.Stat(ctx, h2); !backend.IsNotExist(err) {
		t.Errorf("Stat after refused Saves: %v, want not exist", err)
	}
}
