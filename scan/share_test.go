package scan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	tenantctx "github.com/filestore-go/filestore/internal/tenant"
	"github.com/filestore-go/filestore/internal/testenv"
)

// scanResult is what a Scan run in a goroutine returned.
type scanResult struct {
	res *filestore.ScanResult
	err error
}

// goScan runs c.Scan(ctx, r) in a goroutine; its outcome arrives on the
// channel.
func goScan(c *ClamAV, ctx context.Context, r io.Reader) <-chan scanResult {
	done := make(chan scanResult, 1)
	go func() {
		res, err := c.Scan(ctx, r)
		done <- scanResult{res, err}
	}()
	return done
}

// TestScanTenantShare runs against the real clamd with two connections,
// one per tenant: while alice's scan holds her one (its upload stalled
// after 5 bytes), her second scan waits, and bob's scan, and one without
// a tenant, go through. When her first scan ends, her second gets the
// connection and finds the EICAR string. Before the per-tenant share, her
// second scan took the last connection and bob's waited for it.
func TestScanTenantShare(t *testing.T) {
	c, err := New(testenv.ClamdAddr(t), &Options{MaxConcurrent: 2, ScanTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waits := make(chan string, 4)
	c.onShareWait = func(tenant string) { waits <- tenant }
	alice := tenantctx.With(t.Context(), "alice")

	pr1, pw1 := io.Pipe()
	defer pw1.Close()
	first := goScan(c, alice, pr1)
	if _, err := pw1.Write([]byte("hello")); err != nil { // read: it holds a connection
		t.Fatal(err)
	}
	pr2, pw2 := io.Pipe()
	defer pw2.Close()
	second := goScan(c, alice, pr2)
	select {
	case who := <-waits:
		if who != "alice" {
			t.Fatalf("%s waited for a share, want alice", who)
		}
	case r := <-second:
		t.Fatalf("alice's second scan did not wait for her share: %+v, %v", r.res, r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("alice's second scan did not wait for her share")
	}

	for name, ctx := range map[string]context.Context{"bob": tenantctx.With(t.Context(), "bob"), "no tenant": t.Context()} {
		res, err := c.Scan(ctx, strings.NewReader("bob's notes"))
		if err != nil || res.Signature != "" {
			t.Fatalf("%s's scan beside alice's two: %+v, %v; want clean", name, res, err)
		}
	}

	pw1.Close()
	if r := <-first; r.err != nil || r.res.Signature != "" {
		t.Fatalf("alice's first scan: %+v, %v; want clean", r.res, r.err)
	}
	eicar := []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*"}, ""))
	if _, err := io.Copy(pw2, bytes.NewReader(eicar)); err != nil {
		t.Fatal(err)
	}
	pw2.Close()
	if r := <-second; r.err != nil || !strings.Contains(r.res.Signature, "EICAR") {
		t.Fatalf("alice's second scan: %+v, %v; want an EICAR signature", r.res, r.err)
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if len(c.tenants) != 0 {
		t.Errorf("%d tenants' shares kept after their scans ended, want none", len(c.tenants))
	}
}

// TestScanTenantShareTimeout: a scan whose tenant's share stays held for
// all of ScanTimeout gives up with ErrScanIncomplete (its owner's pace, for
// Put to scan the staged copy again), not ErrScannerUnavailable (which
// fail-open would store unscanned), and reads nothing. The share is held by
// hand: scans of the tenant started earlier end earlier.
func TestScanTenantShareTimeout(t *testing.T) {
	c, err := New(testenv.ClamdAddr(t), &Options{MaxConcurrent: 2, ScanTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	held := &tenantShare{tenant: "alice", slots: make(chan struct{}, 1), refs: 1}
	held.slots <- struct{}{}
	c.tenants["alice"] = held
	r := &countingReader{r: strings.NewReader("data")}
	_, err = c.Scan(tenantctx.With(t.Context(), "alice"), r)
	if !errors.Is(err, filestore.ErrScanIncomplete) || errors.Is(err, filestore.ErrScannerUnavailable) {
		t.Fatalf("Scan with the tenant's share held = %v, want ErrScanIncomplete only", err)
	}
	if r.n != 0 {
		t.Errorf("Scan read %d bytes while waiting for the share, want 0", r.n)
	}
	if held.refs != 1 || c.tenants["alice"] != held {
		t.Errorf("share after the scan gave up: refs %d, kept %v; want 1, true", held.refs, c.tenants["alice"] == held)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
