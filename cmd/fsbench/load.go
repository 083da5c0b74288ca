package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// errNoBound: a load needs a request count or a duration (or both), so that
// it always ends.
var errNoBound = errors.New("fsbench: give -count or -duration")

// bounds says when a load stops: after count requests have been started (0:
// no limit), once duration has passed (0: no limit; requests under way then
// finish and count), or after maxErrors failed requests.
type bounds struct {
	count     int64
	duration  time.Duration
	maxErrors int64
}

// opFunc performs request number i (from 0) on worker w and returns the
// payload bytes it moved.
type opFunc func(ctx context.Context, w int, i int64) (int64, error)

// tally is what a load measured.
type tally struct {
	latencies []time.Duration // of the successful requests
	bytes     int64           // payload bytes of the successful requests
	errors    int64
	firstErr  error
	elapsed   time.Duration
}

// runLoad runs op on concurrency workers until b says stop, and returns what
// it measured. It returns errNoBound when b has neither a count nor a
// duration. Cancelling ctx stops the load; requests under way are cancelled.
func runLoad(ctx context.Context, concurrency int, b bounds, op opFunc) (*tally, error) {
	if b.count <= 0 && b.duration <= 0 {
		return nil, errNoBound
	}
	concurrency = max(concurrency, 1)
	if b.count > 0 {
		concurrency = int(min(int64(concurrency), b.count))
	}
	var (
		next     atomic.Int64
		nerr     atomic.Int64
		mu       sync.Mutex
		all      tally
		deadline time.Time
	)
	start := time.Now()
	if b.duration > 0 {
		deadline = start.Add(b.duration)
	}
	more := func() (int64, bool) {
		if ctx.Err() != nil || (b.maxErrors > 0 && nerr.Load() >= b.maxErrors) {
			return 0, false
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return 0, false
		}
		i := next.Add(1) - 1
		return i, b.count <= 0 || i < b.count
	}
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			var mine tally
			for {
				i, ok := more()
				if !ok {
					break
				}
				t0 := time.Now()
				n, err := op(ctx, w, i)
				d := time.Since(t0)
				if err != nil {
					nerr.Add(1)
					if mine.firstErr == nil {
						mine.firstErr = err
					}
					mine.errors++
					continue
				}
				mine.latencies = append(mine.latencies, d)
				mine.bytes += n
			}
			mu.Lock()
			all.latencies = append(all.latencies, mine.latencies...)
			all.bytes += mine.bytes
			all.errors += mine.errors
			if all.firstErr == nil {
				all.firstErr = mine.firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return &all, nil
}
