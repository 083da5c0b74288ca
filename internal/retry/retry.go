// Package retry runs an operation again after transient failures, waiting a
// bounded, exponentially growing and jittered delay between tries.
package retry

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Defaults applied to the zero fields of a Policy.
const (
	DefaultAttempts = 5
	DefaultBase     = 50 * time.Millisecond
	DefaultMax      = 2 * time.Second
)

// Policy bounds the retries of Do. The zero value means DefaultAttempts
// tries with delays starting at DefaultBase and capped at DefaultMax.
type Policy struct {
	// Attempts is the total number of tries, the first included. Zero means
	// DefaultAttempts; 1 or a negative value means a single try (no retry).
	Attempts int
	// Base is the delay before the first retry (zero means DefaultBase). Each
	// further delay doubles, and each is randomised by ±50% (jitter).
	Base time.Duration
	// Max caps every delay (zero means DefaultMax; a Max below Base is raised
	// to Base).
	Max time.Duration
}

// Resolved returns p with its zero fields filled: the policy Do follows.
func (p Policy) Resolved() Policy { return p.withDefaults() }

// Delay returns the delay before retry number n (1 for the first retry),
// as Do waits it: Base doubled n-1 times, randomised by ±50%, never above
// Max. Clients that retry by themselves (the AWS SDK's) use it to follow
// the same policy.
func (p Policy) Delay(n int) time.Duration {
	p = p.withDefaults()
	bo := p.backoff()
	var d time.Duration
	for range max(n, 1) {
		d = bo.NextBackOff()
	}
	return min(d, p.Max)
}

// backoff is the schedule of p's delays; p has its defaults.
func (p Policy) backoff() *backoff.ExponentialBackOff {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     p.Base,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         p.Max,
	}
	bo.Reset()
	return bo
}

// withDefaults returns p with its zero fields filled.
func (p Policy) withDefaults() Policy {
	switch {
	case p.Attempts == 0:
		p.Attempts = DefaultAttempts
	case p.Attempts < 0:
		p.Attempts = 1
	}
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	return p
}

// Do calls fn until it succeeds, fn returns an error for which transient
// reports false (a nil transient treats every error as permanent), the
// attempts of p run out, or ctx is done.
//
// It returns nil on success. A permanent error is returned unchanged; when the
// attempts run out, fn's last error is returned wrapped with %w and the number
// of attempts. When ctx is done, before the first try or between tries, Do
// returns promptly (without waiting out the delay) with an error wrapping both
// ctx.Err() and fn's last error, if any. fn receives ctx unchanged, so what it
// opens with ctx may outlive Do.
func Do(ctx context.Context, p Policy, transient func(error) bool, fn func(ctx context.Context) error) error {
	return do(ctx, p, transient, fn, sleep)
}

// waitFunc waits d or until ctx is done, whichever comes first, and returns
// ctx.Err() in the second case.
type waitFunc func(ctx context.Context, d time.Duration) error

// sleep is the real waitFunc.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do implements Do with an injectable wait (tests use a fake clock).
func do(ctx context.Context, p Policy, transient func(error) bool, fn func(ctx context.Context) error, wait waitFunc) error {
	p = p.withDefaults()
	bo := p.backoff()
	var last error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return stopped(err, attempt-1, last)
		}
		last = fn(ctx)
		if last == nil {
			return nil
		}
		if transient == nil || !transient(last) {
			return last
		}
		if attempt >= p.Attempts {
			if attempt == 1 {
				return last
			}
			return fmt.Errorf("gave up after %d attempts: %w", attempt, last)
		}
		d := min(bo.NextBackOff(), p.Max)
		if err := wait(ctx, d); err != nil {
			return stopped(err, attempt, last)
		}
	}
}

// stopped is the error Do returns when ctx ended the retries.
func stopped(ctxErr error, attempts int, last error) error {
	if last == nil {
		return fmt.Errorf("retry: %w", ctxErr)
	}
	return fmt.Errorf("retry: %w after %d attempts; last error: %w", ctxErr, attempts, last)
}
