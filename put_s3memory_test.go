package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestPutS3UploadMemory runs uploads on a real S3 bucket with an
// S3UploadMemory that lets one upload hold parts at a time. Uploads of new
// content, of content compared with a stored object until it differs (its
// writer opens mid-stream), and of content with no declared size all
// complete, one after the other: no Put needs two writers at once, which
// would wait for ever. An upload whose context ends while another holds the
// budget fails with the context's error and stores nothing, and the same
// upload succeeds once the other has finished.
func TestPutS3UploadMemory(t *testing.T) {
	dbURL, bucketURL := pairURLs(t, "sqlite", "s3")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, S3UploadMemory: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const size = 6 << 20 // more than one 5 MiB part: multipart
	stored := filestoretest.Content(1, size)
	if _, err := st.Put(ctx, "alice", "", "stored.bin", bytes.NewReader(stored), nil); err != nil {
		t.Fatal(err)
	}
	differs := bytes.Clone(stored)
	differs[size-1] ^= 0xff
	uploads := []struct {
		name string
		body []byte
		opts *filestore.PutOptions
	}{
		{"new content", filestoretest.Content(2, size), nil},
		{"compared, differs in its last byte", differs, &filestore.PutOptions{Size: size}},
		{"new content, size declared", filestoretest.Content(3, 3<<20), &filestore.PutOptions{Size: 3 << 20}},
		{"stored content, size declared", stored, &filestore.PutOptions{Size: size}},
	}
	ids := make([]string, len(uploads))
	var wg sync.WaitGroup
	for i, u := range uploads {
		wg.Go(func() {
			f, err := st.Put(ctx, "alice", "", u.name, bytes.NewReader(u.body), u.opts)
			if err != nil {
				t.Errorf("%s: Put: %v", u.name, err)
				return
			}
			ids[i] = f.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, u := range uploads {
		if got := readAll(t, st, "alice", ids[i]); !bytes.Equal(got, u.body) {
			t.Errorf("%s: reads back %d bytes that differ from the %d uploaded", u.name, len(got), len(u.body))
		}
	}

	// One upload holds the budget while its body trickles in.
	finish := startUpload(ctx, t, st, "alice", filestoretest.Content(4, size))
	if h, w := st.UploadMemory(); h != 1 || w != 0 {
		t.Errorf("UploadMemory() = %d, %d while one upload holds the budget (of 1 byte); want 1, 0", h, w)
	}
	blocked := filestoretest.Content(5, size)
	putUntilDeadline(ctx, t, st, "alice", "blocked.bin", blocked, "Put while another upload holds the budget")
	if err := finish(); err != nil {
		t.Fatalf("the slow upload: %v", err)
	}
	f, err := st.Put(ctx, "alice", "", "blocked.bin", bytes.NewReader(blocked), nil)
	if err != nil {
		t.Fatalf("the upload that waited, again: %v", err)
	}
	if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, blocked) {
		t.Errorf("the upload that waited reads back %d bytes that differ from the %d uploaded", len(got), len(blocked))
	}
	if h, w := st.UploadMemory(); h != 0 || w != 0 {
		t.Errorf("UploadMemory() = %d, %d once every upload ended; want 0, 0", h, w)
	}
	if _, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: 1}); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
}

// TestPutS3UploadMemoryPerOwner: with an S3UploadMemory of two uploads, one
// owner holds at most one at a time. While alice's upload trickles in, her
// next upload waits (and fails when its context ends, storing nothing), and
// bob's goes through.
func TestPutS3UploadMemoryPerOwner(t *testing.T) {
	dbURL, bucketURL := pairURLs(t, "sqlite", "s3")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, S3UploadMemory: 60 << 20})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const size = 6 << 20

	finish := startUpload(ctx, t, st, "alice", filestoretest.Content(1, size))
	bobs := filestoretest.Content(2, size)
	f, err := st.Put(ctx, "bob", "", "bob.bin", bytes.NewReader(bobs), nil)
	if err != nil {
		t.Fatalf("bob's upload while alice's holds her share: %v", err)
	}
	if got := readAll(t, st, "bob", f.ID); !bytes.Equal(got, bobs) {
		t.Errorf("bob's upload reads back %d bytes that differ from the %d uploaded", len(got), len(bobs))
	}
	putUntilDeadline(ctx, t, st, "alice", "second.bin", filestoretest.Content(3, size), "alice's second upload while her first holds her share")
	if err := finish(); err != nil {
		t.Fatalf("alice's slow upload: %v", err)
	}
	if _, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: 1}); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
}

// startUpload starts owner's upload of data (more than 2 MiB) through a pipe
// and returns once its first 2 MiB have been read: by then Put has opened
// its bucket writer (it opens it after the first chunk) and holds its share
// of S3UploadMemory. finish sends the rest and returns Put's error.
func startUpload(ctx context.Context, t *testing.T, st filestore.Store, owner string, data []byte) (finish func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := st.Put(ctx, owner, "", "slow.bin", pr, nil)
		// A Put that returns early fails the writes below instead of
		// leaving them blocked.
		pr.CloseWithError(fmt.Errorf("Put returned: %v", err))
		done <- err
	}()
	if _, err := pw.Write(data[:2<<20]); err != nil {
		t.Fatalf("the first 2 MiB of %s's upload: %v", owner, err)
	}
	return func() error {
		if _, err := pw.Write(data[2<<20:]); err != nil {
			return err
		}
		_ = pw.Close()
		return <-done
	}
}

// putUntilDeadline puts content, which must wait for upload memory that
// another upload holds, with a deadline 2 s away: the Put (what) fails with
// context.DeadlineExceeded and stores nothing (Stats unchanged).
func putUntilDeadline(ctx context.Context, t *testing.T, st *filestore.Service, owner, name string, content []byte, what string) {
	t.Helper()
	before := stats(t, st)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := st.Put(short, owner, "", name, bytes.NewReader(content), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s, until its deadline: %v, want context.DeadlineExceeded", what, err)
	}
	if after := stats(t, st); after != before {
		t.Errorf("Stats %+v after %s failed, want %+v", after, what, before)
	}
}
