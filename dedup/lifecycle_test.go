package dedup_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/uptrace/bun"
)

// afterCommit is a query hook that runs its armed function once, right
// after the next COMMIT: between an operation's transaction and its return.
type afterCommit struct{ fn atomic.Pointer[func()] }

func (*afterCommit) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *afterCommit) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Query != "COMMIT" || e.Err != nil {
		return
	}
	if fn := h.fn.Swap(nil); fn != nil {
		(*fn)()
	}
}

// TestAnswerIsOwnTransactions: Move and Restore return the file as their
// own transaction left it, even when another operation commits between
// that transaction and their return. Before, they read the row again after
// committing: a Restore overtaken by a Trash returned success with a
// trashed file, a rename overtaken by another returned the other's name.
func TestAnswerIsOwnTransactions(t *testing.T) {
	x, y := "x", "y"
	tests := []struct {
		name string
		// trash: the file starts in the trash.
		trash bool
		// op is the operation whose answer is checked; between is what
		// commits right after it.
		op, between func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error)
		want        dedup.File
	}{
		{
			name:    "Restore overtaken by Trash",
			trash:   true,
			op:      func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error) { return c.Restore(ctx, "o", "a") },
			between: func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error) { return nil, c.Trash(ctx, "o", "a") },
			want:    dedup.File{Folder: "", Name: "a", Key: "k1"},
		},
		{
			name: "Move overtaken by another Move",
			op: func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error) {
				return c.Move(ctx, "o", "a", nil, &x)
			},
			between: func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error) {
				return c.Move(ctx, "o", "a", &y, &y)
			},
			want: dedup.File{Folder: "", Name: "x", Key: "k1"},
		},
		{
			name: "Move overtaken by Trash",
			op: func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error) {
				return c.Move(ctx, "o", "a", &y, nil)
			},
			between: func(ctx context.Context, c *dedup.Catalog) (*dedup.File, error) { return nil, c.Trash(ctx, "o", "a") },
			want:    dedup.File{Folder: "y", Name: "a", Key: "k1"},
		},
	}
	for _, tt := range tests {
		for _, d := range dialects {
			t.Run(tt.name+"/"+d.name, func(t *testing.T) {
				ctx := context.Background()
				hook := &afterCommit{}
				c := openCatalog(t, d.url(t), hook)
				commit(t, c, "a", "a", "k1")
				if tt.trash {
					if err := c.Trash(ctx, "o", "a"); err != nil {
						t.Fatal(err)
					}
				}
				between := func() {
					if _, err := tt.between(ctx, c); err != nil {
						t.Errorf("the operation in between: %v", err)
					}
				}
				hook.fn.Store(&between)
				got, err := tt.op(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				if hook.fn.Load() != nil {
					t.Fatal("no COMMIT ran the operation in between")
				}
				if trashed := got.DeletedAt != nil; got.Folder != tt.want.Folder || got.Name != tt.want.Name || got.Key != tt.want.Key || trashed {
					t.Errorf("answer: folder %q, name %q, key %q, trashed %v; want folder %q, name %q, key %q, live",
						got.Folder, got.Name, got.Key, trashed, tt.want.Folder, tt.want.Name, tt.want.Key)
				}
			})
		}
	}
}
