package storage

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	tenantctx "github.com/filestore-go/filestore/internal/tenant"
)

// defaultWriteMemory is Options.WriteMemory's default: 8 S3 writers of 5 MiB
// parts at once.
const defaultWriteMemory = 256 << 20

// defaultWriteMemoryWait is Options.WriteMemoryWait's default.
const defaultWriteMemoryWait = time.Minute

// s3WriterMemory is what one S3 writer reserves from Options.WriteMemory: the
// transfer manager holds concurrency+1 parts while it uploads, and reads the
// first part into a buffer of its own that grows to about twice a part
// (26-30.5 MiB of peak heap measured with 5 MiB parts and a concurrency of 3,
// BenchmarkS3UploadMemory).
func s3WriterMemory(partSize, concurrency int) int64 {
	return int64(concurrency+3) * int64(partSize)
}

// WithTenant returns a context under which the Writers that NewWriter opens
// count against tenant's share of Options.WriteMemory: a tenant holds at
// most half of the budget's writers (at least one), so that one tenant's
// uploads cannot take all of it. Writers opened under a context without a
// tenant are limited by the budget alone. The scans of scan.ClamAV under
// such a context count against the tenant's share of clamd's connections
// too (scan.Options.MaxPerTenant). filestore's Put runs under its owner's.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return tenantctx.With(ctx, tenant)
}

// writeMemory is the memory budget that a bucket's S3 writers share (see
// Options.WriteMemory). A nil *writeMemory has no limit.
type writeMemory struct {
	sem       *semaphore.Weighted
	per       int64         // one writer's reservation, at most the whole budget
	perTenant int64         // the most writers one tenant holds at once
	wait      time.Duration // the longest wait for what does not move (see reserve); 0: until ctx ends

	tenants *tenantctx.Shares[tenantShare]

	// lastRelease is when a writer last gave its share back (UnixNano).
	lastRelease atomic.Int64
	// held is the bytes reserved now; waiting, the reservations waiting.
	held, waiting atomic.Int64

	// A closed writer's part buffers stay on the heap, as garbage, until
	// the collector runs: its share goes to unfreed, not back to sem, and
	// free runs collect (runtime.GC) before it gives unfreed back, when a
	// reservation finds the budget spent. Otherwise the next writers'
	// parts came on top of the garbage, and the heap went 1.5-2 times past
	// the budget (BenchmarkS3UploadMemoryFreed). collect nil: shares go
	// back at Close. budgetWaiters counts the reservations waiting for sem.
	collect       func()
	freeing       sync.Mutex // one free at a time
	unfreed       atomic.Int64
	budgetWaiters atomic.Int64

	// onWait, if set (tests), is called when a writer finds the budget
	// or its tenant's share spent and starts waiting.
	onWait func()
}

// tenantShare is the writers one tenant may still open, how many of its
// reservations hold a place in it and wait for the budget, and when the
// tenant's writers last moved (UnixNano): one gave its share back, or one of
// its reservations got the budget.
type tenantShare struct {
	sem      *semaphore.Weighted
	queued   atomic.Int64
	lastMove atomic.Int64
}

// newWriteMemory returns the budget of limit bytes shared by writers that
// each reserve per bytes and wait for it until what they wait for has not
// moved for wait (see reserve, and Options.WriteMemory and WriteMemoryWait
// for what 0 and negative values mean): nil, no limit, when limit is negative. A
// reservation larger than the budget is cut to the whole budget, so that one
// writer can always proceed.
func newWriteMemory(limit, per int64, wait time.Duration) *writeMemory {
	switch {
	case limit < 0:
		return nil
	case limit == 0:
		limit = defaultWriteMemory
	}
	switch {
	case wait < 0:
		wait = 0
	case wait == 0:
		wait = defaultWriteMemoryWait
	}
	per = min(per, limit)
	perTenant := max(1, limit/per/2)
	return &writeMemory{sem: semaphore.NewWeighted(limit), per: per, perTenant: perTenant, wait: wait, collect: runtime.GC,
		tenants: tenantctx.NewShares(func(string) *tenantShare { return &tenantShare{sem: semaphore.NewWeighted(perTenant)} })}
}

// reserve takes one writer's share of the budget for the tenant of ctx, if
// it has one (see WithTenant), waiting in turn (first come, first served)
// until the tenant is under its half and then until the budget has room. It
// returns the function that gives the share back. With nothing held, it
// fails with ctx's error if ctx ends first, or with an error wrapping
// ErrBusy once what it waits for has not moved for m.wait since it started
// waiting. While it waits for its tenant's half, that is the tenant's: one
// of its writers closed or one of its reservations got the budget, or, while
// some of them wait for the budget, the budget moved. While it waits for the
// budget, that is any writer closing. Writers that finish, even slowly, keep
// it waiting; writers that hold their shares without finishing (stalled or
// very slow uploads) do not, and a reservation never gives up while one
// ahead of it in its tenant's half still waits for a budget that moves.
func (m *writeMemory) reserve(ctx context.Context) (release func(), err error) {
	if m == nil {
		return func() {}, nil
	}
	tenant, tenanted := tenantctx.From(ctx)
	var ts *tenantShare
	if tenanted {
		ts = m.tenants.Take(tenant)
	}
	if ts == nil || ts.sem.TryAcquire(1) {
		if m.tryAcquire() {
			return m.releaser(tenant, ts), nil
		}
		if ts != nil {
			ts.sem.Release(1)
		}
	}
	m.waiting.Add(1)
	defer m.waiting.Add(-1)
	if m.onWait != nil {
		m.onWait()
	}
	var budget atomic.Bool // waiting for the budget, no longer the tenant's half
	wctx, stop := m.waitContext(ctx, func() int64 {
		if ts == nil || budget.Load() {
			return m.lastRelease.Load()
		}
		// queued before lastMove: a reservation that gets the budget
		// stamps lastMove before it leaves the queue, so one of the two
		// loads sees it.
		queued := ts.queued.Load() > 0
		last := ts.lastMove.Load()
		if queued {
			last = max(last, m.lastRelease.Load())
		}
		return last
	})
	defer stop()
	if ts != nil {
		err = ts.sem.Acquire(wctx, 1)
	}
	if err == nil {
		budget.Store(true)
		if ts != nil {
			ts.queued.Add(1)
		}
		// Counted before free, which then finds what a writer closing
		// meanwhile left in unfreed, or that writer finds this waiter.
		m.budgetWaiters.Add(1)
		m.free()
		err = m.sem.Acquire(wctx, m.per)
		m.budgetWaiters.Add(-1)
		if ts != nil {
			if err == nil {
				ts.lastMove.Store(time.Now().UnixNano())
			} else {
				ts.sem.Release(1)
			}
			ts.queued.Add(-1)
		}
	}
	if err != nil {
		if ts != nil {
			m.tenants.Drop(tenant)
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		what := "the bucket's upload memory"
		if !budget.Load() {
			what = fmt.Sprintf("the half of tenant %q", tenant)
		}
		return nil, fmt.Errorf("%w: waited for %s, which did not move in %v", ErrBusy, what, m.wait)
	}
	return m.releaser(tenant, ts), nil
}

// tryAcquire takes one writer's share of the budget if it has room, after
// freeing what closed writers left (see free) if it has none.
func (m *writeMemory) tryAcquire() bool {
	if m.sem.TryAcquire(m.per) {
		return true
	}
	if m.unfreed.Load() == 0 {
		return false
	}
	m.free()
	return m.sem.TryAcquire(m.per)
}

// free gives the shares of closed writers back to the budget once a
// collection has freed their part buffers (garbage since they closed).
func (m *writeMemory) free() {
	m.freeing.Lock()
	defer m.freeing.Unlock()
	n := m.unfreed.Swap(0)
	if n == 0 {
		return
	}
	m.collect()
	m.sem.Release(n)
}

// waitContext returns ctx, or with m.wait a child of it that ends once the
// time last returns (UnixNano), or the call's if later, is m.wait ago.
func (m *writeMemory) waitContext(ctx context.Context, last func() int64) (context.Context, func()) {
	if m.wait <= 0 {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	start := time.Now().UnixNano()
	var mu sync.Mutex
	var t *time.Timer
	var check func()
	check = func() {
		left := time.Duration(max(start, last()) + int64(m.wait) - time.Now().UnixNano())
		mu.Lock()
		defer mu.Unlock()
		if left <= 0 {
			cancel()
			return
		}
		if wctx.Err() == nil {
			t = time.AfterFunc(left, check)
		}
	}
	mu.Lock()
	t = time.AfterFunc(m.wait, check)
	mu.Unlock()
	return wctx, func() {
		cancel()
		mu.Lock()
		t.Stop()
		mu.Unlock()
	}
}

// releaser counts a reservation of tenant (ts nil: without a tenant) as
// held, and returns the function that gives it back.
func (m *writeMemory) releaser(tenant string, ts *tenantShare) func() {
	m.held.Add(m.per)
	return func() {
		m.held.Add(-m.per)
		now := time.Now().UnixNano()
		m.lastRelease.Store(now)
		if m.collect == nil {
			m.sem.Release(m.per)
		} else {
			// unfreed before budgetWaiters: a reservation that starts
			// waiting counts itself before it frees, so one of the two
			// sees the other (see reserve).
			m.unfreed.Add(m.per)
			if m.budgetWaiters.Load() > 0 {
				m.free()
			}
		}
		if ts != nil {
			ts.lastMove.Store(now)
			ts.sem.Release(1)
			m.tenants.Drop(tenant)
		}
	}
}

// UploadMemory reports the bytes of Options.WriteMemory that S3 Writers hold
// now and how many NewWriter calls wait for their share (see WriteMemory).
// Both are 0 for other buckets, and for an S3 bucket without a limit.
func (b *Bucket) UploadMemory() (held int64, waiting int) {
	if b.s3 == nil || b.s3.memory == nil {
		return 0, 0
	}
	m := b.s3.memory
	return m.held.Load(), int(m.waiting.Load())
}
