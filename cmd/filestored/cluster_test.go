package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestThreeServersOneTruth starts three filestored processes on one
// PostgreSQL database and one S3 bucket and drives them concurrently, for a
// bounded time, with uploads of overlapping content, downloads, renames,
// deletes, restores, purges and GC from several owners. Afterwards: every
// acknowledged upload that was not purged is readable byte for byte through
// each server, no owner sees another's files, and the catalogue and bucket
// satisfy the invariants (one object per content, exact ref counts, no
// unreferenced bytes after GC).
func TestThreeServersOneTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers for a while")
	}
	dbURL, bucketURL := testenv.PostgresDatabase(t), testenv.S3URL(t)
	bin := buildBinary(t)
	secret := strings.Repeat("cluster-secret-", 5)
	env := append(os.Environ(), "FILESTORE_JWT_SECRET="+secret)
	var addrs []string
	for range 3 {
		_, addr, _ := startProcess(t, bin, t.TempDir(), env, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--database", dbURL, "--bucket", bucketURL, "--rate-ip", "0", "--rate-user", "0")
		addrs = append(addrs, addr)
	}

	owners := []string{"alice", "bob", "carol"}
	tokens := map[string]string{}
	for _, o := range append(owners, "ops") {
		scopes := []string{auth.ScopeRead, auth.ScopeWrite}
		if o == "ops" {
			scopes = []string{auth.ScopeAdmin}
		}
		tok, err := auth.Mint([]byte(secret), o, scopes, time.Hour, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tokens[o] = tok
	}
	var contents [][]byte
	for i, size := range []int{0, 1, 4096, 70000, 300 << 10, 6 << 20} {
		contents = append(contents, filestoretest.Content(uint64(100+i), size))
	}
	c := &loadClient{http: &http.Client{Timeout: time.Minute}, tokens: tokens}
	// About a minute, as issue 6 asks, and at most 1200 operations per
	// worker.
	load := &mixedLoad{addrs: addrs, owners: owners, contents: contents, workers: 9, duration: time.Minute, maxOps: 1200, seed: 7}
	out := load.run(t, c)

	// Every acknowledged upload: purged, or readable through every server
	// by its owner and by nobody else.
	for _, u := range out.readBack(t, c, contents, addrs) {
		for _, other := range owners {
			if other == u.owner {
				continue
			}
			if status, _ := c.do(t, addrs[2], other, "GET", "/v1/files/"+u.id, nil); status != http.StatusNotFound {
				t.Errorf("%s sees %s's file %s: %d", other, u.owner, u.id, status)
			}
		}
	}

	// Quiescent: collect what a crash or a lost race could leave, then
	// check the catalogue against the bucket.
	st, err := filestore.Open(context.Background(), filestore.Options{Database: dbURL, Bucket: bucketURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Collect(context.Background(), &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	objects := filestoretest.CheckInvariants(t, dbURL, bucketURL, true)
	if objects > len(contents) {
		t.Errorf("%d objects for %d distinct contents", objects, len(contents))
	}
}
