package dedup_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/internal/faults"
)

// TestFrozenPostgres stops a private PostgreSQL with SIGSTOP: it keeps the
// pool's connections, accepts new ones and answers nothing. Each operation
// (a read, a transaction, a listing) fails with ErrNoAnswer once TryTimeout
// has passed, though the caller's context has a minute to go; with
// TryTimeout off it waits until the caller's context ends, as every
// operation did before. Once the server runs again, the same Catalog works.
func TestFrozenPostgres(t *testing.T) {
	pg := faults.NewPostgresServer(t)
	ctx := context.Background()
	open := func(timeout time.Duration) *dedup.Catalog {
		t.Helper()
		db, err := dedup.OpenDB(ctx, pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		c, err := dedup.New(ctx, db, &dedup.Options{TryTimeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	bounded, unbounded := open(300*time.Millisecond), open(-1)
	commit(t, bounded, "f1", "a.txt", "k1")
	for _, c := range []*dedup.Catalog{bounded, unbounded} {
		// A connection in each pool, to be held by the frozen server.
		if _, err := c.Stat(ctx, "o", "f1"); err != nil {
			t.Fatalf("Stat before the freeze: %v", err)
		}
	}

	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := true
	thaw := func() {
		if frozen {
			frozen = false
			if err := pg.Thaw(); err != nil {
				t.Errorf("thaw: %v", err)
			}
		}
	}
	t.Cleanup(thaw) // before the server's own cleanup, which cannot stop it frozen

	name := "b.txt"
	for _, op := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Stat", func(ctx context.Context) error { _, err := bounded.Stat(ctx, "o", "f1"); return err }},
		{"Move", func(ctx context.Context) error { _, err := bounded.Move(ctx, "o", "f1", nil, &name); return err }},
		{"List", func(ctx context.Context) error {
			_, _, err := bounded.List(ctx, "o", dedup.ListQuery{Limit: 10})
			return err
		}},
	} {
		guard, cancel := context.WithTimeout(ctx, time.Minute)
		err := op.run(guard)
		guardErr := guard.Err()
		cancel()
		if !errors.Is(err, dedup.ErrNoAnswer) || errors.Is(err, context.DeadlineExceeded) || guardErr != nil {
			t.Errorf("%s with the server frozen = %v (the caller's minute passed: %v); want ErrNoAnswer, not DeadlineExceeded", op.name, err, guardErr != nil)
		}
	}

	guard, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := unbounded.Stat(guard, "o", "f1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, dedup.ErrNoAnswer) {
		t.Errorf("Stat with TryTimeout off = %v; want the caller's DeadlineExceeded", err)
	}

	thaw()
	// Without TryTimeout: a server just woken on a loaded machine can take
	// longer than 300ms to answer (CI saw it), which is not the question.
	guard, cancel = context.WithTimeout(ctx, time.Minute)
	defer cancel()
	f, err := unbounded.Stat(guard, "o", "f1")
	if err != nil || f.Name != "a.txt" {
		t.Fatalf("Stat after the thaw = %+v, %v; want a.txt (the Move that timed out was never applied)", f, err)
	}
	// The bounded catalogue answers again too, once the server keeps up.
	for {
		f, err := bounded.Stat(guard, "o", "f1")
		if err == nil && f.Name == "a.txt" {
			break
		}
		if !errors.Is(err, dedup.ErrNoAnswer) || guard.Err() != nil {
			t.Fatalf("bounded Stat after the thaw = %+v, %v; want a.txt, or ErrNoAnswer while the server catches up", f, err)
		}
	}
}
