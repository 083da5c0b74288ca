package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// frozenBucket is a Store.Ping whose database answers and whose bucket
// never does: it names the database if ctx had ended before it was called
// (as Service.Ping does, which asks the database first), else it waits
// for ctx to end, and then for release, and names the bucket.
type frozenBucket struct {
	pings   atomic.Int64
	started chan struct{} // receives once per ping that reached the bucket
	release chan struct{}
}

func (f *frozenBucket) ping(ctx context.Context) error {
	f.pings.Add(1)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	f.started <- struct{}{}
	<-ctx.Done()
	<-f.release
	return fmt.Errorf("bucket: %w", ctx.Err())
}

// TestReadinessTimedOutPing: callers of /readyz that come while a ping
// waits for a frozen bucket share that ping's outcome, which names the
// bucket, and it is remembered for readyFor like any other; a caller that
// goes away while it waits gets its own error and does not cut the ping
// short for the others.
func TestReadinessTimedOutPing(t *testing.T) {
	const timeout = 200 * time.Millisecond
	var (
		rd    readiness
		mu    sync.Mutex
		clock = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		now   = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		f     = &frozenBucket{started: make(chan struct{}, 16), release: make(chan struct{})}
		errs  = make([]error, 8)
		wg    sync.WaitGroup
	)
	leaderCtx, leave := context.WithCancel(context.Background())
	wg.Go(func() { errs[0] = rd.check(leaderCtx, now, timeout, f.ping) })
	<-f.started
	leave() // the client that started the ping goes away

	release := sync.OnceFunc(func() { close(f.release) })
	t.Cleanup(release) // if the test fails early
	goneCtx, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	goneErr := make(chan error, 1)
	go func() { goneErr <- rd.check(goneCtx, now, timeout, f.ping) }()
	var gone error
	select {
	case gone = <-goneErr:
	case <-time.After(10 * time.Second): // a hang, not a timing
		t.Fatal("a caller whose client went away still waits for the ping after 10 s")
	}
	for i := 1; i < len(errs); i++ {
		wg.Go(func() {
			// A minute to wait: far past the ping's timeout.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs[i] = rd.check(ctx, now, timeout, f.ping)
		})
	}
	release()
	wg.Wait()

	if !errors.Is(gone, context.Canceled) {
		t.Errorf("a caller gone while it waited: %v, want context.Canceled", gone)
	}
	for i, err := range errs {
		if err == nil || err.Error() != "bucket: context deadline exceeded" {
			t.Errorf("caller %d: %v, want the ping's timeout naming the bucket", i, err)
		}
	}
	if got := f.pings.Load(); got != 1 {
		t.Errorf("%d pings, want 1 shared by every caller", got)
	}

	// Remembered for readyFor, then asked again.
	mu.Lock()
	clock = clock.Add(readyFor - time.Millisecond)
	mu.Unlock()
	if err := rd.check(context.Background(), now, timeout, f.ping); err == nil || err.Error() != "bucket: context deadline exceeded" {
		t.Errorf("within readyFor: %v, want the remembered timeout", err)
	}
	if got := f.pings.Load(); got != 1 {
		t.Errorf("within readyFor: %d pings, want 1", got)
	}
	mu.Lock()
	clock = clock.Add(time.Millisecond)
	mu.Unlock()
	if err := rd.check(context.Background(), now, timeout, f.ping); err == nil || err.Error() != "bucket: context deadline exceeded" {
		t.Errorf("after readyFor: %v", err)
	}
	if got := f.pings.Load(); got != 2 {
		t.Errorf("after readyFor: %d pings, want 2", got)
	}
}

// TestReadinessPingPanics: a ping that panics ends its run, so that the
// callers waiting for it are not left waiting, and counts as not ready.
func TestReadinessPingPanics(t *testing.T) {
	var rd readiness
	now := time.Now
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller that pinged")
			}
		}()
		_ = rd.check(context.Background(), now, time.Second, func(context.Context) error { panic("boom") })
	}()
	err := rd.check(context.Background(), now, time.Second, func(context.Context) error { return nil })
	if !errors.Is(err, errPingPanicked) {
		t.Errorf("after a panicked ping: %v, want errPingPanicked remembered", err)
	}
}
