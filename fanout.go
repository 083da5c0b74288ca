package filestore

import (
	"context"
	"sync/atomic"
)

// chunkSize is the unit of the upload pass: bytes are read, hashed and
// handed to the sinks (bucket writer, scanner) in chunks of this size.
const chunkSize = 128 << 10

// verifyChunkSize is the read size of a pass that only verifies content
// already stored (no sink): one buffer, not handed to other goroutines.
const verifyChunkSize = 1 << 20

// smallRead is the size of a pass's first read when content may be
// inline: most small uploads end within it, and then the pass needs no
// pool buffer.
const smallRead = 8 << 10

// sinkDepth is how many chunks may wait for one sink; a slower sink makes
// the pass wait (back-pressure) rather than letting memory grow.
const sinkDepth = 2

// chunk is a pooled buffer shared by the sinks of one pass; the last sink
// done with it returns it to the pool.
type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32
	// home, if set, is the ring the chunk belongs to instead of the pool
	// (a buffered channel with room for all of the ring's chunks).
	home chan *chunk
}

// sink consumes chunks in its own goroutine. After its first write error it
// keeps draining (releasing chunks) without writing, so the pass never
// blocks on a dead sink.
type sink struct {
	ch     chan *chunk
	write  func([]byte) error
	failed atomic.Bool
	err    error // written by the goroutine, read after done is closed
	done   chan struct{}
	closed bool
}

// startSink starts a goroutine that calls write for every chunk sent to the
// returned sink; finish joins it.
func (s *Service) startSink(write func([]byte) error) *sink {
	k := &sink{ch: make(chan *chunk, sinkDepth), write: write, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		for c := range k.ch {
			if k.err == nil {
				if err := k.write(c.buf[:c.n]); err != nil {
					k.err = err
					k.failed.Store(true)
				}
			}
			s.release(c)
		}
	}()
	return k
}

// send hands c to k, waiting while k is behind; it gives up when ctx is
// done, releasing c's reference for k.
func (s *Service) send(ctx context.Context, k *sink, c *chunk) bool {
	select {
	case k.ch <- c:
		return true
	case <-ctx.Done():
		s.release(c)
		return false
	}
}

// finish closes k's input and waits until it has drained; it returns k's
// first write error. Calling it again returns the same error.
func (k *sink) finish() error {
	if !k.closed {
		k.closed = true
		close(k.ch)
	}
	<-k.done
	return k.err
}

func (s *Service) getChunk() *chunk {
	return s.chunks.Get().(*chunk)
}

// putChunk returns c to its ring or to the pool, unless it is neither's
// (the small first read of a pass, see firstRead).
func (s *Service) putChunk(c *chunk) {
	switch {
	case c.home != nil:
		c.home <- c
	case len(c.buf) == chunkSize:
		s.chunks.Put(c)
	}
}

func (s *Service) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		s.putChunk(c)
	}
}
