package storage_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/storage"
)

// blackhole accepts connections, reads what is sent, answers nothing. It
// counts the connections by the method of the request each carries.
func blackhole(t *testing.T) (string, *methodCount) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := &methodCount{n: map[string]int{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 64<<10)
				first := true
				for {
					n, err := c.Read(buf)
					if first && n > 0 {
						first = false
						method, _, _ := strings.Cut(string(buf[:n]), " ")
						conns.add(method)
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String(), conns
}

// methodCount counts connections by the method of their request.
type methodCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *methodCount) add(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[method]++
}

func (m *methodCount) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprint(m.n)
}

// most returns the method with the most connections, and how many.
func (m *methodCount) most() (string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	method, n := "", 0
	for k, v := range m.n {
		if v > n {
			method, n = k, v
		}
	}
	return method, n
}

// openBlackhole opens a Bucket on a blackhole server, with ResponseTimeout
// as short as StallTimeout, and returns it with its count of connections.
func openBlackhole(t *testing.T) (*storage.Bucket, *methodCount) {
	ep, conns := blackhole(t)
	b := openFakeBucket(t, ep, &storage.Options{
		StallTimeout:    400 * time.Millisecond,
		ResponseTimeout: 400 * time.Millisecond,
		Retry:           retry.Policy{Attempts: 8, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond},
	})
	return b, conns
}

// TestS3SilentTriesBounded: against a server that accepts connections and
// answers nothing, with ResponseTimeout as short as StallTimeout (so that
// the header timeout, not the stall, ends each try), every operation makes
// at most 2 tries, whatever Retry.Attempts allows (8). A review found 8, and
// 24 for ReadMarker, when header timeouts were not counted as silent. The
// tries are counted by method: a failed write's Close also deletes its key
// at once (one DELETE, see reap), which is not a try of the write.
func TestS3SilentTriesBounded(t *testing.T) {
	ops := map[string]func(ctx context.Context, b *storage.Bucket) error{
		"NewReader":  func(ctx context.Context, b *storage.Bucket) error { _, err := b.NewReader(ctx, "k"); return err },
		"ReadMarker": func(ctx context.Context, b *storage.Bucket) error { _, err := b.ReadMarker(ctx); return err },
		"List": func(ctx context.Context, b *storage.Bucket) error {
			return b.List(ctx, func(string, time.Time, int64) error { return nil })
		},
		"Delete":     func(ctx context.Context, b *storage.Bucket) error { return b.Delete(ctx, b.NewKey()) },
		"WriteSmall": func(ctx context.Context, b *storage.Bucket) error { return write(ctx, b, b.NewKey(), content(1000, 1)) },
		"Ping":       func(ctx context.Context, b *storage.Bucket) error { return b.Ping(ctx) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			b, conns := openBlackhole(t)
			start := time.Now()
			err := op(t.Context(), b)
			method, n := conns.most()
			t.Logf("%s: connections by method %v, %v: %v", name, conns, time.Since(start).Round(time.Millisecond), err)
			if n > 2 {
				t.Errorf("%s: %d silent tries of %s, want at most 2", name, n, method)
			}
		})
	}
}

// TestS3SilentCompleteBounded: a server that answers everything but
// CompleteMultipartUpload, which it never answers (frozen while
// assembling), gets at most 2 of them (a review found 8: the wait for
// their headers is bounded by ResponseTimeout, whose timeout was not
// counted as silent).
func TestS3SilentCompleteBounded(t *testing.T) {
	var completes atomic.Int32
	endpoint := multipartFake(t, func(w http.ResponseWriter, r *http.Request) {
		completes.Add(1)
		<-r.Context().Done()
	})
	b := openFakeBucket(t, endpoint, &storage.Options{
		StallTimeout:    300 * time.Millisecond,
		ResponseTimeout: 600 * time.Millisecond,
		Retry:           retry.Policy{Attempts: 8, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond},
	})
	start := time.Now()
	err := write(t.Context(), b, b.NewKey(), content(6<<20+1, 1))
	t.Logf("write: %v after %v, %d completes", err, time.Since(start).Round(time.Millisecond), completes.Load())
	if completes.Load() > 2 {
		t.Errorf("%d unanswered CompleteMultipartUpload tries, want at most 2", completes.Load())
	}
}
