package filestore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/storage"
)

// TestFaultS3Outage: four goroutines upload (small objects in one PUT,
// 6 MiB ones in a multipart upload) to a private versitygw, which is killed
// (SIGKILL) in the middle of the uploads, then later stopped (SIGTERM), and
// restarted each time on the same port and directory. Uploads during an
// outage fail with ErrUnavailable; every acknowledged upload is readable
// afterwards, and once Collect has run the catalogue and bucket satisfy the
// invariants.
func TestFaultS3Outage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a private versitygw; skipped in -short mode")
	}
	srv := faults.NewS3Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "filestore.db")
	bucketURL := srv.URL("")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL,
		RetryAttempts: 4, RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond})

	var contents [][]byte
	for i, size := range []int{100, 70 << 10, 1 << 20, 6 << 20, 3000, 6<<20 + 1} {
		contents = append(contents, filestoretest.Content(uint64(100+i), size))
	}
	l := startLoad(ctx, st, 4, contents)
	for round, sig := range []os.Signal{os.Kill, syscall.SIGTERM} {
		a0, f0 := l.counts()
		l.waitFor(t, "uploads before the outage", 20*time.Second, func(a, _ int) bool { return a >= a0+6 })
		if err := srv.Stop(sig); err != nil {
			t.Fatal(err)
		}
		l.waitFor(t, "uploads failing during the outage", 20*time.Second, func(_, f int) bool { return f >= f0+2 })
		if err := srv.Start(ctx); err != nil {
			t.Fatal(err)
		}
		a, f := l.counts()
		t.Logf("round %d (%v): restarted after %d acknowledged, %d failed uploads", round, sig, a, f)
	}
	a0, _ := l.counts()
	l.waitFor(t, "uploads after the restarts", 20*time.Second, func(a, _ int) bool { return a >= a0+6 })
	l.finish()
	acked, failed := l.counts()
	l.check(t)

	res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	if err != nil {
		t.Fatalf("Collect after the outages: %v", err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
	// Multipart uploads that the outage cut off and whose abort failed
	// are invisible to listing; Collect aborts them (they are older than
	// its staging TTL here).
	mp, err := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(faults.S3Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(mp.Uploads) != 0 {
		t.Errorf("%d incomplete multipart uploads left after Collect, want none", len(mp.Uploads))
	}
	t.Logf("%d uploads acknowledged and read back, %d failed with ErrUnavailable; Collect removed %+v; %d incomplete multipart uploads left",
		acked, failed, *res, len(mp.Uploads))
}

// TestFaultS3IncompleteMultipart checks the S3 caveat of docs/durability.md
// with filestore's writer settings: an object over one part (5 MiB) is sent
// as a multipart upload, and one that is cut off without its abort reaching
// the server (here the server dies; equally, the process crashes) stays as
// an incomplete upload that no listing shows; Collect's last step
// (storage.Bucket.AbortStaleUploads) aborts it once it is older than the
// staging TTL. Objects up to one part are sent with a single PUT at Close
// and leave nothing.
func TestFaultS3IncompleteMultipart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a private versitygw; skipped in -short mode")
	}
	srv := faults.NewS3Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	b, err := storage.Open(ctx, srv.URL(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := srv.Client()
	uploads := func() int {
		out, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(faults.S3Bucket)})
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		return len(out.Uploads)
	}

	// The writer's own Bucket stands for a process that crashes: it is
	// closed while the server is down, so that its search for what its
	// failed writer left (storage's reaper) finds nothing to abort, as a
	// crashed process would not search at all.
	crashed, err := storage.Open(ctx, srv.URL(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	key := b.NewKey()
	w, err := crashed.NewWriter(wctx, key)
	if err != nil {
		t.Fatal(err)
	}
	chunk := filestoretest.Content(9, 1<<20)
	// Write until the server has an upload in progress (the first part
	// goes out once 5 MiB are buffered).
	for i := 0; uploads() == 0; i++ {
		if i == 64 {
			t.Fatal("64 MiB written and still no multipart upload in progress")
		}
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := srv.Stop(os.Kill); err != nil {
		t.Fatal(err)
	}
	wcancel()
	if err := w.Close(); err == nil {
		t.Fatal("Close of a cancelled writer succeeded")
	}
	if err := crashed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := b.List(ctx, func(k string, _ time.Time, _ int64) error { listed = append(listed, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if n := uploads(); n != 1 || len(listed) != 0 {
		t.Fatalf("after the cut-off upload: %d incomplete multipart uploads and listed keys %v; want 1 and none", n, listed)
	}
	out, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(faults.S3Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Uploads[0].Key); !strings.HasSuffix(got, key) {
		t.Errorf("the incomplete upload is of %q, want %q", got, key)
	}

	// A small object is one PUT at Close: cut off before, it leaves nothing.
	w, err = b.NewWriter(ctx, b.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if n := uploads(); n != 1 {
		t.Fatalf("a 1 MiB write started a multipart upload: %d in progress, want the 1 from before", n)
	}
	if err := srv.Stop(os.Kill); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded while the server was down")
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	listed = nil
	if err := b.List(ctx, func(k string, _ time.Time, _ int64) error { listed = append(listed, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if n := uploads(); n != 1 || len(listed) != 0 {
		t.Fatalf("after the cut-off small write: %d incomplete multipart uploads and keys %v; want 1 and none", n, listed)
	}

	// The collector's last step aborts such uploads once they are older
	// than the staging TTL, and spares younger ones (possibly in progress).
	before := func(cutoff time.Time) func(string, time.Time) bool {
		return func(k string, started time.Time) bool {
			if k != key {
				t.Errorf("AbortStaleUploads asked about key %q, want %q", k, key)
			}
			return started.Before(cutoff)
		}
	}
	if n, err := b.AbortStaleUploads(ctx, before(time.Now().Add(-time.Hour))); err != nil || n != 0 || uploads() != 1 {
		t.Fatalf("AbortStaleUploads with an old cutoff: %d aborted (%v), %d left; want 0 and 1", n, err, uploads())
	}
	if n, err := b.AbortStaleUploads(ctx, before(time.Now().Add(time.Minute))); err != nil || n != 1 || uploads() != 0 {
		t.Fatalf("AbortStaleUploads: %d aborted (%v), %d left; want 1 and 0", n, err, uploads())
	}
}
