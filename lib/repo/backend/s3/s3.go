// Package s3 is the S3 backend: a repository under a key prefix of a
// bucket on AWS S3 or any S3-compatible store (MinIO, Ceph RGW, R2, ...),
// through github.com/minio/minio-go/v7.
//
// Keys mirror the file backend's layout under the prefix, so a repository
// copied between a directory and a bucket (aws s3 sync, mc mirror) stays
// a repository:
//
//	<prefix>/config
//	<prefix>/data/<2 hex>/<name>   packs
//	<prefix>/index/<name>
//	<prefix>/snapshots/<name>
//	<prefix>/binlogs/<name>
//	<prefix>/trees/<name>
//	<prefix>/locks/<name>
//
// Every object is one PUT of a known length, which S3 makes visible whole
// or not at all; there is no multipart upload, whose parts could be left
// behind. That caps an object at 5 GiB, far above any pack or manifest.
// "Never overwrite" is a conditional PUT (If-None-Match: *), which AWS S3
// (since 2024), MinIO, Ceph RGW and R2 enforce atomically on the server:
// of two puts racing for one name exactly one wins. A store that ignores
// the header would silently let the second win; do not use one.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dr-mysql/dr/lib/repo/backend"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// dirs maps each type to its key prefix, as in the file backend.
var dirs = map[backend.FileType]string{
	backend.Pack:     "data",
	backend.Index:    "index",
	backend.Snapshot: "snapshots",
	backend.Binlog:   "binlogs",
	backend.Tree:     "trees",
	backend.Lock:     "locks",
}

// ErrNoBucket is matched by the error of Open on a bucket that does not
// exist; Create makes it instead.
var ErrNoBucket = errors.New("no such bucket")

// S3 is a repository in a bucket. It is safe for concurrent use: the
// client holds no per-request state and its transport pools connections.
type S3 struct {
	client    *minio.Client
	core      minio.Core
	transport *http.Transport
	bucket    string
	prefix    string // "" or "some/prefix/"
	endpoint  string // scheme://host[:port], for messages
	location  string
}

var _ backend.Backend = (*S3)(nil)

// Open opens the repository at rawURL ("s3://bucket/prefix") and checks
// that the endpoint answers, the credentials are accepted and the bucket
// exists, so a wrong setting fails here with a clear message rather than
// in the middle of a put.
func Open(ctx context.Context, rawURL string, opts Options) (*S3, error) {
	b, err := New(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := b.check(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Create is Open that makes the bucket when it does not exist. The
// prefix needs no making: S3 has no directories.
func Create(ctx context.Context, rawURL string, opts Options) (*S3, error) {
	b, err := New(rawURL, opts)
	if err != nil {
		return nil, err
	}
	err = b.check(ctx)
	if errors.Is(err, ErrNoBucket) {
		err = b.makeBucket(ctx)
		if err == nil {
			err = b.check(ctx)
		}
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// New returns the backend for rawURL without talking to the server; Open
// is what a command wants.
func New(rawURL string, opts Options) (*S3, error) {
	bucket, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("s3://%s: %w", bucket, err)
	}
	tr, err := minio.DefaultTransport(c.secure)
	if err != nil {
		return nil, fmt.Errorf("s3 transport: %w", err)
	}
	dial := (&net.Dialer{Timeout: c.dial, KeepAlive: 30 * time.Second}).DialContext
	tr.DialContext = dial
	if wrap := opts.WrapConn; wrap != nil {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		}
	}
	lookup := minio.BucketLookupAuto
	if c.custom {
		// Path-style (endpoint/bucket/key) works on every S3-compatible
		// store and with IP addresses; virtual-host style needs DNS
		// names per bucket, which a MinIO or Ceph rarely has.
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(c.host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.accessKey, c.secretKey, c.token),
		Secure:       c.secure,
		Transport:    tr,
		Region:       c.region,
		BucketLookup: lookup,
		MaxRetries:   c.maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %s: %w", c.endpoint, err)
	}
	loc := "s3://" + bucket
	if prefix != "" {
		loc += "/" + prefix
		prefix += "/"
	}
	if c.custom {
		loc += " at " + c.endpoint
	}
	return &S3{
		client:    client,
		core:      minio.Core{Client: client},
		transport: tr,
		bucket:    bucket,
		prefix:    prefix,
		endpoint:  c.endpoint,
		location:  loc,
	}, nil
}

// check lists at most one key under the prefix: the cheapest request that
// needs the endpoint, valid credentials, the bucket and the permission to
// list, all of which a repository needs.
func (b *S3) check(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix, MaxKeys: 1}) {
		if obj.Err != nil {
			return b.fail("open "+b.url(b.prefix), obj.Err, false)
		}
		break
	}
	return nil
}

func (b *S3) makeBucket(ctx context.Context) error {
	err := b.client.MakeBucket(ctx, b.bucket, minio.MakeBucketOptions{})
	switch code(err) {
	case "", "BucketAlreadyOwnedByYou": // made here, or by a concurrent Create
		return nil
	}
	return b.fail("create bucket "+b.bucket, err, true)
}

// Location names the bucket and prefix, and the endpoint unless it is AWS.
func (b *S3) Location() string { return b.location }

// Key returns the object key that holds h.
func (b *S3) Key(h backend.Handle) (string, error) {
	if err := h.Valid(); err != nil {
		return "", err
	}
	switch h.Type {
	case backend.Config:
		return b.prefix + "config", nil
	case backend.Pack:
		return b.prefix + dirs[h.Type] + "/" + h.Name[:2] + "/" + h.Name, nil
	}
	return b.prefix + dirs[h.Type] + "/" + h.Name, nil
}

// Save stores rd under h; see backend.Backend.
func (b *S3) Save(ctx context.Context, h backend.Handle, rd io.Reader, size int64) error {
	key, err := b.Key(h)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("save %s: invalid size %d", h, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// minio-go waits out a retry backoff even after its last try; ending
	// the request's context when the body fails skips that wait.
	putCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, strict, err := uploadBody(ctx, rd, size, cancel)
	if err != nil {
		return fmt.Errorf("save %s: %w", h, err)
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// One PUT: atomic, and a failed one leaves nothing behind.
		DisableMultipart: true,
	}
	if !h.Type.Overwritable() {
		opts.SetMatchETagExcept("*") // If-None-Match: *
	}
	_, err = b.client.PutObject(putCtx, b.bucket, key, body, size, opts)
	if strict != nil {
		// The transport may still hold the body; after this it gets
		// nothing more from rd, which belongs to the caller again.
		if rerr := strict.close(); err != nil && rerr != nil {
			return fmt.Errorf("save %s: %w", h, rerr)
		}
	}
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("save %s: %w", h, cerr)
	}
	if code(err) == "PreconditionFailed" {
		// A PUT retried after a lost response whose first try did land
		// also ends here. Packs, index files and manifests are named by
		// their content, so it is the same bytes, and the repository
		// takes ErrExists on them as "already stored".
		return fmt.Errorf("save %s: %s already exists: %w", h, b.url(key), backend.ErrExists)
	}
	return fmt.Errorf("save %s: %w", h, b.fail(b.url(key), err, true))
}

// readerAtSeeker is what minio-go can upload without copying and retry
// after a network error: it rewinds it.
type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// uploadBody returns what to hand to PutObject for size bytes of rd, and
// the strictReader around rd when rd cannot be rewound. A wrong size is an
// error before anything is sent when rd can tell its length; otherwise
// strictReader makes the upload fail before its last byte is sent.
func uploadBody(ctx context.Context, rd io.Reader, size int64, abort func()) (io.Reader, *strictReader, error) {
	if ras, ok := rd.(readerAtSeeker); ok {
		cur, err := ras.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, nil, err
		}
		end, err := ras.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, nil, err
		}
		if _, err := ras.Seek(cur, io.SeekStart); err != nil {
			return nil, nil, err
		}
		if n := end - cur; n < size {
			return nil, nil, fmt.Errorf("the data ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
		} else if n > size {
			return nil, nil, fmt.Errorf("the data holds more than the %d bytes announced", size)
		}
		return io.NewSectionReader(ras, cur, size), nil, nil
	}
	if size == 0 {
		// An empty PUT reads no body, so look for stray bytes here.
		var one [1]byte
		if n, err := io.ReadFull(rd, one[:]); n > 0 {
			return nil, nil, errors.New("the data holds more than the 0 bytes announced")
		} else if err != nil && err != io.EOF {
			return nil, nil, err
		}
		return strings.NewReader(""), nil, nil
	}
	s := &strictReader{ctx: ctx, abort: abort, r: rd, left: size, size: size}
	return s, s, nil
}

// strictReader passes exactly size bytes of r to an upload and fails it
// (by returning an error to the HTTP client, which then sends a short
// body the server discards) when r holds fewer or more bytes, fails, or
// ctx ends. It holds back the last bytes until it has checked that r has
// no more: once the server has Content-Length bytes it stores the object.
type strictReader struct {
	ctx   context.Context
	abort func() // ends the upload's request at the first failure

	mu     sync.Mutex // the HTTP transport reads in its own goroutine
	r      io.Reader
	left   int64
	size   int64
	err    error // the first failure: what Save reports
	closed bool
}

var errSaveOver = errors.New("read after the save ended")

func (s *strictReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, errSaveOver
	case s.err != nil:
		return 0, s.err
	case s.left == 0:
		return 0, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		return 0, s.fail(err)
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case err != nil && err != io.EOF:
		return 0, s.fail(err)
	case s.left == 0:
		var one [1]byte
		m, err := io.ReadFull(s.r, one[:])
		if m > 0 {
			return 0, s.fail(fmt.Errorf("the data holds more than the %d bytes announced", s.size))
		}
		if err != nil && err != io.EOF {
			return 0, s.fail(err)
		}
		return n, nil
	case err == io.EOF:
		return 0, s.fail(fmt.Errorf("the data ended after %d of %d bytes: %w", s.size-s.left, s.size, io.ErrUnexpectedEOF))
	}
	return n, nil
}

// fail records err as the failure and ends the upload. s.mu is held.
func (s *strictReader) fail(err error) error {
	s.err = err
	s.abort()
	return err
}

// close stops further reads of r and returns the failure seen, if any.
func (s *strictReader) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.err
}

// Load reads a range of h with one ranged GET; see backend.Backend.
func (b *S3) Load(ctx context.Context, h backend.Handle, length int, offset int64, fn func(io.Reader) error) error {
	key, err := b.Key(h)
	if err != nil {
		return err
	}
	if length < 0 || offset < 0 {
		_, err := backend.CheckRange(h, 0, length, offset)
		return err
	}
	var opts minio.GetObjectOptions
	ranged := offset > 0 || length > 0
	if ranged {
		end := int64(0) // to the end
		if length > 0 {
			end = offset + int64(length) - 1
		}
		if err := opts.SetRange(offset, end); err != nil {
			return fmt.Errorf("load %s: %w", h, err)
		}
	}
	rc, info, hdr, err := b.core.GetObject(ctx, b.bucket, key, opts)
	if code(err) == "InvalidRange" {
		// The range starts at or past the end. That is still valid for
		// an empty read at the very end, so ask the size to tell.
		fi, serr := b.Stat(ctx, h)
		if serr != nil {
			return serr
		}
		if _, err := backend.CheckRange(h, fi.Size, length, offset); err != nil {
			return err
		}
		return fn(strings.NewReader(""))
	}
	if err != nil {
		return b.objectErr("load", h, key, err)
	}
	defer rc.Close()
	size := info.Size
	if ranged {
		// A range past the end is cut short, not refused: the object's
		// size is after the slash of "bytes first-last/size".
		cr := hdr.Get("Content-Range")
		_, total, ok := strings.Cut(cr, "/")
		n, perr := strconv.ParseInt(total, 10, 64)
		if !ok || perr != nil {
			return fmt.Errorf("load %s from %s: the server ignored the range request (Content-Range %q)", h, b.url(key), cr)
		}
		size = n
	}
	n, err := backend.CheckRange(h, size, length, offset)
	if err != nil {
		return err
	}
	return fn(backend.ContextReader(ctx, &exactReader{r: rc, left: n, what: h}))
}

// exactReader reports a body shorter than promised as
// io.ErrUnexpectedEOF, not as a clean end.
type exactReader struct {
	r    io.Reader
	left int64
	what backend.Handle
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("load %s: the connection ended %d bytes early: %w", e.what, e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

// Stat returns the size of h.
func (b *S3) Stat(ctx context.Context, h backend.Handle) (backend.FileInfo, error) {
	key, err := b.Key(h)
	if err != nil {
		return backend.FileInfo{}, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return backend.FileInfo{}, b.objectErr("stat", h, key, err)
	}
	return backend.FileInfo{Name: h.Name, Size: info.Size}, nil
}

// List calls fn for each object of type t, listing the type's key prefix.
// Keys that are not objects of the repository (a stray file, a "folder"
// marker made by a console) are skipped, as the file backend skips them.
func (b *S3) List(ctx context.Context, t backend.FileType, fn func(backend.FileInfo) error) error {
	if !t.Valid() {
		return fmt.Errorf("list: invalid object type %q", t)
	}
	if t == backend.Config {
		fi, err := b.Stat(ctx, backend.ConfigHandle)
		if backend.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(fi)
	}
	dir := b.prefix + dirs[t] + "/"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine when fn stops us
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: t == backend.Pack}) {
		if obj.Err != nil {
			return fmt.Errorf("list %s: %w", t, b.fail(b.url(dir), obj.Err, false))
		}
		name := strings.TrimPrefix(obj.Key, dir)
		if t == backend.Pack {
			fan, rest, ok := strings.Cut(name, "/")
			if !ok || len(fan) != 2 || !strings.HasPrefix(rest, fan) {
				continue
			}
			name = rest
		}
		if strings.Contains(name, "/") || (backend.Handle{Type: t, Name: name}).Valid() != nil {
			continue
		}
		if err := fn(backend.FileInfo{Name: name, Size: obj.Size}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Remove deletes h. S3 deletes a missing key without complaint, so a Stat
// comes first to report ErrNotExist like the other backends; a Remove
// racing another one on the same object may both succeed, which only
// prune does and which it serialises with its lock.
func (b *S3) Remove(ctx context.Context, h backend.Handle) error {
	key, err := b.Key(h)
	if err != nil {
		return err
	}
	if _, err := b.Stat(ctx, h); err != nil {
		return fmt.Errorf("remove %w", err)
	}
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("remove %s: %w", h, b.fail(b.url(key), err, true))
	}
	return nil
}

// Close releases idle connections.
func (b *S3) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}

// url names a key for messages.
func (b *S3) url(key string) string { return "s3://" + b.bucket + "/" + key }

// code returns the S3 error code of err, or "" when err is not an S3 error
// response.
func code(err error) string {
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// objectErr maps a missing object to backend.ErrNotExist and everything
// else through fail.
func (b *S3) objectErr(op string, h backend.Handle, key string, err error) error {
	switch code(err) {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s %s: no object %s: %w", op, h, b.url(key), backend.ErrNotExist)
	}
	return fmt.Errorf("%s %s: %w", op, h, b.fail(b.url(key), err, false))
}

// fail turns an error of the client into one that says what to check:
// the endpoint, the credentials or the bucket. what names the key or
// the operation, for errors of no known kind. write says the request
// would have changed the repository, so that a refusal reads as "not
// writable" (exit 3, like a read-only directory).
func (b *S3) fail(what string, err error, write bool) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		var nerr net.Error
		if errors.As(err, &nerr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("cannot reach S3 endpoint %s for bucket %s: %w", b.endpoint, b.bucket, err)
		}
		return fmt.Errorf("%s at %s: %w", what, b.endpoint, err)
	}
	switch resp.Code {
	case "NoSuchBucket":
		return fmt.Errorf("bucket %s does not exist at %s: %w", b.bucket, b.endpoint, ErrNoBucket)
	case "InvalidAccessKeyId":
		return fmt.Errorf("%s refused the access key for bucket %s (check %s): %w", b.endpoint, b.bucket, EnvAccessKeyID, err)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("%s refused the secret key for bucket %s (check %s): %w", b.endpoint, b.bucket, EnvSecretAccessKey, err)
	case "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		return fmt.Errorf("%s refused the session token for bucket %s (check %s): %w", b.endpoint, b.bucket, EnvSessionToken, err)
	case "AccessDenied", "AllAccessDisabled", "AccountProblem":
		err = fmt.Errorf("access denied to bucket %s at %s: %w", b.bucket, b.endpoint, err)
		if write {
			return &backend.NotWritableError{Location: b.location, Err: err}
		}
		return err
	}
	return fmt.Errorf("%s at %s: %w", what, b.endpoint, err)
}
