package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLimiterDecisions(t *testing.T) {
	l := newLimiter("ip", 2, 10) // burst 4, refills in 2 s
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration
		want rateDecision
	}
	steps := []step{
		{0, rateDecision{allowed: true, limit: 4, remaining: 3, reset: 500 * time.Millisecond}},
		{0, rateDecision{allowed: true, limit: 4, remaining: 2, reset: time.Second}},
		{0, rateDecision{allowed: true, limit: 4, remaining: 1, reset: 1500 * time.Millisecond}},
		{0, rateDecision{allowed: true, limit: 4, remaining: 0, reset: 2 * time.Second}},
		{0, rateDecision{allowed: false, limit: 4, remaining: 0, reset: 2 * time.Second, retryAfter: 500 * time.Millisecond}},
		{250 * time.Millisecond, rateDecision{allowed: false, limit: 4, remaining: 0, reset: 1750 * time.Millisecond, retryAfter: 250 * time.Millisecond}},
		{500 * time.Millisecond, rateDecision{allowed: true, limit: 4, remaining: 0, reset: 2 * time.Second}},
	}
	for i, s := range steps {
		got := l.allow("k", t0.Add(s.at))
		if diff := cmp.Diff(s.want, got, cmp.AllowUnexported(rateDecision{})); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
	}
	h := http.Header{}
	d := l.allow("k", t0.Add(500*time.Millisecond))
	setRateHeaders(h, &d)
	want := http.Header{"Ratelimit-Limit": {"4"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"2"}, "Retry-After": {"1"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

// TestLimiterMemory: idle keys are forgotten once their bucket would be
// full again, and the number of keys never exceeds the cap.
func TestLimiterMemory(t *testing.T) {
	l := newLimiter("ip", 10, 100) // burst 20: full again 2 s after the last request
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		l.allow(fmt.Sprint(i), t0)
		if n := l.len(); n > 100 {
			t.Fatalf("%d keys, cap 100", n)
		}
	}
	if n := l.len(); n != 100 {
		t.Errorf("%d keys, want 100", n)
	}
	// The most recent keys are kept: key 999 is still at 19 tokens.
	if d := l.allow("999", t0); d.remaining != 18 {
		t.Errorf("key 999 remaining %d, want 18", d.remaining)
	}
	l.allow("late", t0.Add(time.Second))
	if n := l.len(); n != 100 {
		t.Errorf("after 1 s: %d keys, want 100 (none idle long enough)", n)
	}
	l.allow("later", t0.Add(2*time.Second+time.Millisecond))
	if n := l.len(); n != 2 {
		t.Errorf("after 2 s: %d keys, want 2 (late and later)", n)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	linkLocal := []netip.Prefix{netip.MustParsePrefix("fe80::/10")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"peer", "192.0.2.1:1234", nil, nil, "192.0.2.1"},
		{"peer v6", "[2001:db8::1]:1234", nil, nil, "2001:db8::1"},
		{"mapped v4", "[::ffff:192.0.2.1]:1234", nil, nil, "192.0.2.1"},
		{"xff ignored without trust", "192.0.2.1:1", []string{"203.0.113.9"}, nil, "192.0.2.1"},
		{"xff ignored from untrusted peer", "192.0.2.1:1", []string{"203.0.113.9"}, trusted, "192.0.2.1"},
		{"xff from trusted peer", "10.0.0.1:1", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"right-most untrusted", "10.0.0.1:1", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, trusted, "203.0.113.9"},
		{"several headers", "10.0.0.1:1", []string{"198.51.100.1", "203.0.113.9", "10.0.0.2"}, trusted, "203.0.113.9"},
		{"all trusted", "10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, trusted, "10.0.0.3"},
		{"no xff from trusted peer", "10.0.0.1:1", nil, trusted, "10.0.0.1"},
		{"malformed entry", "10.0.0.1:1", []string{"203.0.113.9, garbage, 10.0.0.2"}, trusted, "10.0.0.2"},
		{"entry with port", "10.0.0.1:1", []string{"203.0.113.9:5555"}, trusted, "203.0.113.9"},
		{"v6 entry with port", "[::1]:1", []string{"[2001:db8::7]:5555"}, trusted, "2001:db8::7"},
		{"empty entry", "10.0.0.1:1", []string{""}, trusted, "10.0.0.1"},
		{"xff from zoned link-local proxy", "[fe80::1%eth0]:1", []string{"203.0.113.9"}, linkLocal, "203.0.113.9"},
		{"zoned peer untrusted", "[fe80::1%eth0]:1", []string{"203.0.113.9"}, trusted, "fe80::1%eth0"},
		{"zoned trusted hop", "10.0.0.1:1", []string{"203.0.113.9, fe80::2%eth0"}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := clientIP(r, tt.trusted)
			if !ok || got.String() != tt.want {
				t.Errorf("clientIP = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "not an address"
	if _, ok := clientIP(r, nil); ok {
		t.Error("clientIP of a malformed RemoteAddr is ok")
	}
}

func TestRateKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
	}
	for give, want := range tests {
		if got := rateKey(netip.MustParseAddr(give)); got != want {
			t.Errorf("rateKey(%s) = %s, want %s", give, got, want)
		}
	}
}

// TestLimiterVeryLowRate: a rate far below one request a second keeps its
// one request of burst and refuses the next, with waits capped at maxWait.
// Before, the idle time overflowed to a negative Duration, so every key was
// forgotten at once and every request allowed, with a negative
// RateLimit-Reset.
func TestLimiterVeryLowRate(t *testing.T) {
	l := newLimiter("user", 1e-11, 10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := l.allow("k", t0)
	second := l.allow("k", t0.Add(time.Hour))
	if !first.allowed || second.allowed {
		t.Fatalf("allowed: first %v, second an hour later %v; want true, false", first.allowed, second.allowed)
	}
	h := http.Header{}
	setRateHeaders(h, &second)
	wait := fmt.Sprint(int64(maxWait / time.Second))
	want := http.Header{"Ratelimit-Limit": {"1"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {wait}, "Retry-After": {wait}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if n := l.len(); n != 1 {
		t.Errorf("%d keys tracked, want 1", n)
	}
}
