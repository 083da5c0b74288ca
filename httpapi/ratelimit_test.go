package httpapi_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/httpapi"
)

// rateHeaders are the rate limit headers of an answer.
type rateHeaders struct {
	Status                              int
	Limit, Remaining, Reset, RetryAfter string
}

func rateOf(res *response) rateHeaders {
	return rateHeaders{
		Status:     res.status,
		Limit:      res.header.Get("RateLimit-Limit"),
		Remaining:  res.header.Get("RateLimit-Remaining"),
		Reset:      res.header.Get("RateLimit-Reset"),
		RetryAfter: res.header.Get("Retry-After"),
	}
}

// TestRateLimitPerIP: a burst over the limit gets 429 with Retry-After,
// then recovers as the (injected) clock moves; operational routes are not
// limited.
func TestRateLimitPerIP(t *testing.T) {
	e := newEnv(t, envOptions{cfg: httpapi.Config{RateIP: 1}}) // burst 2
	tok := e.token("alice")
	get := func() rateHeaders { return rateOf(e.do("GET", "/v1/files", tok, nil)) }
	want := []rateHeaders{
		{200, "2", "1", "1", ""},
		{200, "2", "0", "2", ""},
		{429, "2", "0", "2", "1"},
	}
	got := []rateHeaders{get(), get(), get()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("burst (-want +got):\n%s", diff)
	}
	res := e.do("GET", "/v1/files", tok, nil)
	wantProblem(t, res, 429, "rate_limited")
	// The IP limit comes before authentication: no token, still 429.
	wantProblem(t, e.do("GET", "/v1/files", "", nil), 429, "rate_limited")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if res := e.do("GET", path, "", nil); res.status != 200 {
			t.Errorf("%s while limited: %d", path, res.status)
		}
	}

	e.clock.Advance(500 * time.Millisecond)
	if got, want := get(), (rateHeaders{429, "2", "0", "2", "1"}); got != want {
		t.Errorf("after 0.5 s: %+v, want %+v", got, want)
	}
	e.clock.Advance(500 * time.Millisecond)
	if got, want := get(), (rateHeaders{200, "2", "0", "2", ""}); got != want {
		t.Errorf("after 1 s: %+v, want %+v", got, want)
	}
	e.clock.Advance(time.Hour)
	if got, want := get(), (rateHeaders{200, "2", "1", "1", ""}); got != want {
		t.Errorf("after an hour: %+v, want %+v", got, want)
	}
	metrics := string(e.do("GET", "/metrics", "", nil).body)
	if !containsLine(metrics, `filestore_rate_limited_total{limiter="ip"} 4`) {
		t.Errorf("metrics lack 4 ip rejections:\n%s", grepLines(metrics, "filestore_rate_limited"))
	}
}

// TestRateLimitPerOwner: owners have their own buckets behind one IP.
func TestRateLimitPerOwner(t *testing.T) {
	e := newEnv(t, envOptions{cfg: httpapi.Config{RateUser: 1, RateIP: 100}})
	alice, bob := e.token("alice"), e.token("bob")
	for i, want := range []int{200, 200, 429} {
		if res := e.do("GET", "/v1/files", alice, nil); res.status != want {
			t.Errorf("alice request %d: %d, want %d", i, res.status, want)
		}
	}
	res := e.do("GET", "/v1/files", bob, nil)
	// The tighter of the two limits is reported: bob's bucket (2, now 1).
	if got, want := rateOf(res), (rateHeaders{200, "2", "1", "1", ""}); got != want {
		t.Errorf("bob: %+v, want %+v", got, want)
	}
	e.clock.Advance(time.Second)
	if res := e.do("GET", "/v1/files", alice, nil); res.status != 200 {
		t.Errorf("alice after 1 s: %d", res.status)
	}
	metrics := string(e.do("GET", "/metrics", "", nil).body)
	if !containsLine(metrics, `filestore_rate_limited_total{limiter="owner"} 1`) {
		t.Errorf("metrics lack 1 owner rejection:\n%s", grepLines(metrics, "filestore_rate_limited"))
	}
}

// TestRateLimitTrustedProxies: behind a trusted proxy the client is the
// right-most untrusted X-Forwarded-For entry; without trusted proxies the
// header is ignored.
func TestRateLimitTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		xff     []string // one request each
		want    []int
	}{
		{"one client", trusted, []string{"203.0.113.1", "203.0.113.1", "203.0.113.1"}, []int{200, 200, 429}},
		{"two clients", trusted, []string{"203.0.113.1", "203.0.113.1", "203.0.113.2"}, []int{200, 200, 200}},
		{"spoofed left entries are ignored", trusted, []string{"1.1.1.1, 203.0.113.1", "2.2.2.2, 203.0.113.1", "3.3.3.3, 203.0.113.1"}, []int{200, 200, 429}},
		{"trusted hops are skipped", trusted, []string{"203.0.113.1, 10.0.0.5", "203.0.113.1", "203.0.113.1, 10.1.1.1, 10.2.2.2"}, []int{200, 200, 429}},
		{"IPv6 /64 is one client", trusted, []string{"2001:db8::1", "2001:db8::2", "2001:db8::ffff"}, []int{200, 200, 429}},
		{"IPv6 other /64", trusted, []string{"2001:db8::1", "2001:db8::2", "2001:db8:0:1::1"}, []int{200, 200, 200}},
		{"untrusted peer: header ignored", nil, []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}, []int{200, 200, 429}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{cfg: httpapi.Config{RateIP: 1, TrustedProxies: tt.trusted}})
			var got []int
			for _, xff := range tt.xff {
				got = append(got, e.do("GET", "/v1/openapi.json", "", nil, "X-Forwarded-For", xff).status)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}
