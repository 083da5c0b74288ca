package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/filestoretest"
)

// TestServerKilledDuringUploads kills filestored with SIGKILL while
// clients upload (and purge) through it, restarts it on the same data
// directory, several times; every upload is answered 201 or cut off by a
// kill (never refused by the live server); then every upload that was
// answered 201 must read back byte for byte, and after GC the catalogue
// and the bucket must agree. It runs on the embedded defaults (SQLite and a local directory).
func TestServerKilledDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server several times")
	}
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	secret := strings.Repeat("kill-test-secret-", 4)
	env := append(os.Environ(), "FILESTORE_JWT_SECRET="+secret)
	start := func() (*exec.Cmd, string) {
		srv, addr, _ := startProcess(t, bin, "", env, "--addr", "127.0.0.1:0", "--data-dir", data, "--rate-ip", "0", "--rate-user", "0")
		return srv, addr
	}
	tok, err := auth.Mint([]byte(secret), "alice", nil, time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var contents [][]byte
	for i, size := range []int{1, 5000, 300 << 10, 3 << 20} {
		contents = append(contents, filestoretest.Content(uint64(200+i), size))
	}
	type upload struct {
		id      string
		content int
	}
	var (
		mu       sync.Mutex
		acked    []upload
		purging  = map[string]bool{}
		failures int
		refused  = map[string]int{} // answers to uploads other than 201, by status and problem code
	)
	client := &http.Client{Timeout: 30 * time.Second}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for round := range 4 {
		srv, addr := start()
		// Kill after a random number of acknowledged uploads, while the
		// other clients are mid-request.
		killAfter := 3 + r.IntN(10)
		acks := make(chan struct{}, 1024)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c := (w + i) % len(contents)
					if i%5 == 4 {
						mu.Lock()
						var victim string
						if len(acked) > 0 {
							victim = acked[(w*7+i)%len(acked)].id
							purging[victim] = true
						}
						mu.Unlock()
						if victim != "" {
							req, _ := http.NewRequest("DELETE", "http://"+addr+"/v1/files/"+victim+"?permanent=true", nil)
							req.Header.Set("Authorization", "Bearer "+tok)
							if res, err := client.Do(req); err == nil {
								res.Body.Close()
							}
						}
						continue
					}
					req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/v1/files?folder=r%d&name=w%d-%d", addr, round, w, i), bytes.NewReader(contents[c]))
					req.Header.Set("Authorization", "Bearer "+tok)
					res, err := client.Do(req)
					if err != nil {
						mu.Lock()
						failures++
						mu.Unlock()
						return // the server is gone
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						// A whole answer from a live server: no upload of
						// this test may be refused.
						var problem struct{ Code string }
						_ = json.Unmarshal(body, &problem)
						mu.Lock()
						refused[fmt.Sprintf("%d %s", res.StatusCode, problem.Code)]++
						mu.Unlock()
						continue
					}
					var f filestore.File
					if err := json.Unmarshal(body, &f); err != nil {
						continue // cut off mid-answer: not acknowledged
					}
					mu.Lock()
					acked = append(acked, upload{f.ID, c})
					mu.Unlock()
					select {
					case acks <- struct{}{}:
					default:
					}
				}
			})
		}
		timeout := time.After(time.Minute)
		for range killAfter {
			select {
			case <-acks:
			case <-timeout:
				t.Fatalf("round %d: fewer than %d uploads acknowledged in a minute", round, killAfter)
			}
		}
		if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		_ = srv.Wait()
	}
	t.Logf("%d uploads acknowledged across 4 kills, %d requests cut off by a kill", len(acked), failures)
	for answer, n := range refused {
		t.Errorf("%d uploads answered %s, want 201 or cut off by the kill", n, answer)
	}

	// Restart on the same data and check every acknowledged upload.
	srv, addr := start()
	readable := 0
	for _, u := range acked {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/files/"+u.id+"/content", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusNotFound && purging[u.id]:
		case res.StatusCode != http.StatusOK || !bytes.Equal(body, contents[u.content]):
			t.Errorf("acknowledged upload %s: %d, %d bytes; want content %d", u.id, res.StatusCode, len(body), u.content)
		default:
			readable++
		}
	}
	t.Logf("%d of them read back byte for byte after the restart", readable)
	_ = srv.Process.Signal(syscall.SIGTERM)
	_ = srv.Wait()

	dbURL, bucketURL := "sqlite://"+filepath.Join(data, "filestore.db"), "file://"+filepath.Join(data, "blobs")
	st, err := filestore.Open(context.Background(), filestore.Options{Database: dbURL, Bucket: bucketURL})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Collect(context.Background(), &filestore.CollectOptions{StagingTTL: time.Nanosecond})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Collect after the kills: %+v", *res)
	filestoretest.CheckInvariants(t, dbURL, bucketURL, true)
}
