package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/internal/retry"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
)

// Open opens the bucket at rawURL. A nil opts is the zero value. Open
// contacts no server (Ping does): ctx serves only the loading of an S3
// client's configuration.
//
//   - file:///abs/dir or file://./rel/dir: a local directory, created if
//     missing. Writes are durable when Close returns (unless opts.NoSync):
//     the file is fdatasync'ed before its atomic rename and its directory
//     fsync'ed after it.
//   - mem://: an in-memory bucket, for tests.
//   - s3://BUCKET?region=R&endpoint=URL&use_path_style=true: S3 or an
//     S3-compatible server, with every parameter of gocloud's s3blob URL
//     opener. Credentials come from the AWS SDK's default chain
//     (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY first). Response checksum
//     validation defaults to when_required (override with
//     response_checksum_validation=when_supported).
//
// Every scheme accepts prefix=P/, which confines the bucket to keys under P
// (for file://, the subdirectory P). Open does not contact remote services
// (use Ping). An unusable URL yields an error wrapping ErrInvalidURL.
func Open(ctx context.Context, rawURL string, opts *Options) (*Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not url.Error's own text, which quotes the URL (escaped, so
		// that redact.Error would not find it) with any secret in it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	q := u.Query()
	prefix := q.Get("prefix")
	q.Del("prefix")
	u.RawQuery = q.Encode()
	if prefix != "" && !filepath.IsLocal(prefix) {
		return nil, fmt.Errorf("%w: prefix %q", ErrInvalidURL, prefix)
	}
	switch u.Scheme {
	case "file":
		return openLocal(u, prefix, opts)
	case "mem":
		if len(q) > 0 {
			return nil, fmt.Errorf("%w: mem:// takes no parameters but prefix", ErrInvalidURL)
		}
		return newBucket(withPrefix(memblob.OpenBucket(nil), prefix), opts), nil
	case "s3":
		return openS3(ctx, u, prefix, opts)
	default:
		return nil, fmt.Errorf("%w: unsupported scheme in %q (want file, mem or s3)", ErrInvalidURL, redact.URL(rawURL))
	}
}

func withPrefix(b *blob.Bucket, prefix string) *blob.Bucket {
	if prefix == "" {
		return b
	}
	return blob.PrefixedBucket(b, prefix)
}

// openLocal opens a file:// URL (see Open).
func openLocal(u *url.URL, prefix string, opts *Options) (*Bucket, error) {
	if len(u.Query()) > 0 {
		return nil, fmt.Errorf("%w: file:// takes no parameters but prefix", ErrInvalidURL)
	}
	path := u.Path
	switch u.Host {
	case ".":
		if len(path) > 0 {
			path = path[1:]
		}
	case "", "localhost":
	default:
		return nil, fmt.Errorf("%w: file URL host must be empty, localhost or \".\" (file:///abs or file://./rel): %q", ErrInvalidURL, u.String())
	}
	if path == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: no directory in %q (use file:///abs or file://./rel)", ErrInvalidURL, u.String())
	}
	dir, err := filepath.Abs(filepath.Join(filepath.FromSlash(path), filepath.FromSlash(prefix)))
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	if opts == nil {
		opts = &Options{}
	}
	local := newLocalDir(dir, opts.NoSync)
	if err := local.makeRoot(); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	fb, err := fileblob.OpenBucket(dir, &fileblob.Options{
		DirFileMode: localDirMode,
		NoTempDir:   true, // temporary file next to the final one: same filesystem, atomic rename
		Metadata:    fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	b := newBucket(fb, opts)
	b.local = local
	return b, nil
}

// openS3 opens an s3:// URL (see Open) with gocloud's s3blob URL opener.
func openS3(ctx context.Context, u *url.URL, prefix string, opts *Options) (*Bucket, error) {
	q := u.Query()
	if q.Get("response_checksum_validation") == "" {
		// The SDK otherwise logs a warning to stderr for every response of a
		// server that sends no checksum (most S3-compatible servers).
		q.Set("response_checksum_validation", "when_required")
	}
	u.RawQuery = q.Encode()
	opener := new(s3blob.URLOpener)
	sb, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		// gocloud quotes the URL, with any secret in its parameters.
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, redact.Error(err, u.String()))
	}
	var client *s3.Client
	ok := sb.As(&client)
	_ = sb.Close()
	if !ok {
		return nil, fmt.Errorf("storage: open %s: s3blob exposes no *s3.Client", u.Host)
	}
	// The URL opener's client has the SDK's HTTP client, which waits for
	// an answer as long as the context lives: the bucket is opened again
	// over a copy of that client whose connections fail a read or write
	// that makes no progress for the stall timeout (see stallConn), whose
	// transport bounds the wait for response headers, and whose retries
	// stop once two tries of an operation went unanswered (see silent).
	// opener.Options holds what the URL set.
	timeout, stall := defaultResponseTimeout, defaultStallTimeout
	if opts != nil && opts.ResponseTimeout > 0 {
		timeout = opts.ResponseTimeout
	}
	if opts != nil && opts.StallTimeout > 0 {
		stall = opts.StallTimeout
	}
	client = s3.New(client.Options(), func(o *s3.Options) {
		hc, ok := o.HTTPClient.(*awshttp.BuildableClient)
		if !ok {
			hc = awshttp.NewBuildableClient()
		}
		hc = hc.WithDialerOptions(func(d *net.Dialer) {
			if d.Timeout <= 0 || d.Timeout > stall {
				d.Timeout = stall
			}
		})
		o.HTTPClient = &stallClient{c: hc.WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = timeout
			tr.DialContext = stallDialer(tr.DialContext, stall, timeout)
			// HTTP/1.1 only: HTTP/2 keeps a Read pending on a connection
			// whatever its streams do, so a download paused by a slow
			// consumer (flow control) would be taken for a stall.
			tr.ForceAttemptHTTP2 = false
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetHTTP1(true)
			if tr.TLSClientConfig != nil {
				tr.TLSClientConfig = tr.TLSClientConfig.Clone()
				tr.TLSClientConfig.NextProtos = slices.DeleteFunc(slices.Clone(tr.TLSClientConfig.NextProtos), func(p string) bool { return p == "h2" })
			}
			// An idle connection has a Read pending too (net/http's
			// readLoop), which times out after the stall timeout: the
			// pool closes it first, so that no request takes a
			// connection just as that Read fails.
			if idle := stall / 2; tr.IdleConnTimeout <= 0 || tr.IdleConnTimeout > idle {
				tr.IdleConnTimeout = idle
			}
		})}
		o.Retryer = &silenceRetryer{Retryer: o.Retryer}
		o.APIOptions = append(slices.Clone(o.APIOptions), recordOp)
	})
	sb, err = s3blob.OpenBucket(ctx, client, u.Host, &opener.Options)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	// Writers keep the SDK's retries (per part, which a Writer cannot
	// redo), with the tries and the longest delay of opts.Retry, so that an
	// upload rides out what a read does.
	var policy retry.Policy
	if opts != nil {
		policy = opts.Retry
	}
	policy = policy.Resolved()
	writes := s3.New(client.Options(), func(o *s3.Options) {
		// The SDK's own backoff starts at a second whatever MaxBackoff
		// says: 8 tries took 13.6 s, not the policy's 5 s.
		o.Retryer = awsretry.NewStandard(func(so *awsretry.StandardOptions) {
			so.MaxAttempts = policy.Attempts
			so.MaxBackoff = policy.Max
			so.Backoff = awsretry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
				return policy.Delay(attempt), nil
			})
			so.Retryables = append(slices.Clone(so.Retryables), awsretry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if isAPIError(err, codeDirectoryRace) {
					return aws.TrueTernary
				}
				return aws.UnknownTernary
			}))
		})
		o.Retryer = &silenceRetryer{Retryer: o.Retryer}
		o.RetryMaxAttempts = policy.Attempts
	})
	b := newBucket(withPrefix(sb, prefix), opts)
	var maxObject, memory int64
	var memoryWait time.Duration
	if opts != nil {
		maxObject, memory, memoryWait = opts.MaxObjectSize, opts.WriteMemory, opts.WriteMemoryWait
	}
	partSize := partSizeFor(maxObject)
	b.s3 = &s3Bucket{client: client, writes: writes, name: u.Host, prefix: prefix, partSize: partSize, concurrency: s3Concurrency,
		memory: newWriteMemory(memory, s3WriterMemory(partSize, s3Concurrency), memoryWait)}
	return b, nil
}
