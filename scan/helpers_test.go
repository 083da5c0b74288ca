package scan_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/scan"
)

// Signature names of the shared clamd's database (clamd appends
// ".UNOFFICIAL" to custom signatures).
const (
	sigEICAR   = "Filestore.Test.EICAR.UNOFFICIAL"
	sigClamExe = "Filestore.Test.ClamExe.UNOFFICIAL"
)

const testfilesDir = "/usr/share/clamav-testfiles"

// newClam returns a ClamAV for addr or fails the test.
func newClam(t testing.TB, addr string, opts *scan.Options) *scan.ClamAV {
	t.Helper()
	c, err := scan.New(addr, opts)
	if err != nil {
		t.Fatalf("scan.New(%q): %v", addr, err)
	}
	return c
}

// eicar returns the 68-byte EICAR test string, assembled at run time so that
// the repository never holds it in one piece.
func eicar(t testing.TB) []byte {
	t.Helper()
	b := []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*"}, ""))
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f" {
		t.Fatalf("EICAR string assembled wrongly: sha256 %x", sum)
	}
	return b
}

// noise is an endless, deterministic stream of pseudo-random bytes
// (xorshift64*), produced without allocating.
type noise struct{ x uint64 }

func newNoise(seed uint64) *noise { return &noise{x: seed | 1} }

func (n *noise) Read(p []byte) (int, error) {
	var w [8]byte
	for i := 0; i < len(p); i += 8 {
		n.x ^= n.x >> 12
		n.x ^= n.x << 25
		n.x ^= n.x >> 27
		binary.LittleEndian.PutUint64(w[:], n.x*2685821657736338717)
		copy(p[i:], w[:])
	}
	return len(p), nil
}

// counter counts the bytes read through it and calls at, once, when the
// count first reaches atN (if at is set).
type counter struct {
	r   io.Reader
	n   int64
	atN int64
	at  func()
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.at != nil && c.n >= c.atN {
		c.at()
		c.at = nil
	}
	return n, err
}

// noiseThen returns size bytes of noise followed by tail.
func noiseThen(size int64, tail []byte) io.Reader {
	return io.MultiReader(io.LimitReader(newNoise(uint64(size)), size), bytes.NewReader(tail))
}

// waitGoroutines waits until no more than want goroutines run, failing the
// test if that does not happen within 10s (goroutines end asynchronously
// after the function that joined them through a channel has returned).
func waitGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testClamd is a clamd started by a test, listening on a unix socket in its
// own directory (and, if asked, on a free TCP port of 127.0.0.1), with its
// own signature database and configuration.
type testClamd struct {
	t       testing.TB
	dir     string
	conf    string
	addr    string // unix://…/clamd.sock
	tcpAddr string // tcp://127.0.0.1:port, when listening on TCP
	cmd     *exec.Cmd
	exited  chan struct{}
}

// tcpClamd is an extra line for startTestClamd: listen on TCP too.
const tcpClamd = "# listen on TCP too"

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startTestClamd writes a configuration (the base settings plus extra
// clamd.conf lines; tcpClamd adds a TCP socket), starts clamd in the foreground and waits for PONG. The
// test's cleanup kills it by its pid.
func startTestClamd(t testing.TB, extra ...string) *testClamd {
	t.Helper()
	testenv.ClamdAddr(t) // clamd tests are enabled on this machine
	if _, err := exec.LookPath("clamd"); err != nil {
		testenv.Missing(t, fmt.Sprintf("clamd binary not found (%v): run .ci/services/clamd.sh", err))
	}
	dir := t.TempDir()
	if len(dir) > 80 { // sun_path holds 108 bytes
		d, err := os.MkdirTemp("", "fsclamd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	ndb := fmt.Sprintf("Filestore.Test.EICAR:0:*:%s\n", hex.EncodeToString(eicar(t)))
	if err := os.WriteFile(filepath.Join(db, "test.ndb"), []byte(ndb), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	c := &testClamd{t: t, dir: dir, conf: filepath.Join(dir, "clamd.conf"), addr: "unix://" + sock}
	if slices.Contains(extra, tcpClamd) {
		port := freePort(t)
		c.tcpAddr = fmt.Sprintf("tcp://127.0.0.1:%d", port)
		extra = append(extra, "TCPAddr 127.0.0.1", fmt.Sprintf("TCPSocket %d", port))
	}
	conf := strings.Join(append([]string{
		"DatabaseDirectory " + db,
		"LocalSocket " + sock,
		"FixStaleSocket yes",
		"Foreground yes",
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"LogTime yes",
		"MaxThreads 2",
		"SelfCheck 0",
	}, extra...), "\n") + "\n"
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd != nil {
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
	c.start()
	return c
}

// start runs clamd and waits (at most a minute) until it answers PING.
func (c *testClamd) start() {
	c.t.Helper()
	if c.cmd != nil {
		c.t.Fatal("test clamd already running")
	}
	out, err := os.Create(filepath.Join(c.dir, "clamd.out"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("clamd", "--config-file="+c.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start clamd: %v", err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(c.exited)

	probe := newClam(c.t, c.addr, &scan.Options{DialTimeout: time.Second, ReadTimeout: 5 * time.Second})
	deadline := time.Now().Add(time.Minute)
	for {
		err := probe.Ping(context.Background())
		if err == nil {
			return
		}
		select {
		case <-c.exited:
			c.cmd = nil
			c.t.Fatalf("test clamd exited: %s", c.logs())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("test clamd did not answer PING within a minute: %v\n%s", err, c.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends clamd (SIGTERM, then SIGKILL after 15s) and waits for it.
func (c *testClamd) stop() {
	c.t.Helper()
	if c.cmd == nil {
		c.t.Fatal("test clamd is not running")
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// kill ends clamd with SIGKILL, as a crash or the OOM killer does, and
// waits for it to exit. It may run on any goroutine: it reports nothing.
func (c *testClamd) kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
	c.cmd = nil
}

func (c *testClamd) logs() string {
	var b strings.Builder
	for _, name := range []string{"clamd.out", "clamd.log"} {
		data, err := os.ReadFile(filepath.Join(c.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s", name, data)
	}
	return b.String()
}
