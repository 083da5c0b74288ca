package storage

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SetPageSize sets the listing page size of remote buckets (tests use a small
// one to cross page boundaries).
func SetPageSize(b *Bucket, n int) { b.pageSize = n }

// PendingUploads returns the keys (without the bucket's prefix) of the
// multipart uploads in progress under key in an s3:// bucket, and nil for
// other buckets.
func PendingUploads(ctx context.Context, b *Bucket, key string) ([]string, error) {
	if b.s3 == nil {
		return nil, nil
	}
	out, err := b.s3.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(b.s3.name),
		Prefix: aws.String(b.s3.prefix + key),
	})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, strings.TrimPrefix(aws.ToString(u.Key), b.s3.prefix))
	}
	return keys, nil
}

// WaitReaped waits until b's searches for the multipart uploads of failed
// writers have all made their last search (see Bucket.reap).
func WaitReaped(b *Bucket) { b.reaping.Wait() }
