package storage

import (
	"runtime/metrics"
	"testing"
	"time"
)

// forcedGCs returns how many collections the program has forced
// (runtime.GC) so far.
func forcedGCs() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestWriteMemoryFreesBeforeReuse: the share of a writer that closed goes
// back to the budget only after a collection, when a reservation needs it
// (the budget spent): a reservation that finds room runs none; one that
// finds the budget spent by a closed writer, or that waits while a writer
// closes, runs one before it gets its share. The tests of this package
// force no collection in parallel, so the counts are exact.
func TestWriteMemoryFreesBeforeReuse(t *testing.T) {
	tests := []struct {
		name string
		// run reserves and releases on a budget of two reservations.
		run func(t *testing.T, m *writeMemory)
		// wantGCs is the collections run forces; wantHeld, the bytes
		// held at its end.
		wantGCs  uint64
		wantHeld int64
	}{
		{"room in the budget", func(t *testing.T, m *writeMemory) {
			release := mustReserve(t, m)
			release()
			mustReserve(t, m)
		}, 0, 1},
		{"spent by a closed writer", func(t *testing.T, m *writeMemory) {
			mustReserve(t, m)
			release := mustReserve(t, m)
			release()
			mustReserve(t, m)
		}, 1, 2},
		{"a writer closes while one waits", func(t *testing.T, m *writeMemory) {
			waiting := make(chan struct{}, 1)
			m.onWait = func() { waiting <- struct{}{} }
			mustReserve(t, m)
			release := mustReserve(t, m)
			got := make(chan error, 1)
			go func() {
				_, err := m.reserve(t.Context())
				got <- err
			}()
			select {
			case <-waiting:
			case <-time.After(time.Minute):
				t.Fatal("the third reservation did not wait within a minute")
			}
			release()
			if err := <-got; err != nil {
				t.Fatalf("the reservation that waited: %v", err)
			}
		}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newWriteMemory(2, 1, -1)
			before := forcedGCs()
			tt.run(t, m)
			if n := forcedGCs() - before; n != tt.wantGCs {
				t.Errorf("%d collections forced, want %d", n, tt.wantGCs)
			}
			if h := m.held.Load(); h != tt.wantHeld {
				t.Errorf("%d bytes held, want %d", h, tt.wantHeld)
			}
		})
	}
}

// mustReserve reserves a writer's share of m, failing the test if it
// cannot, and returns the function that gives it back.
func mustReserve(t *testing.T, m *writeMemory) (release func()) {
	t.Helper()
	release, err := m.reserve(t.Context())
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	return release
}
