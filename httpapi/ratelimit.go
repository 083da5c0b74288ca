package httpapi

import (
	"container/list"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per key (client IP or owner), in bounded
// memory: a key idle long enough for its bucket to be full again is
// forgotten (a new bucket would behave the same), and past max keys the
// least recently seen is forgotten.
type limiter struct {
	name  string // "ip" or "owner", for metrics
	limit rate.Limit
	burst int
	idle  time.Duration // time for an empty bucket to fill up
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front: most recently seen
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

// rateDecision is what one limiter said about one request, for the
// RateLimit-* and Retry-After headers.
type rateDecision struct {
	allowed    bool
	limit      int           // bucket capacity (the burst)
	remaining  int           // whole tokens left after this request
	reset      time.Duration // until the bucket is full again
	retryAfter time.Duration // until one token is back; 0 when allowed
}

// newLimiter returns a limiter of perSecond requests per second with a
// burst of twice that (at least 1), or nil when perSecond is 0.
func newLimiter(name string, perSecond float64, maxKeys int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	burst := max(1, int(math.Ceil(2*perSecond)))
	return &limiter{
		name:  name,
		limit: rate.Limit(perSecond),
		burst: burst,
		idle:  seconds(float64(burst) / perSecond),
		max:   maxKeys,
		keys:  make(map[string]*list.Element),
	}
}

// allow takes one token from key's bucket at time now.
func (l *limiter) allow(key string, now time.Time) rateDecision {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(now)
	var b *bucket
	if e, ok := l.keys[key]; ok {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
	} else {
		b = &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		l.keys[key] = l.lru.PushFront(b)
		if len(l.keys) > l.max {
			l.remove(l.lru.Back())
		}
	}
	if now.After(b.last) {
		b.last = now
	}
	d := rateDecision{limit: l.burst}
	d.allowed = b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	d.remaining = max(0, int(math.Floor(tokens)))
	d.reset = l.durationFor(float64(l.burst) - tokens)
	if !d.allowed {
		d.retryAfter = l.durationFor(1 - tokens)
	}
	return d
}

// durationFor is how long the bucket takes to gain tokens.
func (l *limiter) durationFor(tokens float64) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return seconds(tokens / float64(l.limit))
}

// maxWait bounds the durations of a limiter: with a very low rate (one
// request a year, say) the seconds to wait would overflow a Duration.
const maxWait = 100 * 365 * 24 * time.Hour

// seconds converts s seconds to a Duration of at most maxWait.
func seconds(s float64) time.Duration {
	if s >= maxWait.Seconds() {
		return maxWait
	}
	return time.Duration(s * float64(time.Second))
}

// evict forgets the least recently seen keys whose buckets are full again.
func (l *limiter) evict(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if now.Sub(e.Value.(*bucket).last) < l.idle {
			return
		}
		l.remove(e)
	}
}

func (l *limiter) remove(e *list.Element) {
	delete(l.keys, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// len is the number of keys tracked.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// setRateHeaders writes the RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset headers (draft-ietf-httpapi-ratelimit-headers, the
// separate-fields form), and Retry-After when the request was refused.
// Seconds are rounded up.
func setRateHeaders(h http.Header, d *rateDecision) {
	h.Set("RateLimit-Limit", strconv.Itoa(d.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.reset), 10))
	if !d.allowed {
		h.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(d.retryAfter)), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// tighter reports whether d is more restrictive than other.
func (d *rateDecision) tighter(other *rateDecision) bool {
	if other == nil || d.allowed != other.allowed {
		return other == nil || !d.allowed
	}
	return d.remaining < other.remaining
}
