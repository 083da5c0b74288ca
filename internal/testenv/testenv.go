// Package testenv finds the real services that integration tests use.
//
// Each service is named by an environment variable, set by the scripts in
// .ci/services (eval "$(bash .ci/services/s3.sh)"):
//
//	FILESTORE_TEST_S3        s3://BUCKET?endpoint=…&region=…&use_path_style=true
//	                         (credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
//	FILESTORE_TEST_POSTGRES  postgres://user:pass@127.0.0.1:5432/db?sslmode=disable
//	FILESTORE_TEST_CLAMD       tcp://host:port
//	FILESTORE_TEST_CLAMD_UNIX  unix:///path/to/clamd.sock
//
// When a variable is unset the test is skipped with a message naming it,
// except when CI=true, where a missing service fails the test.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// Names of the environment variables.
const (
	S3Var        = "FILESTORE_TEST_S3"
	PostgresVar  = "FILESTORE_TEST_POSTGRES"
	ClamdVar     = "FILESTORE_TEST_CLAMD"
	ClamdUnixVar = "FILESTORE_TEST_CLAMD_UNIX"
)

// Lookup returns the value of the environment variable name, or skips t
// (fails it when CI=true) if it is unset; script names the .ci/services
// script that starts the service.
func Lookup(t testing.TB, name, script string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	Missing(t, fmt.Sprintf("%s is not set (start the service with eval \"$(bash .ci/services/%s)\")", name, script))
	return ""
}

// Missing skips t because what is missing, or fails it when CI=true, where
// every service the tests use must be there.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI=true requires it", what)
	}
	t.Skipf("%s: skipping", what)
}

// S3URL returns FILESTORE_TEST_S3 with a prefix= parameter naming a fresh,
// random key prefix (appended to any prefix already there), so the test has
// a key space of its own. When the test ends, every object under that prefix
// is deleted. Without the variable it skips t, or fails it when CI=true.
func S3URL(t testing.TB) string {
	t.Helper()
	raw := Lookup(t, S3Var, "s3.sh")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("%s=%q is not an s3:// URL (err %v)", S3Var, raw, err)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	q := u.Query()
	prefix := q.Get("prefix") + "test-" + hex.EncodeToString(r[:]) + "/"
	q.Set("prefix", prefix)
	u.RawQuery = q.Encode()
	t.Cleanup(func() { deletePrefix(t, u, prefix) })
	return u.String()
}

// deletePrefix deletes every object under prefix in the bucket of u.
func deletePrefix(t testing.TB, u *url.URL, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := *u
	q := base.Query()
	q.Del("prefix")
	if q.Get("response_checksum_validation") == "" {
		q.Set("response_checksum_validation", "when_required")
	}
	base.RawQuery = q.Encode()
	b, err := new(s3blob.URLOpener).OpenBucketURL(ctx, &base)
	if err != nil {
		t.Errorf("testenv: cleanup of %s: %v", prefix, err)
		return
	}
	defer b.Close()
	abortUploads(ctx, t, b, base.Host, prefix)
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("testenv: cleanup of %s: list: %v", prefix, err)
			}
			return
		}
		if err := b.Delete(ctx, obj.Key); err != nil {
			t.Errorf("testenv: cleanup of %s: %v", obj.Key, err)
		}
	}
}

// PostgresDSN returns FILESTORE_TEST_POSTGRES, a DSN for a role with
// CREATEDB. Without the variable it skips t, or fails it when CI=true.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return Lookup(t, PostgresVar, "postgres.sh")
}

// ClamdAddr returns FILESTORE_TEST_CLAMD, the address of a clamd. Without
// the variable it skips t, or fails it when CI=true.
func ClamdAddr(t testing.TB) string {
	t.Helper()
	return Lookup(t, ClamdVar, "clamd.sh")
}

// ClamdUnixAddr returns FILESTORE_TEST_CLAMD_UNIX, the unix socket address
// of the same clamd. Without the variable it skips t, or fails it when
// CI=true.
func ClamdUnixAddr(t testing.TB) string {
	t.Helper()
	return Lookup(t, ClamdUnixVar, "clamd.sh")
}

// abortUploads aborts the multipart uploads in progress under prefix, which
// a test that failed mid-upload may leave behind.
func abortUploads(ctx context.Context, t testing.TB, b *blob.Bucket, bucket, prefix string) {
	var client *s3.Client
	if !b.As(&client) {
		return
	}
	pages := s3.NewListMultipartUploadsPaginator(client, &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			t.Errorf("testenv: cleanup of %s: list uploads: %v", prefix, err)
			return
		}
		for _, u := range out.Uploads {
			if _, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
				t.Errorf("testenv: cleanup of %s: abort upload: %v", *u.Key, err)
			}
		}
	}
}
