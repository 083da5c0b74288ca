package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunLoadCount(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int
		count       int64
	}{
		{"more requests than workers", 5, 37},
		{"more workers than requests", 16, 3},
		{"one worker", 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []int64
			workers := map[int]bool{}
			tl, err := runLoad(context.Background(), tt.concurrency, bounds{count: tt.count}, func(_ context.Context, w int, i int64) (int64, error) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, i)
				workers[w] = true
				return 10, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(seen)
			want := make([]int64, tt.count)
			for i := range want {
				want[i] = int64(i)
			}
			if diff := cmp.Diff(want, seen); diff != "" {
				t.Errorf("request indices (-want +got):\n%s", diff)
			}
			if got := int64(len(tl.latencies)); got != tt.count || tl.bytes != 10*tt.count || tl.errors != 0 {
				t.Errorf("tally: %d ok, %d bytes, %d errors; want %d, %d, 0", got, tl.bytes, tl.errors, tt.count, 10*tt.count)
			}
			for w := range workers {
				if w < 0 || w >= min(tt.concurrency, int(tt.count)) {
					t.Errorf("worker index %d out of range", w)
				}
			}
		})
	}
}

func TestRunLoadNoBound(t *testing.T) {
	_, err := runLoad(context.Background(), 4, bounds{}, func(context.Context, int, int64) (int64, error) { return 0, nil })
	if !errors.Is(err, errNoBound) {
		t.Fatalf("err = %v, want errNoBound", err)
	}
}

func TestRunLoadStopsAfterMaxErrors(t *testing.T) {
	boom := errors.New("boom")
	tl, err := runLoad(context.Background(), 1, bounds{count: 1000, maxErrors: 5}, func(_ context.Context, _ int, i int64) (int64, error) {
		if i%2 == 0 {
			return 0, boom
		}
		return 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One worker: requests 0..8 run, 0,2,4,6,8 fail, then it stops.
	if tl.errors != 5 || len(tl.latencies) != 4 || !errors.Is(tl.firstErr, boom) {
		t.Fatalf("tally: %d errors, %d ok, first %v; want 5, 4, boom", tl.errors, len(tl.latencies), tl.firstErr)
	}
}

func TestRunLoadDuration(t *testing.T) {
	const d = 30 * time.Millisecond
	tl, err := runLoad(context.Background(), 3, bounds{duration: d}, func(ctx context.Context, _ int, _ int64) (int64, error) {
		return 1, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if tl.elapsed < d || len(tl.latencies) == 0 || tl.errors != 0 || tl.bytes != int64(len(tl.latencies)) {
		t.Fatalf("elapsed %v, %d ok, %d errors, %d bytes; want at least %v, some ok, no errors", tl.elapsed, len(tl.latencies), tl.errors, tl.bytes, d)
	}
}

func TestRunLoadCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled atomic.Bool
	var after atomic.Int64
	tl, err := runLoad(ctx, 2, bounds{count: 1 << 40}, func(_ context.Context, _ int, i int64) (int64, error) {
		if cancelled.Load() {
			after.Add(1)
		}
		if i == 100 {
			cancel()
			cancelled.Store(true)
		}
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Requests claimed before the cancel all run (indices are claimed in
	// order, so at least 0-100); after it, a worker that had already
	// passed its check may start one more, so at most one per other worker.
	if n := len(tl.latencies); n < 101 || after.Load() > 1 {
		t.Fatalf("%d requests, %d started after the cancel; want at least 101 and at most 1", n, after.Load())
	}
}
