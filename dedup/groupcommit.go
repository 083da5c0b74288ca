package dedup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filestore-go/filestore/internal/retry"
	"github.com/uptrace/bun"
)

// maxBatch bounds how many commits share one transaction.
const maxBatch = 64

// batchTimeout bounds one batch transaction, retries included.
const batchTimeout = 2 * time.Minute

// Pending commit states: queued, taken by a batch that is waiting for the
// database's write lock, writing (the batch holds the lock and runs the
// request: its outcome must be waited for), or abandoned by its caller
// before it was written (a batch skips it).
const (
	queued int32 = iota
	taken
	writing
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

// submit queues req and waits for its batch. A ctx already done queues
// nothing; if ctx ends before a batch writes the request (while it is
// queued, or while its batch waits for the write lock that another
// connection or process holds), it is abandoned and ctx's error returned;
// once the batch writes it, submit waits for the outcome, since the commit
// may well succeed.
func (g *committer) submit(ctx context.Context, req CommitRequest) (*CommitResult, error) {
	p := &pendingCommit{req: req, done: make(chan struct{})}
	select {
	case <-g.stop:
		return nil, ErrClosed
	default:
	}
	// Checked first: a select with the queue ready too picks at random.
	if err := ctx.Err(); err != nil {
		return nil, err
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
		if p.state.CompareAndSwap(queued, abandoned) || p.state.CompareAndSwap(taken, abandoned) {
			return nil, ctx.Err()
		}
	case <-g.stop:
		if p.state.CompareAndSwap(queued, abandoned) {
			return nil, ErrClosed
		}
	}
	// A batch is writing the request: its outcome is coming.
	<-p.done
	return p.res, p.err
}

// runOne commits req in a transaction of its own, in the caller's
// goroutine, with the same retries and outcome rules as a batch.
func (g *committer) runOne(ctx context.Context, req CommitRequest) (*CommitResult, error) {
	select {
	case <-g.stop:
		return nil, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &pendingCommit{req: req, done: make(chan struct{})}
	g.run([]*pendingCommit{p})
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
	// unknown is set once any attempt fails at COMMIT: that attempt may
	// have committed, whatever later attempts do.
	unknown := false
	// The first attempt takes the fast path where it can; a batch that
	// aborts it, and every retry, runs on the savepoint path, which also
	// finds commits whose outcome an earlier attempt lost.
	fast := true
	err := retry.Do(ctx, g.c.retry, IsTransient, func(ctx context.Context) error {
		for {
			tx, err := g.c.db.BeginTx(ctx, &sql.TxOptions{})
			if err != nil {
				return err
			}
			// On SQLite the transaction holds the write lock from BEGIN
			// (IMMEDIATE): the requests whose callers have not given up
			// meanwhile are written from now on.
			live = writable(live)
			if len(live) == 0 {
				return tx.Rollback()
			}
			if err := g.batchTx(ctx, tx, live, fast, unknown); err != nil {
				_ = tx.Rollback()
				if fast && errors.Is(err, errFastAbort) {
					fast = false
					continue
				}
				fast = false
				var own *ownFailure
				if errors.As(err, &own) {
					return nil // the request's error is set; nothing was committed
				}
				return err
			}
			if err := tx.Commit(); err != nil {
				unknown = true
				fast = false
				return err
			}
			return nil
		}
	})
	for _, p := range live {
		switch {
		case err == nil:
		case unknown:
			p.res, p.err = nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		default:
			p.res, p.err = nil, err
		}
		close(p.done)
	}
}

// writable marks the requests of live that are still wanted as writing and
// returns them; the ones abandoned meanwhile are left out. A request that
// an earlier attempt wrote stays, whatever its caller does.
func writable(live []*pendingCommit) []*pendingCommit {
	out := live[:0]
	for _, p := range live {
		if p.state.Load() == writing || p.state.CompareAndSwap(taken, writing) {
			out = append(out, p)
		}
	}
	return out
}

// batchTx runs each pending commit of a batch inside tx, in a savepoint of
// its own. A transient error fails the whole batch (to be retried); any
// other error rolls back only that request's savepoint.
//
// With fast set, a request that can take the fast path (commitFast) does,
// without a savepoint; errFastAbort from it fails the batch. unknown says
// that an earlier attempt of the batch failed at COMMIT, so may have
// committed its requests.
func (g *committer) batchTx(ctx context.Context, tx bun.Tx, live []*pendingCommit, fast, unknown bool) error {
	for _, p := range live {
		p.res, p.err = nil, nil
		if fast {
			res, ok, err := g.c.commitFast(ctx, tx.Tx, p.req)
			if ok {
				p.res, p.err = res, err
				continue
			}
			if err != nil {
				return err
			}
		}
		if len(live) == 1 {
			// Alone in its transaction, a request needs no savepoint: its
			// failure rolls the whole transaction back.
			res, err := g.c.commitTx(ctx, tx, p.req, unknown || p.req.Retry)
			if err != nil {
				if IsTransient(err) {
					return err
				}
				p.err = err
				return &ownFailure{err}
			}
			p.res = res
			return nil
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT filestore_commit"); err != nil {
			return err
		}
		res, err := g.c.commitTx(ctx, tx, p.req, unknown || p.req.Retry)
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
}

// ownFailure is the error of the only request of a transaction: the
// transaction is rolled back and the request answered with err.
type ownFailure struct{ err error }

func (o *ownFailure) Error() string { return o.err.Error() }
func (o *ownFailure) Unwrap() error { return o.err }

// ErrOutcomeUnknown: a commit's transaction failed at COMMIT (in this or
// an earlier attempt), so it may have committed. The caller must not delete the staged bytes: a row may
// reference them. Get by the file's id tells once the database answers;
// Collect removes the bytes later if no row names them.
var ErrOutcomeUnknown = errors.New("dedup: commit outcome unknown")

// ErrClosed: the Catalog has been closed.
var ErrClosed = errors.New("dedup: catalog closed")
