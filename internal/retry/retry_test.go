package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	errTransient = errors.New("transient")
	errPermanent = errors.New("permanent")
)

func isTransient(err error) bool { return errors.Is(err, errTransient) }

// fakeClock records the delays it is asked to wait and returns at once.
type fakeClock struct{ waits []time.Duration }

func (c *fakeClock) wait(ctx context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	return ctx.Err()
}

// script returns an fn that returns errs[i] on its i-th call (nil past the
// end) and counts the calls.
func script(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		i := *calls
		*calls++
		if i < len(errs) {
			return errs[i]
		}
		return nil
	}
}

func TestDo(t *testing.T) {
	tests := []struct {
		name      string
		policy    Policy
		errs      []error
		wantCalls int
		wantWaits int
		wantIs    error // nil: Do must succeed
	}{
		{name: "success first try", errs: nil, wantCalls: 1},
		{name: "transient then success", errs: []error{errTransient, errTransient}, wantCalls: 3, wantWaits: 2},
		{name: "permanent not retried", errs: []error{errPermanent}, wantCalls: 1, wantIs: errPermanent},
		{name: "transient then permanent", errs: []error{errTransient, errPermanent}, wantCalls: 2, wantWaits: 1, wantIs: errPermanent},
		{name: "default attempts run out", errs: []error{errTransient, errTransient, errTransient, errTransient, errTransient, errTransient}, wantCalls: 5, wantWaits: 4, wantIs: errTransient},
		{name: "three attempts", policy: Policy{Attempts: 3}, errs: []error{errTransient, errTransient, errTransient, errTransient}, wantCalls: 3, wantWaits: 2, wantIs: errTransient},
		{name: "one attempt", policy: Policy{Attempts: 1}, errs: []error{errTransient}, wantCalls: 1, wantIs: errTransient},
		{name: "negative attempts means one", policy: Policy{Attempts: -3}, errs: []error{errTransient}, wantCalls: 1, wantIs: errTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls int
			clock := &fakeClock{}
			err := do(t.Context(), tt.policy, isTransient, script(&calls, tt.errs...), clock.wait)
			if !errors.Is(err, tt.wantIs) || (tt.wantIs == nil) != (err == nil) {
				t.Errorf("do() = %v, want errors.Is %v", err, tt.wantIs)
			}
			got := struct{ Calls, Waits int }{calls, len(clock.waits)}
			want := struct{ Calls, Waits int }{tt.wantCalls, tt.wantWaits}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("calls/waits mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDoNilTransientRetriesNothing(t *testing.T) {
	var calls int
	err := do(t.Context(), Policy{}, nil, script(&calls, errTransient), (&fakeClock{}).wait)
	if !errors.Is(err, errTransient) || calls != 1 {
		t.Fatalf("do() = %v after %d calls, want errTransient after 1", err, calls)
	}
}

func TestDoDelaysGrowWithJitterAndCap(t *testing.T) {
	clock := &fakeClock{}
	var calls int
	p := Policy{Attempts: 6, Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	errs := []error{errTransient, errTransient, errTransient, errTransient, errTransient, errTransient}
	_ = do(t.Context(), p, isTransient, script(&calls, errs...), clock.wait)
	// Intervals 100, 200, 400, 400, 400 ms, each randomised by ±50%, capped at Max.
	bounds := []struct{ lo, hi time.Duration }{
		{50 * time.Millisecond, 150 * time.Millisecond},
		{100 * time.Millisecond, 300 * time.Millisecond},
		{200 * time.Millisecond, 400 * time.Millisecond},
		{200 * time.Millisecond, 400 * time.Millisecond},
		{200 * time.Millisecond, 400 * time.Millisecond},
	}
	if len(clock.waits) != len(bounds) {
		t.Fatalf("waited %d times (%v), want %d", len(clock.waits), clock.waits, len(bounds))
	}
	for i, b := range bounds {
		if d := clock.waits[i]; d < b.lo || d > b.hi {
			t.Errorf("wait %d = %v, want in [%v, %v]", i, d, b.lo, b.hi)
		}
	}
}

func TestDoDefaults(t *testing.T) {
	got := Policy{}.withDefaults()
	want := Policy{Attempts: 5, Base: 50 * time.Millisecond, Max: 2 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
	got = Policy{Base: time.Minute}.withDefaults()
	if got.Max != time.Minute {
		t.Errorf("Max below Base: got Max %v, want %v", got.Max, time.Minute)
	}
}

// TestDoCancelDuringWait uses the real timer with an hour-long delay: if Do
// did not honour ctx while waiting, the test would hang until its deadline.
func TestDoCancelDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	called := make(chan struct{})
	var calls int
	done := make(chan error, 1)
	go func() {
		done <- Do(ctx, Policy{Attempts: 10, Base: time.Hour, Max: time.Hour}, isTransient, func(context.Context) error {
			calls++
			if calls == 1 {
				close(called)
			}
			return errTransient
		})
	}()
	<-called
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) {
		t.Errorf("Do() = %v, want it to wrap context.Canceled and the last error", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
}

func TestDoCancelInsideFn(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls int
	err := do(ctx, Policy{}, isTransient, func(context.Context) error {
		calls++
		if calls == 2 {
			cancel()
		}
		return errTransient
	}, (&fakeClock{}).wait)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) || calls != 2 {
		t.Errorf("do() = %v after %d calls, want context.Canceled and errTransient after 2", err, calls)
	}
}

func TestDoContextDoneBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var calls int
	err := Do(ctx, Policy{}, isTransient, script(&calls))
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Errorf("Do() = %v after %d calls, want context.Canceled after 0", err, calls)
	}
}

func TestDoDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	err := Do(ctx, Policy{}, isTransient, func(context.Context) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do() = %v, want context.DeadlineExceeded", err)
	}
}

// TestPolicyDelay: Delay follows the policy Do waits by: Base doubled per
// retry, ±50%, never above Max, with the zero fields' defaults.
func TestPolicyDelay(t *testing.T) {
	tests := []struct {
		p      Policy
		n      int
		lo, hi time.Duration
	}{
		{Policy{Base: 100 * time.Millisecond, Max: time.Second}, 1, 50 * time.Millisecond, 150 * time.Millisecond},
		{Policy{Base: 100 * time.Millisecond, Max: time.Second}, 3, 200 * time.Millisecond, 600 * time.Millisecond},
		{Policy{Base: 100 * time.Millisecond, Max: time.Second}, 5, 500 * time.Millisecond, time.Second},
		{Policy{Base: 100 * time.Millisecond, Max: time.Second}, 60, 500 * time.Millisecond, time.Second},
		{Policy{}, 1, DefaultBase / 2, DefaultBase * 3 / 2},
		{Policy{}, 100, DefaultMax / 2, DefaultMax},
	}
	for _, tt := range tests {
		for range 100 {
			if d := tt.p.Delay(tt.n); d < tt.lo || d > tt.hi {
				t.Fatalf("%+v.Delay(%d) = %v, want %v to %v", tt.p, tt.n, d, tt.lo, tt.hi)
			}
		}
	}
}
