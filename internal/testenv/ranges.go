package testenv

import (
	"context"
	"net/http/httptrace"
	"sync"
)

// Ranges records the Range header of each HTTP request sent under a
// context from its Context method: the requests a Store or a Bucket makes
// to the S3 server, which tests check for the bytes asked for. The zero
// Ranges is ready; it is safe for concurrent use.
type Ranges struct {
	mu   sync.Mutex
	sent []string
}

// Context returns ctx with a trace that records the Range headers of the
// requests sent under it.
func (q *Ranges) Context(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaderField: func(key string, value []string) {
			if key == "Range" {
				q.mu.Lock()
				q.sent = append(q.sent, value...)
				q.mu.Unlock()
			}
		},
	})
}

// Take returns the Range headers recorded so far, in the order sent, and
// forgets them.
func (q *Ranges) Take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	sent := q.sent
	q.sent = nil
	return sent
}
