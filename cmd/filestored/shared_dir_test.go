package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/storage"
)

// sharedServer is one filestored process of several on one --data-dir.
type sharedServer struct {
	cmd  *exec.Cmd
	addr string
	logs *logBuffer
}

// startOnDataDir starts n filestored processes of bin on the data
// directory data (the embedded defaults: its SQLite catalogue, local
// bucket and generated JWT secret), each on a port of its own, all of
// them before it waits for any to listen: on an empty directory they race
// to create the catalogue, the bucket's marker and the secret. Each is
// killed when t ends, its log shown if t failed.
func startOnDataDir(t *testing.T, bin, data string, n int) []*sharedServer {
	t.Helper()
	var servers []*sharedServer
	for range n {
		s := &sharedServer{logs: newLogBuffer()}
		s.cmd = exec.Command(bin, "--addr", "127.0.0.1:0", "--data-dir", data,
			"--rate-ip", "0", "--rate-user", "0", "--gc-interval", "0")
		s.cmd.Env, s.cmd.Stderr = os.Environ(), s.logs
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait() // an error when the test waited already
			if t.Failed() {
				t.Logf("filestored on %s log:\n%s", s.addr, s.logs)
			}
		})
		servers = append(servers, s)
	}
	for _, s := range servers {
		s.addr = s.logs.waitFor(t, listening)[1]
	}
	return servers
}

// stop ends s with SIGTERM and fails t unless it exits with status 0.
func (s *sharedServer) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("filestored on %s after SIGTERM: %v", s.addr, err)
	}
}

// warnings are the lines of a server's log at level WARN or ERROR.
var warnings = regexp.MustCompile(`(?m)^.*level=(WARN|ERROR).*$`)

// ownerTokens mints, with the secret that the servers generated into
// data, a files:read files:write token for each owner and an admin token
// for "ops".
func ownerTokens(t *testing.T, data string, owners ...string) map[string]string {
	t.Helper()
	secret, err := auth.LoadOrCreateSecret(data)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, o := range append(owners, "ops") {
		scopes := []string{auth.ScopeRead, auth.ScopeWrite}
		if o == "ops" {
			scopes = []string{auth.ScopeAdmin}
		}
		tok, err := auth.Mint(secret, o, scopes, time.Hour, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tokens[o] = tok
	}
	return tokens
}

// TestTwoServersOneDataDir starts two filestored processes at the same
// moment on one empty --data-dir and drives both concurrently, for a
// bounded time, with uploads of overlapping content, downloads, renames,
// deletes, restores, purges and GC (mixedLoad). Both must have taken the same secret; no
// request may fail with 5xx (a database busy with the other process's
// write is waited for, not answered 503), and neither server may log a
// warning or an error. Then one server is replaced by a new process
// while the other serves (an overlapping restart), and a Store embedded
// in this test opens the directory too: every acknowledged upload that
// was not purged, and the embedded Store's own, reads back byte for byte
// through each server, and after GC the catalogue and bucket satisfy the
// invariants.
func TestTwoServersOneDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers for a while")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	servers := startOnDataDir(t, bin, data, 2)
	owners := []string{"alice", "bob"}
	tokens := ownerTokens(t, data, owners...)
	var contents [][]byte
	for i, size := range []int{0, 1, 4096, 70000, 300 << 10, 3 << 20} {
		contents = append(contents, filestoretest.Content(uint64(300+i), size))
	}
	c := &loadClient{http: &http.Client{Timeout: time.Minute}, tokens: tokens}
	// Each server takes a token signed with the secret in the data
	// directory: both kept the one that was created first.
	for _, s := range servers {
		if status, body := c.do(t, s.addr, "ops", "GET", "/v1/admin/stats", nil); status != http.StatusOK {
			t.Fatalf("stats through %s with the data directory's secret: %d %s", s.addr, status, body)
		}
	}
	load := &mixedLoad{addrs: []string{servers[0].addr, servers[1].addr}, owners: owners, contents: contents,
		workers: 6, duration: 20 * time.Second, maxOps: 2000, seed: 11}
	out := load.run(t, c)

	// An overlapping restart: the new process starts while the other
	// serves, then the old one stops.
	servers = append(servers, startOnDataDir(t, bin, data, 1)...)
	servers[0].stop(t)
	live := servers[1:]

	// A Store embedded in a program, on the directory the servers serve.
	dbURL, bucketURL := "sqlite://"+filepath.Join(data, "filestore.db"), "file://"+filepath.Join(data, "blobs")
	st, err := filestore.Open(context.Background(), filestore.Options{Database: dbURL, Bucket: bucketURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	embedded := filestoretest.Content(399, 1<<20)
	f, err := st.Put(context.Background(), "alice", "embedded", "e.bin", bytes.NewReader(embedded), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range live {
		if status, body := c.do(t, s.addr, "alice", "GET", "/v1/files/"+f.ID+"/content", nil); status != http.StatusOK || !bytes.Equal(body, embedded) {
			t.Errorf("the embedded Store's upload through %s: %d, %d bytes; want 200 and %d bytes", s.addr, status, len(body), len(embedded))
		}
	}

	out.readBack(t, c, contents, []string{live[0].addr, live[1].addr})

	for _, s := range live {
		s.stop(t)
	}
	for _, s := range servers {
		if w := warnings.FindAllString(s.logs.String(), -1); len(w) > 0 {
			t.Errorf("filestored on %s logged %d warnings or errors:\n%s", s.addr, len(w), strings.Join(w, "\n"))
		}
	}
	res, err := st.Collect(context.Background(), &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Collect once the servers stopped: %+v", *res)
	objects := filestoretest.CheckInvariants(t, dbURL, bucketURL, true)
	if objects > len(contents)+1 {
		t.Errorf("%d objects for %d distinct contents", objects, len(contents)+1)
	}
}

// TestGCSparesAnotherServersUpload: GC run by one filestored process
// leaves alone the staged bytes of an upload that another process on the
// same --data-dir is receiving (they are younger than the staging TTL,
// which the key carries), and that upload then succeeds and reads back
// through either process.
func TestGCSparesAnotherServersUpload(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	servers := startOnDataDir(t, bin, data, 2)
	tokens := ownerTokens(t, data, "alice")
	content := filestoretest.Content(400, 4<<20)

	pw, done := startUpload(t, servers[0].addr, tokens["alice"], "big.bin")
	if _, err := pw.Write(content[:1<<20]); err != nil {
		t.Fatal(err)
	}
	staged := waitForStaging(t, filepath.Join(data, "blobs", "o"))

	c := &loadClient{http: http.DefaultClient, tokens: tokens}
	status, body := c.do(t, servers[1].addr, "ops", "POST", "/v1/admin/gc", nil)
	var gc struct {
		RemovedStaging int `json:"removed_staging"`
	}
	if err := json.Unmarshal(body, &gc); status != http.StatusOK || err != nil {
		t.Fatalf("gc through the other server: %d %s", status, body)
	}
	if gc.RemovedStaging != 0 {
		t.Errorf("gc through the other server removed %d staged objects, want 0", gc.RemovedStaging)
	}
	if _, err := os.Stat(staged); err != nil {
		t.Errorf("the upload's staging file after the other server's gc: %v", err)
	}

	if _, err := pw.Write(content[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var f filestore.File
	if err := json.Unmarshal(r.body, &f); err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if status, body := c.do(t, s.addr, "alice", "GET", "/v1/files/"+f.ID+"/content", nil); status != http.StatusOK || !bytes.Equal(body, content) {
			t.Errorf("download through %s: %d, %d bytes; want 200 and %d bytes", s.addr, status, len(body), len(content))
		}
	}
}

// waitForStaging returns the path of the first file under dir, the object
// key space of a local bucket, that a writer is still writing (a
// temporary file, see storage.IsTemporary) with bytes in it, polling
// until one appears; it fails the test after a minute.
func waitForStaging(t *testing.T, dir string) string {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for {
		var found string
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || !storage.IsTemporary(path) {
				return nil
			}
			if fi, err := d.Info(); err == nil && fi.Size() > 0 {
				found = path
				return filepath.SkipAll
			}
			return nil
		})
		if found != "" {
			return found
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("no staging file with bytes in %s after a minute", dir)
		}
	}
}
