package dedup

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// maxBatch bounds how many commits share one transaction.
const maxBatch = 64

// batchTimeout bounds one batch transaction, retries included.
const batchTimeout = 2 * time.Minute

// Pending commit states.
const (
	queued int32 = iota
	taken
	abandoned
)

// pendingCommit is one Commit waiting for its batch.
type pendingCommit struct {
	req   CommitRequest
	state atomic.Int32
	res   *CommitResult
	err   error
	done  chan struct{}
}

// committer groups the commits of concurrent uploads: while one batch
// transaction commits, new requests queue up, and the next batch commits
// them all in one transaction (one durable sync instead of one per upload),
// each request inside its own savepoint so that one request's conflict
// rolls back only its own changes. Every request is answered only after
// its batch has committed, so grouping keeps each acknowledgement durable.
type committer struct {
	c     *Catalog
	queue chan *pendingCommit
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func newCommitter(c *Catalog) *committer {
	g := &committer{c: c, queue: make(chan *pendingCommit, maxBatch*4), stop: make(chan struct{})}
	g.wg.Go(g.loop)
	return g
}

// close stops the loop after the batch in flight; requests still queued
// fail with ErrClosed. Closing twice is harmless.
func (g *committer) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// submit queues req and waits for its batch. If ctx ends before a batch
// has taken the request, it is abandoned and ctx's error returned; once
// taken, submit waits for the outcome, since the commit may well succeed.
func (g *committer) submit(ctx context.Context, req CommitRequest) (*CommitResult, error) {
	p := &pendingCommit{req: req, done: make(chan struct{})}
	select {
	case <-g.stop:
		return nil, ErrClosed
	default:
	}
	select {
	case g.queue <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-g.stop:
		return nil, ErrClosed
	}
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(queued, abandoned) {
			return nil, ctx.Err()
		}
	case <-g.stop:
		if p.state.CompareAndSwap(queued, abandoned) {
			return nil, ErrClosed
		}
	}
	// A batch has taken the request: its outcome is coming.
	<-p.done
	return p.res, p.err
}

func (g *committer) loop() {
	for {
		var first *pendingCommit
		select {
		case first = <-g.queue:
		case <-g.stop:
			return
		}
		batch := []*pendingCommit{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-g.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		g.run(batch)
	}
}

// run commits a batch in one transaction, retried whole on transient
// errors (each request's commit is idempotent by file id).
func (g *committer) run(batch []*pendingCommit) {
	live := batch[:0]
	for _, p := range batch {
		if p.state.CompareAndSwap(queued, taken) {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	err := g.c.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, p := range live {
			p.res, p.err = nil, nil
			if _, err := tx.ExecContext(ctx, "SAVEPOINT filestore_commit"); err != nil {
				return err
			}
			res, err := g.c.commitTx(ctx, tx, p.req)
			if err != nil {
				if IsTransient(err) {
					return err
				}
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT filestore_commit"); rerr != nil {
					return rerr
				}
				p.err = err
			} else {
				p.res = res
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT filestore_commit"); err != nil {
				return err
			}
		}
		return nil
	})
	for _, p := range live {
		if err != nil {
			p.res, p.err = nil, err
		}
		close(p.done)
	}
}

// ErrClosed: the Catalog has been closed.
var ErrClosed = errors.New("dedup: catalog closed")
