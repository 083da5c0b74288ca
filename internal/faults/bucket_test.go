package faults_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/storage"
	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"
)

func newBucket(t *testing.T) (*blob.Bucket, *faults.Injector) {
	t.Helper()
	in := faults.New()
	b := faults.OpenBucket(memblob.OpenBucket(nil), in)
	t.Cleanup(func() { b.Close() })
	return b, in
}

func write(ctx context.Context, b *blob.Bucket, key, data string) error {
	w, err := b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "text/plain"})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, data); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func keys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var ks []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return ks
		}
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		ks = append(ks, o.Key)
	}
}

// Without rules the wrapper is a faithful bucket.
func TestBucketPassesThrough(t *testing.T) {
	ctx := context.Background()
	b, in := newBucket(t)
	if err := write(ctx, b, "a/x", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := write(ctx, b, "a/y", "world!"); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadAll(ctx, "a/x")
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	r, err := b.NewRangeReader(ctx, "a/y", 2, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(part) != "rld" || r.Size() != 6 {
		t.Fatalf("range read = %q (size %d), %v; want \"rld\" of 6", part, r.Size(), err)
	}
	attrs, err := b.Attributes(ctx, "a/y")
	if err != nil || attrs.Size != 6 || attrs.ContentType != "text/plain" {
		t.Fatalf("Attributes = %+v, %v", attrs, err)
	}
	if err := b.Copy(ctx, "a/z", "a/x", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a/y"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/x", "a/z"}, keys(t, b)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	_, err = b.ReadAll(ctx, "missing")
	if gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("reading a missing key: %v (code %v), want NotFound", err, gcerrors.Code(err))
	}
	want := map[faults.Op]int{faults.OpNewWriter: 2, faults.OpWrite: 2, faults.OpClose: 2, faults.OpNewReader: 3, faults.OpRead: 2,
		faults.OpAttributes: 1, faults.OpCopy: 1, faults.OpDelete: 1, faults.OpList: 1}
	got2 := map[faults.Op]int{}
	for op := range want {
		got2[op] = in.Calls(op)
	}
	if diff := cmp.Diff(want, got2); diff != "" {
		t.Errorf("call counts (-want +got):\n%s", diff)
	}
}

// Skip and Times select which matching calls fail; Match selects the keys.
func TestBucketRuleSelection(t *testing.T) {
	ctx := context.Background()
	b, in := newBucket(t)
	for _, k := range []string{"k1", "k2", "k3", "k4", "other"} {
		if err := write(ctx, b, k, k); err != nil {
			t.Fatal(err)
		}
	}
	injected := faults.Unavailable()
	in.Arm(faults.Rule{Op: faults.OpDelete, Skip: 1, Times: 2, Err: injected,
		Match: func(key string) bool { return strings.HasPrefix(key, "k") }})
	var got []string
	for _, k := range []string{"other", "k1", "k2", "k3", "k4"} {
		err := b.Delete(ctx, k)
		switch {
		case err == nil:
			got = append(got, k+": ok")
		case errors.Is(err, injected) && gcerrors.Code(err) == gcerrors.Internal && storage.IsTransient(err):
			got = append(got, k+": injected transient")
		default:
			got = append(got, k+": "+err.Error())
		}
	}
	want := []string{"other: ok", "k1: ok", "k2: injected transient", "k3: injected transient", "k4: ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"k2", "k3"}, keys(t, b)); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	if n := in.Fired(faults.OpDelete); n != 2 {
		t.Errorf("Fired(OpDelete) = %d, want 2", n)
	}
}

// Each kind of fault, on each operation: what the caller sees and what the
// bucket holds afterwards.
func TestBucketFaults(t *testing.T) {
	tests := []struct {
		name      string
		rule      faults.Rule
		op        func(ctx context.Context, b *blob.Bucket) error
		transient bool
		wantKeys  []string
	}{
		{
			name:      "writer fails mid-stream: nothing stored",
			rule:      faults.Rule{Op: faults.OpWrite, After: 3},
			op:        func(ctx context.Context, b *blob.Bucket) error { return write(ctx, b, "new", "0123456789") },
			transient: true, wantKeys: []string{"old"},
		},
		{
			name:      "writer fails at close: nothing stored",
			rule:      faults.Rule{Op: faults.OpClose},
			op:        func(ctx context.Context, b *blob.Bucket) error { return write(ctx, b, "new", "0123456789") },
			transient: true, wantKeys: []string{"old"},
		},
		{
			name:      "close applied, reply lost: stored",
			rule:      faults.Rule{Op: faults.OpClose, Applied: true},
			op:        func(ctx context.Context, b *blob.Bucket) error { return write(ctx, b, "new", "0123456789") },
			transient: true, wantKeys: []string{"new", "old"},
		},
		{
			name:     "open writer denied",
			rule:     faults.Rule{Op: faults.OpNewWriter, Err: faults.Denied()},
			op:       func(ctx context.Context, b *blob.Bucket) error { return write(ctx, b, "new", "0123456789") },
			wantKeys: []string{"old"},
		},
		{
			name:      "delete fails: kept",
			rule:      faults.Rule{Op: faults.OpDelete},
			op:        func(ctx context.Context, b *blob.Bucket) error { return b.Delete(ctx, "old") },
			transient: true, wantKeys: []string{"old"},
		},
		{
			name:      "delete applied, reply lost: gone",
			rule:      faults.Rule{Op: faults.OpDelete, Applied: true},
			op:        func(ctx context.Context, b *blob.Bucket) error { return b.Delete(ctx, "old") },
			transient: true, wantKeys: nil,
		},
		{
			name: "open reader",
			rule: faults.Rule{Op: faults.OpNewReader},
			op: func(ctx context.Context, b *blob.Bucket) error {
				_, err := b.ReadAll(ctx, "old")
				return err
			},
			transient: true, wantKeys: []string{"old"},
		},
		{
			name: "reader fails mid-stream",
			rule: faults.Rule{Op: faults.OpRead, After: 2},
			op: func(ctx context.Context, b *blob.Bucket) error {
				r, err := b.NewReader(ctx, "old", nil)
				if err != nil {
					return err
				}
				defer r.Close()
				got, err := io.ReadAll(r)
				if string(got) != "ol" {
					return errors.New("read " + string(got) + " before the fault, want \"ol\"")
				}
				return err
			},
			transient: true, wantKeys: []string{"old"},
		},
		{
			name: "attributes denied",
			rule: faults.Rule{Op: faults.OpAttributes, Err: faults.Denied()},
			op: func(ctx context.Context, b *blob.Bucket) error {
				_, err := b.Attributes(ctx, "old")
				return err
			},
			wantKeys: []string{"old"},
		},
		{
			name: "list",
			rule: faults.Rule{Op: faults.OpList},
			op: func(ctx context.Context, b *blob.Bucket) error {
				_, _, err := b.ListPage(ctx, blob.FirstPageToken, 10, nil)
				return err
			},
			transient: true, wantKeys: []string{"old"},
		},
		{
			name:      "copy",
			rule:      faults.Rule{Op: faults.OpCopy},
			op:        func(ctx context.Context, b *blob.Bucket) error { return b.Copy(ctx, "new", "old", nil) },
			transient: true, wantKeys: []string{"old"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b, in := newBucket(t)
			if err := write(ctx, b, "old", "old"); err != nil {
				t.Fatal(err)
			}
			if tt.rule.Err == nil {
				tt.rule.Err = faults.Unavailable()
			}
			in.Arm(tt.rule)
			err := tt.op(ctx, b)
			if !errors.Is(err, tt.rule.Err) {
				t.Fatalf("error %v, want the injected one", err)
			}
			if got := storage.IsTransient(err); got != tt.transient {
				t.Errorf("storage.IsTransient(%v) = %v, want %v", err, got, tt.transient)
			}
			in.Disarm()
			if diff := cmp.Diff(tt.wantKeys, keys(t, b)); diff != "" {
				t.Errorf("keys afterwards (-want +got):\n%s", diff)
			}
			if n := in.Fired(tt.rule.Op); n != 1 {
				t.Errorf("Fired(%s) = %d, want 1", tt.rule.Op, n)
			}
		})
	}
}

// Forever fails every call; OnFire runs at each failure.
func TestBucketForeverAndOnFire(t *testing.T) {
	ctx := context.Background()
	b, in := newBucket(t)
	fired := 0
	in.Arm(faults.Rule{Op: faults.OpAttributes, Times: faults.Forever, Err: faults.Denied(), OnFire: func() { fired++ }})
	for range 7 {
		if _, err := b.Attributes(ctx, "x"); gcerrors.Code(err) != gcerrors.PermissionDenied {
			t.Fatalf("Attributes: %v, want PermissionDenied", err)
		}
	}
	if fired != 7 || in.Fired(faults.OpAttributes) != 7 || in.Calls(faults.OpAttributes) != 7 {
		t.Errorf("OnFire ran %d times, Fired %d, Calls %d; want 7 each", fired, in.Fired(faults.OpAttributes), in.Calls(faults.OpAttributes))
	}
	in.Reset()
	if _, err := b.Attributes(ctx, "x"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("after Reset: %v, want NotFound", err)
	}
	if in.Calls(faults.OpAttributes) != 1 || in.Fired(faults.OpAttributes) != 0 {
		t.Errorf("after Reset: Calls %d, Fired %d; want 1, 0", in.Calls(faults.OpAttributes), in.Fired(faults.OpAttributes))
	}
}
