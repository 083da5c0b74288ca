package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/internal/testenv"
)

func TestNewWriteMemory(t *testing.T) {
	tests := []struct {
		name         string
		limit, per   int64
		wait         time.Duration
		nolimit      bool
		wantPer      int64
		wantCapacity int64 // reservations of wantPer that fit
		wantTenant   int64 // of them, one tenant's
		wantWait     time.Duration
	}{
		{name: "negative: no limit", limit: -1, per: 30 << 20, nolimit: true},
		{name: "zero: the defaults", limit: 0, per: 30 << 20, wantPer: 30 << 20, wantCapacity: 8, wantTenant: 4, wantWait: time.Minute},
		{name: "two writers, wait until ctx ends", limit: 60 << 20, per: 30 << 20, wait: -1, wantPer: 30 << 20, wantCapacity: 2, wantTenant: 1, wantWait: 0},
		{name: "below one writer: cut to the budget", limit: 1, per: 30 << 20, wait: time.Second, wantPer: 1, wantCapacity: 1, wantTenant: 1, wantWait: time.Second},
		{name: "twelve writers", limit: 12, per: 1, wantPer: 1, wantCapacity: 12, wantTenant: 6, wantWait: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newWriteMemory(tt.limit, tt.per, tt.wait)
			if tt.nolimit {
				if m != nil {
					t.Fatalf("newWriteMemory(%d, %d) = %+v, want nil (no limit)", tt.limit, tt.per, m)
				}
				release, err := m.reserve(t.Context())
				if err != nil {
					t.Fatalf("reserve on no limit: %v", err)
				}
				release()
				return
			}
			if m.per != tt.wantPer || m.perTenant != tt.wantTenant || m.wait != tt.wantWait {
				t.Errorf("per %d, per tenant %d, wait %v; want %d, %d, %v", m.per, m.perTenant, m.wait, tt.wantPer, tt.wantTenant, tt.wantWait)
			}
			var n int64
			for m.sem.TryAcquire(m.per) {
				n++
			}
			if n != tt.wantCapacity {
				t.Errorf("%d reservations fit, want %d", n, tt.wantCapacity)
			}
		})
	}
}

// TestWriteMemoryWaits: with room for two reservations, a third waits until
// one is given back; one whose context ends while it waits fails with the
// context's error and holds nothing afterwards.
func TestWriteMemoryWaits(t *testing.T) {
	m := newWriteMemory(2, 1, -1)
	tenant := func(name string) context.Context { return WithTenant(t.Context(), name) }
	waiting := make(chan struct{}, 4)
	m.onWait = func() { waiting <- struct{}{} }
	await := func(what string) {
		t.Helper()
		select {
		case <-waiting:
		case <-time.After(time.Minute):
			t.Fatalf("the %s did not wait within a minute", what)
		}
	}
	r1, err1 := m.reserve(tenant("a"))
	r2, err2 := m.reserve(tenant("b"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if len(waiting) != 0 {
		t.Fatalf("a reservation within the budget waited")
	}
	if h, w := m.held.Load(), m.waiting.Load(); h != 2 || w != 0 {
		t.Errorf("held %d, waiting %d with two reservations; want 2, 0", h, w)
	}

	ctx, cancel := context.WithCancel(tenant("c"))
	canceled := make(chan error, 1)
	go func() {
		_, err := m.reserve(ctx)
		canceled <- err
	}()
	await("reservation to cancel")
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Fatalf("reserve whose context ended while it waited: %v, want context.Canceled", err)
	}

	got := make(chan func(), 1)
	go func() {
		r, err := m.reserve(tenant("d"))
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	await("third reservation")
	select {
	case <-got:
		t.Fatal("a third reservation went through while two were held")
	default:
	}
	if h, w := m.held.Load(), m.waiting.Load(); h != 2 || w != 1 {
		t.Errorf("held %d, waiting %d with two reservations and one waiting; want 2, 1", h, w)
	}
	r1()
	var r3 func()
	select {
	case r3 = <-got:
	case <-time.After(time.Minute):
		t.Fatal("the third reservation still waits a minute after one was given back")
	}
	// The cancelled wait held nothing: r2 and r3 are all that is held.
	r2()
	r3()
	if h, w := m.held.Load(), m.waiting.Load(); h != 0 || w != 0 {
		t.Errorf("held %d, waiting %d once all were given back; want 0, 0", h, w)
	}
	for _, name := range []string{"c", "d"} {
		if _, err := m.reserve(tenant(name)); err != nil {
			t.Fatalf("reservation of %s after all were given back: %v", name, err)
		}
	}
	if len(waiting) != 0 {
		t.Errorf("%d reservations waited after all were given back", len(waiting))
	}
	if n := m.tenants.Len(); n != 2 {
		t.Errorf("%d tenants' shares kept, want 2 (those of the reservations held)", n)
	}
}

// TestWriteMemoryNoTenant: writers opened without a tenant are limited by
// the budget alone.
func TestWriteMemoryNoTenant(t *testing.T) {
	m := newWriteMemory(2, 1, -1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// A reservation that waits would wait for ever (nothing is given back):
	// end it, so that the test fails rather than hangs.
	m.onWait = func() {
		t.Error("a reservation without a tenant waited within the budget")
		cancel()
	}
	for i := range 2 {
		if _, err := m.reserve(ctx); err != nil {
			t.Fatalf("reservation %d: %v", i+1, err)
		}
	}
	if n := m.tenants.Len(); n != 0 {
		t.Errorf("%d tenants' shares kept, want none", n)
	}
}

// TestWriteMemoryTenantShare: a tenant holds at most half of the
// budget's writers; its next reservation waits while other tenants' go
// through, and goes through when one of its own is given back.
func TestWriteMemoryTenantShare(t *testing.T) {
	m := newWriteMemory(4, 1, -1) // 2 per tenant
	waiting := make(chan struct{}, 4)
	m.onWait = func() { waiting <- struct{}{} }
	a := WithTenant(t.Context(), "alice")
	ra1, err1 := m.reserve(a)
	ra2, err2 := m.reserve(a)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	third := make(chan error, 1)
	go func() {
		r, err := m.reserve(a)
		if err == nil {
			defer r()
		}
		third <- err
	}()
	select {
	case <-waiting:
	case <-time.After(time.Minute):
		t.Fatal("alice's third reservation did not wait")
	}
	for i := range 2 {
		if _, err := m.reserve(WithTenant(t.Context(), "bob")); err != nil {
			t.Fatal(err)
		}
		if len(waiting) != 0 {
			t.Fatalf("bob's reservation %d waited behind alice's", i+1)
		}
	}
	select {
	case err := <-third:
		t.Fatalf("alice's third reservation went through while she held two (err %v)", err)
	default:
	}
	ra1()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("alice's third reservation still waits a minute after one of hers was given back")
	}
	ra2()
}

// TestWriteMemoryBusy, in virtual time: a reservation fails with ErrBusy
// (transient, not its context's error, holding nothing) once what it waits
// for has not moved for the wait since it started waiting: the budget, or
// its tenant's half. Writers that end, however late, keep it waiting; other
// tenants' do not keep a tenant's stuck half waiting; a tenant's
// reservations waiting for a moving budget keep the next of its waiting.
func TestWriteMemoryBusy(t *testing.T) {
	const wait = 300 * time.Millisecond
	t.Run("stuck", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newWriteMemory(1, 1, wait)
			release, err := m.reserve(WithTenant(t.Context(), "a"))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = m.reserve(WithTenant(t.Context(), "b"))
			if !errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) || !IsTransient(err) {
				t.Fatalf("reserve of a budget held without a release: %v; want ErrBusy, transient, not DeadlineExceeded", err)
			}
			if waited := time.Since(start); waited != wait {
				t.Errorf("failed after %v, want %v", waited, wait)
			}
			release()
			if whole := m.tryAcquire(); !whole || m.tenants.Len() != 0 {
				t.Errorf("after the failed wait and the release: budget whole %v, %d tenants kept; want it whole, none", whole, m.tenants.Len())
			}
		})
	})
	t.Run("tenant stuck, others moving", func(t *testing.T) {
		// Alice's two writers hold her half and never close; bob's
		// close every 50 ms. Alice's next waits for her own, not them.
		synctest.Test(t, func(t *testing.T) {
			m := newWriteMemory(4, 1, wait)
			alice := WithTenant(t.Context(), "alice")
			for range 2 {
				if _, err := m.reserve(alice); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(t.Context())
			bobDone := make(chan struct{})
			go func() {
				defer close(bobDone)
				for ctx.Err() == nil {
					r, err := m.reserve(WithTenant(ctx, "bob"))
					if err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
					r()
				}
			}()
			start := time.Now()
			bounded, cancelBounded := context.WithTimeout(alice, 10*time.Minute) // fails, not hangs, if never busy
			defer cancelBounded()
			_, err := m.reserve(bounded)
			if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), `tenant "alice"`) {
				t.Fatalf("alice's reservation beyond her half, her writers stuck: %v; want ErrBusy naming her half", err)
			}
			if waited := time.Since(start); waited != wait {
				t.Errorf("failed after %v, want %v", waited, wait)
			}
			cancel()
			<-bobDone
		})
	})
	t.Run("tenant's half queued for a moving budget", func(t *testing.T) {
		// Four writers without a tenant fill the budget and close one
		// every 50 s; two more wait ahead of alice. Her first two
		// reservations hold her half while they wait for the budget,
		// so her third waits for them, not for a writer of hers to
		// close: it keeps waiting while the budget moves, and gives up
		// a minute after her second got the budget (at 200 s) and
		// neither of hers closed. Once none of hers waits for the
		// budget, its moving (q1 closing at 230 s) no longer counts.
		const wait = time.Minute
		synctest.Test(t, func(t *testing.T) {
			m := newWriteMemory(4, 1, wait) // 2 per tenant
			start := time.Now()
			var holders []func()
			for range 4 {
				r, err := m.reserve(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				holders = append(holders, r)
			}
			got := make(chan string, 8)
			releases := make(chan func(), 8) // in the order they got the budget
			reserve := func(name string, ctx context.Context) {
				go func() {
					r, err := m.reserve(ctx)
					if err != nil {
						got <- fmt.Sprintf("%s: %v at %v", name, err, time.Since(start))
						return
					}
					releases <- r
					got <- fmt.Sprintf("%s at %v", name, time.Since(start))
				}()
				synctest.Wait() // queued in this order
			}
			alice := WithTenant(t.Context(), "alice")
			reserve("q1", t.Context())
			reserve("q2", t.Context())
			reserve("a1", alice)
			reserve("a2", alice)
			reserve("a3", alice)
			for _, r := range holders {
				time.Sleep(50 * time.Second)
				r()
			}
			var events []string
			for range 4 {
				events = append(events, <-got)
			}
			time.Sleep(30 * time.Second)
			(<-releases)() // q1's
			events = append(events, <-got)
			want := []string{"q1 at 50s", "q2 at 1m40s", "a1 at 2m30s", "a2 at 3m20s",
				`a3: storage: upload memory all in use: waited for the half of tenant "alice", which did not move in 1m0s at 4m20s`}
			if diff := cmp.Diff(want, events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("moving", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newWriteMemory(1, 1, wait)
			r0, err := m.reserve(WithTenant(t.Context(), "a"))
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan func(), 2)
			start := time.Now()
			for _, name := range []string{"b", "c"} {
				go func() {
					r, err := m.reserve(WithTenant(t.Context(), name))
					if err != nil {
						t.Errorf("%s: %v after %v", name, err, time.Since(start))
						close(got)
						return
					}
					got <- r
				}()
				synctest.Wait() // b queues before c
			}
			time.Sleep(250 * time.Millisecond)
			r0()
			rb := <-got
			time.Sleep(250 * time.Millisecond)
			rb()
			rc, ok := <-got
			if !ok {
				t.FailNow()
			}
			if waited := time.Since(start); waited != 500*time.Millisecond {
				t.Errorf("c got its share after %v, want 500ms", waited)
			}
			rc()
		})
	})
}

// TestS3WriteMemoryBound uploads to the real S3 server with a budget of two
// writers: a third NewWriter waits until one of them closes, and its object
// is stored whole; one whose context ends while it waits fails with the
// context's error, holds nothing, and stores nothing; six concurrent uploads
// of 7 MiB (multipart) never have more than two writers open and all read
// back byte for byte.
func TestS3WriteMemoryBound(t *testing.T) {
	per := s3WriterMemory(s3PartSize, s3Concurrency)
	b, err := Open(t.Context(), testenv.S3URL(t), &Options{WriteMemory: 2 * per})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var waits atomic.Int64
	waiting := make(chan struct{}, 16)
	b.s3.memory.onWait = func() { waits.Add(1); waiting <- struct{}{} }
	guard := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatalf("no %s within a minute", what)
		}
	}
	var keys []string
	newKey := func() string {
		k := b.NewKey()
		keys = append(keys, k)
		return k
	}
	t.Cleanup(func() {
		for _, k := range keys {
			_ = b.Delete(context.Background(), k)
		}
	})

	k1, k2, k3, k4 := newKey(), newKey(), newKey(), newKey()
	tenant := func(name string) context.Context { return WithTenant(t.Context(), name) }
	w1, err1 := b.NewWriter(tenant("a"), k1)
	w2, err2 := b.NewWriter(tenant("b"), k2)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if n := waits.Load(); n != 0 {
		t.Fatalf("%d writers within the budget waited", n)
	}

	ctx4, cancel4 := context.WithCancel(tenant("d"))
	failed := make(chan error, 1)
	go func() {
		w, err := b.NewWriter(ctx4, k4)
		if err == nil {
			_ = w.Close()
		}
		failed <- err
	}()
	guard("wait of the writer to cancel", waiting)
	cancel4()
	if err := <-failed; !errors.Is(err, context.Canceled) {
		t.Fatalf("NewWriter cancelled while it waited: %v, want an error wrapping context.Canceled", err)
	}

	type result struct {
		w   *Writer
		err error
	}
	third := make(chan result, 1)
	go func() {
		w, err := b.NewWriter(tenant("c"), k3)
		third <- result{w, err}
	}()
	guard("wait of the third writer", waiting)
	select {
	case r := <-third:
		t.Fatalf("a third writer opened while two held the budget (err %v)", r.err)
	default:
	}
	if h, w := b.UploadMemory(); h != 2*per || w != 1 {
		t.Errorf("UploadMemory() = %d, %d with two writers open and one waiting; want %d, 1", h, w, 2*per)
	}
	data1 := randomBytes(7<<20, 1)
	if _, err := w1.Write(data1); err != nil {
		t.Fatal(err)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-third:
	case <-time.After(time.Minute):
		t.Fatal("the third writer still waits a minute after the first closed")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	data3 := randomBytes(3<<20, 3)
	if _, err := r.w.Write(data3); err != nil {
		t.Fatal(err)
	}
	if err := r.w.Close(); err != nil {
		t.Fatal(err)
	}
	// An aborted writer gives its share back too.
	_ = w2.Close()
	for k, want := range map[string][]byte{k1: data1, k3: data3} {
		if got := readAll(t, b, k); !bytes.Equal(got, want) {
			t.Errorf("%s: read back %d bytes, want the %d written", k, len(got), len(want))
		}
	}
	if _, err := b.NewReader(t.Context(), k4); !errors.Is(err, ErrNotFound) {
		t.Errorf("the cancelled writer's key: %v, want ErrNotFound", err)
	}

	// Six uploads at once: at most two writers open, all stored.
	waits.Store(0)
	var open, peak atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	datas := make([][]byte, 6)
	ks := make([]string, 6)
	for i := range 6 {
		datas[i], ks[i] = randomBytes(7<<20, uint64(10+i)), newKey()
	}
	for i := range 6 {
		wg.Go(func() {
			w, err := b.NewWriter(tenant(fmt.Sprint("t", i)), ks[i])
			if err != nil {
				errs <- err
				return
			}
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			for p := datas[i]; len(p) > 0; p = p[min(len(p), 256<<10):] {
				if _, err := w.Write(p[:min(len(p), 256<<10)]); err != nil {
					break
				}
			}
			open.Add(-1) // before Close, which gives the share back
			if err := w.Close(); err != nil {
				errs <- fmt.Errorf("upload %d: %w", i, err)
			}
		})
	}
	// The waits fill the channel's buffer; drain it as they come.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-waiting:
		case <-done:
			running = false
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("at most %d writers were open at once, want 2 (the budget)", p)
	}
	if waits.Load() == 0 {
		t.Error("no upload waited for the budget")
	}
	for i, k := range ks {
		if got := readAll(t, b, k); !bytes.Equal(got, datas[i]) {
			t.Errorf("upload %d: read back %d bytes, want the %d written", i, len(got), len(datas[i]))
		}
	}
	if h, w := b.UploadMemory(); h != 0 || w != 0 {
		t.Errorf("UploadMemory() = %d, %d once every writer closed; want 0, 0", h, w)
	}
	local, err := Open(t.Context(), "file://"+t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if h, w := local.UploadMemory(); h != 0 || w != 0 {
		t.Errorf("UploadMemory() of a local bucket = %d, %d; want 0, 0", h, w)
	}
}

// randomBytes returns n pseudo-random bytes, the same for the same seed.
func randomBytes(n int, seed uint64) []byte {
	p := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(p)
	return p
}

// readAll reads key whole, failing t on error.
func readAll(t *testing.T, b *Bucket, key string) []byte {
	t.Helper()
	r, err := b.NewReader(t.Context(), key)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", key, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return got
}
