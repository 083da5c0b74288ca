package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AbortStaleUploads aborts the S3 multipart uploads in the object key space
// for which stale, given the upload's key (as NewWriter was given it) and
// when it was started, reports true, and returns how many it aborted. A
// process that dies in the middle of an upload leaves one behind: its parts
// use space but are invisible to List, so the collector would never see
// them otherwise. Uploads in progress are safe as long as stale spares
// those started less long ago than any upload can take (the Writer of an
// aborted one fails with ErrUploadGone). Other backends have
// no such leftovers (a local writer's temporary file is listed by List): it
// returns 0, nil. If ctx is done, it stops with an error wrapping ctx.Err().
func (b *Bucket) AbortStaleUploads(ctx context.Context, stale func(key string, started time.Time) bool) (int, error) {
	if b.s3 == nil {
		return 0, nil
	}
	aborted, err := b.abortUploads(ctx, keyPrefix, func(key string, started time.Time) bool {
		return strings.HasPrefix(key, keyPrefix) && stale(key, started)
	}, b.retry)
	if errors.Is(err, errNoUploadListing) {
		b.log.WarnContext(ctx, "storage: the server cannot list multipart uploads; none aborted", "error", err)
		return aborted, nil
	}
	return aborted, err
}

// errNoUploadListing: the S3-compatible server answered the listing of
// multipart uploads 501 Not Implemented, so there is nothing it can find.
var errNoUploadListing = errors.New("storage: the server cannot list multipart uploads")

// abortUploads aborts the S3 multipart uploads in progress under prefix (a
// key prefix, without the bucket's) for which pick, given the upload's key
// (without the bucket's prefix) and when it started, reports true, and
// returns how many it aborted. run is b.retry, or once for a single try of
// each request. An upload already gone (NoSuchUpload) counts as aborted; a
// server without multipart listing gives an error wrapping
// errNoUploadListing.
func (b *Bucket) abortUploads(ctx context.Context, prefix string, pick func(key string, started time.Time) bool, run func(ctx context.Context, op, key string, fn func(ctx context.Context) error) error) (int, error) {
	s := b.s3
	full := s.prefix + prefix
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.name), Prefix: aws.String(full)}
	aborted := 0
	for {
		var out *s3.ListMultipartUploadsOutput
		err := run(ctx, "list uploads", full, func(ctx context.Context) error {
			var err error
			out, err = s.client.ListMultipartUploads(ctx, in, oneAttempt)
			return err
		})
		if err != nil {
			if c, ok := httpStatus(err); ok && c == http.StatusNotImplemented {
				return aborted, fmt.Errorf("%w: %w", errNoUploadListing, err)
			}
			return aborted, fmt.Errorf("storage: list multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			key, ok := strings.CutPrefix(aws.ToString(u.Key), s.prefix)
			if u.Initiated == nil || !ok || !pick(key, *u.Initiated) {
				continue
			}
			err := run(ctx, "abort upload", aws.ToString(u.Key), func(ctx context.Context) error {
				_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
					Bucket: aws.String(s.name), Key: u.Key, UploadId: u.UploadId,
				}, oneAttempt)
				return err
			})
			if err != nil && !isAPIError(err, "NoSuchUpload") {
				return aborted, fmt.Errorf("storage: abort upload of %s: %w", aws.ToString(u.Key), err)
			}
			aborted++
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
