package storage

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestPartSizeFor: S3 writers take parts of 5 MiB while 10000 of them hold
// the largest object, and the smallest whole MiB that does above that.
// Before, parts were always 5 MiB, and an upload over 48.8 GiB failed at
// its end with "exceeded total allowed MaxUploadParts".
func TestPartSizeFor(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		maxObject int64
		want      int
	}{
		{0, 5 * mib},
		{5 << 30, 5 * mib},
		{50000 * mib, 5 * mib},
		{50000*mib + 1, 6 * mib},
		{100 << 30, 11 * mib},
		{5 << 40, 525 * mib},
	} {
		got := partSizeFor(tt.maxObject)
		if got != tt.want {
			t.Errorf("partSizeFor(%d) = %d, want %d", tt.maxObject, got, tt.want)
		}
		if int64(got)*s3MaxParts < tt.maxObject {
			t.Errorf("partSizeFor(%d) = %d: 10000 parts hold only %d bytes", tt.maxObject, got, int64(got)*s3MaxParts)
		}
	}
}

// TestS3WriterPartSize: a bucket opened for objects of up to 60000 MiB
// uploads 12 MiB in two parts of 6 MiB (its multipart ETag ends in "-2";
// with 5 MiB parts it would be three), and the object reads back whole.
func TestS3WriterPartSize(t *testing.T) {
	b, err := Open(t.Context(), testenv.S3URL(t), &Options{MaxObjectSize: 60000 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	content := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16)
	key := b.NewKey()
	w, err := b.NewWriter(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Delete(t.Context(), key) })
	head, err := b.s3.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(b.s3.name), Key: aws.String(b.s3.prefix + key)})
	if err != nil {
		t.Fatal(err)
	}
	if etag := strings.Trim(aws.ToString(head.ETag), `"`); !strings.HasSuffix(etag, "-2") {
		t.Errorf("ETag %s: want a multipart upload of 2 parts", etag)
	}
	r, err := b.NewReader(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes (%v), equal %v; want the %d written", len(got), err, bytes.Equal(got, content), len(content))
	}
}
