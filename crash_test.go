package filestore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// Environment of TestCrashChild, set by TestCrashSafety.
const (
	crashChildVar = "FILESTORE_CRASH_CHILD"
	crashDBVar    = "FILESTORE_CRASH_DB"
	crashBktVar   = "FILESTORE_CRASH_BUCKET"
	crashLogVar   = "FILESTORE_CRASH_LOG"
)

// TestCrashSafety starts a child process that uploads (and sometimes
// purges) in a loop and kills it with SIGKILL at random moments, several
// times; then it checks that every upload the child was told had succeeded
// is readable byte for byte, and that after Collect the invariants hold
// (no file row without its object, no leftovers).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, pair := range []struct{ db, bucket string }{{"sqlite", "file"}, {"postgres", "s3"}} {
		t.Run(pair.db+"/"+pair.bucket, func(t *testing.T) {
			dbURL, bucketURL := pairURLs(t, pair.db, pair.bucket)
			logPath := filepath.Join(t.TempDir(), "acks.log")
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
			for round := range 5 {
				killAfter := 1 + r.IntN(12)
				runAndKill(t, round, killAfter, dbURL, bucketURL, logPath)
			}
			acked, maybeGone := readAckLog(t, logPath)
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL})
			ctx := context.Background()
			checked := 0
			for id, sum := range acked {
				f, rd, err := st.Get(ctx, "crash", id)
				if err != nil {
					if maybeGone[id] {
						continue
					}
					t.Errorf("acknowledged upload %s lost: %v", id, err)
					continue
				}
				h := sha256.New()
				_, err = io.Copy(h, rd)
				rd.Close()
				if got := hex.EncodeToString(h.Sum(nil)); err != nil || got != sum || f.SHA256 != sum {
					t.Errorf("upload %s reads as %s (%v), acknowledged as %s", id, got, err, sum)
				}
				checked++
			}
			res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond})
			if err != nil {
				t.Fatalf("Collect after the crashes: %v", err)
			}
			t.Logf("%d acknowledged uploads, %d read back; Collect after the crashes: %+v", len(acked), checked, *res)
			if len(acked) < 5 {
				t.Fatalf("only %d uploads acknowledged in 5 rounds: the child did not run", len(acked))
			}
			checkInvariants(t, dbURL, bucketURL, true)
		})
	}
}

// runAndKill runs one child until it has acknowledged killAfter uploads,
// then kills it with SIGKILL while its other uploaders are mid-stream.
func runAndKill(t *testing.T, round, killAfter int, dbURL, bucketURL, logPath string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildVar+"="+strconv.Itoa(round), crashDBVar+"="+dbURL,
		crashBktVar+"="+bucketURL, crashLogVar+"="+logPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acks := 0
	for acks < killAfter && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ack ") {
			acks++
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	if acks < killAfter {
		t.Fatalf("round %d: child ended after %d acks (%v): %s", round, acks, err, stderr.String())
	}
}

// readAckLog returns the acknowledged uploads (id -> sha256) and the ids
// whose purge had begun when the child died.
func readAckLog(t *testing.T, path string) (map[string]string, map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	acked, gone := map[string]string{}, map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "put":
			acked[f[1]] = f[2]
		case len(f) == 2 && f[0] == "purge":
			gone[f[1]] = true
		}
	}
	return acked, gone
}

// TestCrashChild is the child process of TestCrashSafety: four uploaders
// put contents of assorted sizes until the process is killed (or a minute
// has passed), appending "put ID SHA256" to the log (synced) once Put has
// returned, and "purge ID" before purging one of them.
func TestCrashChild(t *testing.T) {
	round := os.Getenv(crashChildVar)
	if round == "" {
		t.Skip("runs only as the child process of TestCrashSafety")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := filestore.Open(ctx, filestore.Options{Database: os.Getenv(crashDBVar), Bucket: os.Getenv(crashBktVar), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(os.Getenv(crashLogVar), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	record := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := log.WriteString(line + "\n"); err != nil {
			panic(err)
		}
		if err := log.Sync(); err != nil {
			panic(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(g)))
			var mine []string
			for i := 0; ctx.Err() == nil; i++ {
				if len(mine) > 2 && r.IntN(4) == 0 {
					id := mine[r.IntN(len(mine))]
					record("purge " + id)
					_ = st.Purge(ctx, "crash", id)
					continue
				}
				// A few contents recur, so crashes hit the dedup paths.
				seed := uint64(r.IntN(6))
				data := filestoretest.Content(seed, []int{0, 100, 70000, 1 << 20, 3 << 20, 6 << 20}[seed])
				f, err := st.Put(ctx, "crash", "r"+round, fmt.Sprintf("g%d-%d", g, i), bytes.NewReader(data), nil)
				if err != nil {
					continue
				}
				mine = append(mine, f.ID)
				record("put " + f.ID + " " + f.SHA256)
				fmt.Println("ack " + f.ID)
			}
		})
	}
	wg.Wait()
}
