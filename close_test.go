package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestCloseOvertakesPut: a Put in flight when its Store is closed (here
// Close runs inside the extractor, after staging and before the commit)
// fails with ErrClosed and stores nothing, inline or in the bucket. Before,
// the error wrapped only the catalogue's own ("dedup: catalog closed").
func TestCloseOvertakesPut(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{100, 3 << 20} {
		dbURL, bucketURL := pairURLs(t, "sqlite", "file")
		ex := &hookExtractor{}
		st, err := filestore.Open(ctx, filestore.Options{Database: dbURL, Bucket: bucketURL, Extractor: ex, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ex.hook = func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		if _, err := st.Put(ctx, "alice", "", "a.bin", bytes.NewReader(filestoretest.Content(1, size)), nil); !errors.Is(err, filestore.ErrClosed) {
			t.Errorf("%d bytes: Put overtaken by Close = %v, want ErrClosed", size, err)
		}
		again := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
		if p, err := again.List(ctx, "alice", &filestore.ListOptions{Recursive: true}); err != nil || len(p.Files) != 0 {
			t.Errorf("%d bytes: files after the overtaken Put: %v, %v; want none", size, p, err)
		}
		if _, err := again.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, dbURL, bucketURL, true)
	}
}

// closingReader yields an endless stream in 64 KiB reads. After its first
// MiB it closes the Store (once) and then counts what it is asked for.
type closingReader struct {
	close     func()
	read      int64 // bytes handed out
	afterward int64 // bytes handed out after the Store was closed
	closed    bool
}

func (r *closingReader) Read(p []byte) (int, error) {
	n := min(len(p), 64<<10)
	clear(p[:n])
	r.read += int64(n)
	if r.closed {
		r.afterward += int64(n)
	} else if r.read >= 1<<20 {
		r.close()
		r.closed = true
	}
	return n, nil
}

// TestCloseStopsPut: Close while a Put is still reading its content makes
// that Put stop reading within a few chunks and fail with ErrClosed,
// leaving nothing staged in the bucket. Before, the Put read and staged the
// whole content (here it would never have ended) and then failed at the
// commit, and its staged bytes stayed in the bucket until Collect, the
// bucket being closed by then.
func TestCloseStopsPut(t *testing.T) {
	ctx := context.Background()
	dbURL, bucketURL := pairURLs(t, "sqlite", "file")
	st, err := filestore.Open(ctx, filestore.Options{Database: dbURL, Bucket: bucketURL, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r := &closingReader{close: func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}}
	_, err = st.Put(ctx, "alice", "", "endless.bin", r, nil)
	if !errors.Is(err, filestore.ErrClosed) || err.Error() != "filestore: put: filestore: store closed" {
		t.Errorf("Put overtaken by Close = %v, want ErrClosed (and no cancellation stuttered after it)", err)
	}
	if r.afterward > 1<<20 {
		t.Errorf("Put read %d bytes after Close, want at most a few 64 KiB reads", r.afterward)
	}
	again := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
	if p, err := again.List(ctx, "alice", nil); err != nil || len(p.Files) != 0 {
		t.Errorf("files after the stopped Put: %v, %v; want none", p, err)
	}
	if n := checkInvariants(t, dbURL, bucketURL, true); n != 0 {
		t.Errorf("%d objects after the stopped Put, want 0", n)
	}
}
