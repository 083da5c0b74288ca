package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// S3Proxy forwards requests to an S3 endpoint, except those that its
// refuse function picks: those it answers itself, with the status and S3
// error code refuse returned and nothing forwarded, as a server would that
// does not do what they ask. The Host header is forwarded unchanged, so
// request signatures made for the proxy's address hold. It is safe for
// concurrent use.
type S3Proxy struct {
	srv     *httptest.Server
	refused atomic.Int64
	lose    atomic.Pointer[func(r *http.Request) bool]
	lost    atomic.Int64
	late    atomic.Pointer[Late]
}

// Late says which requests an S3Proxy holds and when it forwards them
// (see S3Proxy.LandLate).
type Late struct {
	// Pick picks the requests to hold.
	Pick func(r *http.Request) bool
	// Received, if not nil, is called once a held request's body is all
	// in: what the server needs to carry it out.
	Received func()
	// Land is closed when the held requests may be forwarded, once their
	// clients have given up on them.
	Land <-chan struct{}
	// Landed, if not nil, is called once the server has answered a held
	// request (the answer is dropped).
	Landed func()
}

// NewS3Proxy starts an S3Proxy on a free 127.0.0.1 port in front of
// endpoint (http://host:port). refuse returns status 0 for a request to
// forward.
func NewS3Proxy(endpoint string, refuse func(r *http.Request) (status int, code string)) (*S3Proxy, error) {
	target, err := url.Parse(endpoint)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("faults: S3 endpoint %q: %v", endpoint, err)
	}
	p := &S3Proxy{}
	forward := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		// A client that gives up on a request is what the tests make
		// happen, not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, code := refuse(r); status != 0 {
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused by faults.S3Proxy</Message></Error>`, code)
			return
		}
		if late := p.late.Load(); late != nil && late.Pick(r) {
			p.landLate(forward, late, r)
			return
		}
		if lose := p.lose.Load(); lose != nil && (*lose)(r) {
			// Done by the server, its reply lost on the way back.
			forward.ServeHTTP(httptest.NewRecorder(), r)
			p.lost.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>reply lost by faults.S3Proxy</Message></Error>`)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	return p, nil
}

// Endpoint returns the proxy's endpoint, http://127.0.0.1:port.
func (p *S3Proxy) Endpoint() string { return p.srv.URL }

// Refused returns how many requests the proxy answered itself.
func (p *S3Proxy) Refused() int { return int(p.refused.Load()) }

// LoseReplies makes the proxy forward the requests that lose picks (and
// that refuse does not) and then, instead of the server's reply, answer 500
// InternalError: the server did what was asked, but the client never
// learns it, as when a connection breaks before the reply arrives. A nil
// lose forwards every reply again.
func (p *S3Proxy) LoseReplies(lose func(r *http.Request) bool) {
	if lose == nil {
		p.lose.Store(nil)
		return
	}
	p.lose.Store(&lose)
}

// LandLate makes the proxy hold the requests that late.Pick picks (and
// that refuse does not): it reads each one's body whole, then answers
// nothing until its client gives up on it (its context cancelled, its
// connection closed), and then, once late.Land is closed, forwards it to
// the server, whose answer it drops. The server thus carries out a
// request that its client took for failed, after the client has moved
// on, as one does that got the whole request before the connection
// broke. A request whose body does not arrive whole is dropped. A nil
// late holds nothing again (requests already held stay held).
func (p *S3Proxy) LandLate(late *Late) { p.late.Store(late) }

// landLate carries out a request that LandLate holds.
func (p *S3Proxy) landLate(forward http.Handler, late *Late, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if late.Received != nil {
		late.Received()
	}
	<-r.Context().Done()
	<-late.Land
	out := r.WithContext(context.WithoutCancel(r.Context()))
	out.Body = io.NopCloser(bytes.NewReader(body))
	forward.ServeHTTP(httptest.NewRecorder(), out)
	if late.Landed != nil {
		late.Landed()
	}
}

// Lost returns how many replies the proxy lost (see LoseReplies).
func (p *S3Proxy) Lost() int { return int(p.lost.Load()) }

// Close stops the proxy.
func (p *S3Proxy) Close() { p.srv.Close() }

// ProxyBucket starts an S3Proxy (see NewS3Proxy) in front of the
// endpoint= of the s3:// bucket URL rawURL, and returns it with rawURL's
// endpoint= pointed at it.
func ProxyBucket(rawURL string, refuse func(r *http.Request) (status int, code string)) (*S3Proxy, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("faults: bucket URL: %w", err)
	}
	q := u.Query()
	p, err := NewS3Proxy(q.Get("endpoint"), refuse)
	if err != nil {
		return nil, "", err
	}
	q.Set("endpoint", p.Endpoint())
	u.RawQuery = q.Encode()
	return p, u.String(), nil
}
