package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestFaultPostgresRestart: four goroutines upload to a Store on a private
// PostgreSQL cluster, which is stopped in the middle of the uploads, first
// immediate (every backend quits at once; the restart runs crash recovery),
// then fast (transactions rolled back, connections closed), and restarted
// each time on the same port and data directory. Uploads during an outage
// either fail with ErrUnavailable or succeed after retries; every
// acknowledged upload is readable afterwards, and once Collect has run the
// catalogue and bucket satisfy the invariants.
func TestFaultPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a private PostgreSQL; skipped in -short mode")
	}
	pg := faults.NewPostgresServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	dbURL := pg.URL()
	bucketURL := "file://" + filepath.Join(t.TempDir(), "blobs")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL,
		RetryAttempts: 6, RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 300 * time.Millisecond})

	var contents [][]byte
	for i, size := range []int{0, 100, 70 << 10, 1 << 20, 3000} {
		contents = append(contents, filestoretest.Content(uint64(200+i), size))
	}
	l := startLoad(ctx, st, 4, contents)
	for round, immediate := range []bool{true, false} {
		a0, _ := l.counts()
		l.waitFor(t, "uploads before the outage", 20*time.Second, func(a, _ int) bool { return a >= a0+8 })
		if err := pg.Stop(immediate); err != nil {
			t.Fatal(err)
		}
		// The cluster stays down until an upload has given up (its retries
		// span about a second); others are still retrying when it comes back.
		_, f1 := l.counts()
		l.waitFor(t, "an upload to fail during the outage", 20*time.Second, func(_, f int) bool { return f > f1 })
		if err := pg.Start(ctx); err != nil {
			t.Fatal(err)
		}
		a, f := l.counts()
		t.Logf("round %d (immediate %v): restarted after %d acknowledged, %d failed uploads", round, immediate, a, f)
	}
	a0, _ := l.counts()
	l.waitFor(t, "uploads after the restarts", 20*time.Second, func(a, _ int) bool { return a >= a0+8 })
	l.finish()
	acked, failed := l.counts()
	l.check(t)

	res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	if err != nil {
		t.Fatalf("Collect after the restarts: %v", err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
	t.Logf("%d uploads acknowledged and read back, %d failed with ErrUnavailable; Collect removed %+v", acked, failed, *res)
}

// TestOpenWaitsForDatabase: Open of a PostgreSQL catalogue whose server is
// not up yet tries again, with a warning per failed try, and succeeds once
// the server starts; when it never comes, Open fails with ErrUnavailable
// after RetryAttempts tries. Before, Open (so filestored's start) failed
// at the first refused connection.
func TestOpenWaitsForDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a private PostgreSQL; skipped in -short mode")
	}
	pg := faults.NewPostgresServer(t)
	if err := pg.Stop(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	t.Run("never up", func(t *testing.T) {
		rec := testenv.NewLogWatch(slog.LevelWarn, "filestore: database not reachable")
		st, err := filestore.Open(ctx, filestore.Options{
			Database: pg.URL(), Bucket: "file://" + filepath.Join(t.TempDir(), "blobs"), Logger: slog.New(rec),
			RetryAttempts: 3, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
		})
		if err == nil {
			_ = st.Close()
			t.Fatal("Open with the database down: no error")
		}
		if !errors.Is(err, filestore.ErrUnavailable) {
			t.Errorf("Open with the database down: %v, want ErrUnavailable", err)
		}
		if got := rec.Count(); got != 3 {
			t.Errorf("%d warnings, want one per try (3)", got)
		}
	})

	t.Run("comes up", func(t *testing.T) {
		rec := testenv.NewLogWatch(slog.LevelWarn, "filestore: database not reachable")
		type result struct {
			st  *filestore.Service
			err error
		}
		done := make(chan result, 1)
		go func() {
			st, err := filestore.Open(ctx, filestore.Options{
				Database: pg.URL(), Bucket: "file://" + filepath.Join(t.TempDir(), "blobs"), Logger: slog.New(rec),
				RetryAttempts: 100, RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
			})
			done <- result{st, err}
		}()
		select {
		case <-rec.First():
		case r := <-done:
			if r.st != nil {
				_ = r.st.Close()
			}
			t.Fatalf("Open returned (%v) before a warning, with the database down", r.err)
		case <-ctx.Done():
			t.Fatal("no warning from Open with the database down")
		}
		if err := pg.Start(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("Open once the database is up: %v", r.err)
		}
		defer r.st.Close()
		data := filestoretest.Content(9, 1000)
		f, err := r.st.Put(ctx, "alice", "", "a.txt", bytes.NewReader(data), nil)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := readAll(t, r.st, "alice", f.ID); !bytes.Equal(got, data) {
			t.Errorf("read back %d bytes, want %d", len(got), len(data))
		}
	})
}

// TestFrozenPostgresDBTryTimeout: on a private PostgreSQL frozen with
// SIGSTOP, a Store opened with a DBTryTimeout of 300ms fails a Stat with
// ErrUnavailable, though the caller gave it 10 s (the default 30 s would
// have let the caller's deadline end it first, with DeadlineExceeded);
// after the thaw the same Store answers.
func TestFrozenPostgresDBTryTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes a private PostgreSQL; skipped in -short mode")
	}
	pg := faults.NewPostgresServer(t)
	st := openURLs(t, filestore.Options{Database: pg.URL(), Bucket: "file://" + filepath.Join(t.TempDir(), "blobs"),
		DBTryTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	f, err := st.Put(ctx, "alice", "", "a.txt", bytes.NewReader([]byte("a")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "alice", f.ID); err != nil { // a pooled connection, for the frozen server to hold
		t.Fatal(err)
	}
	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := true
	t.Cleanup(func() {
		if frozen {
			_ = pg.Thaw()
		}
	})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = st.Stat(sctx, "alice", f.ID)
	if !errors.Is(err, filestore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat on the frozen server: %v; want ErrUnavailable, not the caller's deadline", err)
	}
	frozen = false
	if err := pg.Thaw(); err != nil {
		t.Fatal(err)
	}
	// A server just woken on a loaded machine can take longer than 300ms
	// to answer or to accept a new connection (an audit's run saw it):
	// the Store answers once the server keeps up, with nothing but
	// ErrUnavailable meanwhile, within a minute.
	guard, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		got, err := st.Stat(guard, "alice", f.ID)
		if err == nil && got.Name == "a.txt" {
			break
		}
		if !errors.Is(err, filestore.ErrUnavailable) || guard.Err() != nil {
			t.Fatalf("Stat after the thaw: %+v, %v; want a.txt, or ErrUnavailable while the server catches up", got, err)
		}
	}
}
