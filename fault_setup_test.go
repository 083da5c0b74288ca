package filestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
)

// faultEnv is a Store whose bucket (a local directory) and database (SQLite
// or PostgreSQL) fail as in's rules say. dbURL and bucketURL reach the same
// database and directory without faults, for checkInvariants.
type faultEnv struct {
	st               *filestore.Service
	in               *faults.Injector
	bkt              *blob.Bucket // the faulty bucket
	dbURL, bucketURL string
}

// Retry timing of fault tests: short, so that exhausting the attempts is
// quick; the attempts themselves are what the tests count.
const (
	faultRetryBase = time.Millisecond
	faultRetryMax  = 4 * time.Millisecond
)

// newFaultEnv makes a fresh faultEnv on the named database ("sqlite" or
// "postgres") with RetryAttempts attempts and the Options adjust changes.
// Its Store, database and bucket are closed when t ends.
func newFaultEnv(t *testing.T, db string, attempts int, adjust ...func(*filestore.Options)) *faultEnv {
	t.Helper()
	ctx := context.Background()
	in := faults.New()
	env := &faultEnv{in: in}

	dir := filepath.Join(t.TempDir(), "blobs")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	inner, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		t.Fatal(err)
	}
	env.bkt = faults.OpenBucket(inner, in)
	env.bucketURL = "file://" + dir
	t.Cleanup(func() { env.bkt.Close() })

	switch db {
	case "sqlite":
		env.dbURL = "sqlite://" + filepath.Join(t.TempDir(), "filestore.db")
	case "postgres":
		env.dbURL = testenv.PostgresDatabase(t)
	default:
		t.Fatalf("no database %q", db)
	}
	bdb := faults.OpenDB(t, env.dbURL, in)

	opts := filestore.Options{
		Logger: quietLogger(), RetryAttempts: attempts, RetryBaseDelay: faultRetryBase, RetryMaxDelay: faultRetryMax,
	}
	for _, f := range adjust {
		f(&opts)
	}
	env.st, err = filestore.New(ctx, bdb, env.bkt, opts)
	if err != nil {
		t.Fatalf("filestore.New: %v", err)
	}
	t.Cleanup(func() { env.st.Close() })
	return env
}

// outcome is what a faulty operation did, compared as a whole with cmp.Diff.
type outcome struct {
	// Err classifies the operation's error (see classify).
	Err string
	// Calls counts the calls of some operations while the rules were armed.
	Calls map[faults.Op]int
	// Files is Stats.Files, and Keys the number of keys in the bucket
	// directory (temporary files included), after the operation.
	Files int64
	Keys  int
	// Collected is what a Collect (StagingTTL 1ns) removed once the faults
	// were gone.
	Collected filestore.CollectResult
}

// classify names err for an outcome: "" for nil, the filestore sentinel it
// wraps, "canceled", "injected" for an injected error passed on unchanged
// (a permanent one), or its text.
func classify(err error) string {
	var injected *faults.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, filestore.ErrUnavailable):
		return "ErrUnavailable"
	case errors.Is(err, filestore.ErrNotFound):
		return "ErrNotFound"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &injected):
		return "injected"
	}
	return err.Error()
}

// bucketKeys counts the keys in the object key space of bucketURL,
// temporary files of unfinished local writes included.
func bucketKeys(t *testing.T, bucketURL string) int {
	t.Helper()
	b, err := storage.Open(context.Background(), bucketURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	if err := b.List(context.Background(), func(string, time.Time, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// calls returns in's counts of the ops in want.
func calls(in *faults.Injector, want map[faults.Op]int) map[faults.Op]int {
	if want == nil {
		return nil
	}
	got := map[faults.Op]int{}
	for op := range want {
		got[op] = in.Calls(op)
	}
	return got
}

// settle removes the faults, records the state in o, collects everything
// unreferenced (StagingTTL 1ns: no upload is in flight) and checks the
// invariants of design.md.
func (env *faultEnv) settle(t *testing.T, o *outcome) {
	t.Helper()
	ctx := context.Background()
	env.in.Disarm()
	st, err := env.st.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	o.Files = st.Files
	o.Keys = bucketKeys(t, env.bucketURL)
	res, err := env.st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	if err != nil {
		t.Fatalf("Collect without faults: %v", err)
	}
	o.Collected = *res
	checkInvariants(t, env.dbURL, env.bucketURL, true)
}
