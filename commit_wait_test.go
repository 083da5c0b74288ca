package filestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestPutGivesUpWhileLocked: while another connection holds SQLite's write
// lock, a Put whose context ends gives up with the context's error instead
// of waiting for the lock (before, once a batch had taken it, it waited
// past its deadline, up to the commit's retries, and then succeeded);
// nothing of it is stored, and a Put whose context lives on commits once
// the lock is free.
func TestPutGivesUpWhileLocked(t *testing.T) {
	dbURL, bucketURL := pairURLs(t, "sqlite", "file")
	st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
	ctx := context.Background()
	if _, err := st.Put(ctx, "alice", "", "first.txt", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}

	other, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Error(err)
			}
		})
	}
	defer unlock()
	// Before the fix, Put waited for the lock: free it after a while so
	// that the test fails instead of hanging.
	guard := time.AfterFunc(20*time.Second, unlock)
	defer guard.Stop()

	// The first Put's batch takes it and waits for the lock; the second
	// queues behind that batch.
	for _, tt := range []struct {
		name    string
		content []byte
	}{
		{"inline.txt", []byte("given up")},
		{"big.bin", filestoretest.Content(7, 2<<20)},
	} {
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		f, err := st.Put(dctx, "alice", "", tt.name, bytes.NewReader(tt.content), nil)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Put of %s while the database is locked: got %+v, %v; want context.DeadlineExceeded", tt.name, f, err)
		}
	}
	patient := make(chan error, 1)
	go func() {
		_, err := st.Put(ctx, "alice", "", "patient.txt", strings.NewReader("waits for the lock"), nil)
		patient <- err
	}()
	unlock()
	if err := <-patient; err != nil {
		t.Errorf("the Put whose context lives on: %v", err)
	}
	// The committer runs one batch at a time: this Put's answer comes
	// after every batch before it.
	if _, err := st.Put(ctx, "alice", "", "last.txt", strings.NewReader("y"), nil); err != nil {
		t.Fatal(err)
	}
	p, err := st.List(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, " "), "first.txt last.txt patient.txt"; got != want {
		t.Errorf("files %q, want %q", got, want)
	}
	if _, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, dbURL, bucketURL, true)
}
