package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hostOf returns host:port of a test server URL.
func hostOf(t *testing.T, u string) string {
	t.Helper()
	return strings.TrimPrefix(u, "http://")
}

// bodySum is the SHA-256 (hex) of the generated body of seed and size.
func bodySum(seed uint64, size int64) string {
	return bodyDigest(newPattern(patternKey).buffer(), seed, size)
}

func TestRawClientSendsBodiesOnOneConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Len", r.Header.Get("Content-Length"))
		w.Header().Set("X-Target", r.URL.RequestURI())
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, hex.EncodeToString(h.Sum(nil))+" "+itoa(n))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := newRawClient(hostOf(t, srv.URL), 10*time.Second)
	defer c.close()
	buf := newPattern(patternKey).buffer()
	sizes := []int64{4 << 10, 3*blockSize + 5, 1}
	for i, size := range sizes {
		seed := uint64(100 + i)
		resp, err := c.do(context.Background(), &request{
			method: http.MethodPost, target: "/up?name=a%20b", header: http.Header{"X-A": {"1"}},
			body: newBody(buf, seed, size),
		})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		want := bodySum(seed, size) + " " + itoa(size)
		if resp.status != http.StatusCreated || string(resp.body) != want || resp.n != int64(len(want)) {
			t.Fatalf("size %d: %d %q (n %d); want 201 %q", size, resp.status, resp.body, resp.n, want)
		}
		if got := resp.header.Get("X-Len"); got != itoa(size) {
			t.Errorf("Content-Length sent %q, want %d", got, size)
		}
		if got := resp.header.Get("X-Target"); got != "/up?name=a%20b" {
			t.Errorf("target %q", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for %d requests, want 1 (keep-alive)", n, len(sizes))
	}
}

func TestRawClientKeepsOnlyTheStartOfLargeBodies(t *testing.T) {
	const size = 3<<20 + 7
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = newBody(newPattern(patternKey).buffer(), 1, size).WriteTo(w)
	}))
	defer srv.Close()
	c := newRawClient(hostOf(t, srv.URL), 10*time.Second)
	defer c.close()
	resp, err := c.do(context.Background(), &request{method: http.MethodGet, target: "/", header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.n != size || len(resp.body) != keepBody {
		t.Fatalf("n %d, kept %d; want %d, %d", resp.n, len(resp.body), size, keepBody)
	}
}

// TestRawClientRetriesStaleConnection: a server that closes a keep-alive
// connection after each answer without saying so; the next request on the
// dead connection is sent again on a new one.
func TestRawClientRetriesStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			br := bufio.NewReader(conn)
			req, err := http.ReadRequest(br)
			if err == nil {
				n, _ := io.Copy(io.Discard, req.Body)
				io.WriteString(conn, "HTTP/1.1 201 Created\r\nContent-Length: "+itoa(int64(len(itoa(n))))+"\r\n\r\n"+itoa(n))
			}
			conn.Close()
		}
	}()
	c := newRawClient(ln.Addr().String(), 10*time.Second)
	defer c.close()
	buf := newPattern(patternKey).buffer()
	for i := range 3 {
		resp, err := c.do(context.Background(), &request{method: http.MethodPost, target: "/", header: http.Header{}, body: newBody(buf, 1, 5000)})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.status != http.StatusCreated || string(resp.body) != "5000" {
			t.Fatalf("request %d: %d %q", i, resp.status, resp.body)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestRawClientReadsEarlyAnswer: a server that refuses a body (413) before
// reading it and closes the connection; the client reports the answer.
func TestRawClientReadsEarlyAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	c := newRawClient(hostOf(t, srv.URL), 10*time.Second)
	defer c.close()
	resp, err := c.do(context.Background(), &request{method: http.MethodPost, target: "/", header: http.Header{},
		body: newBody(newPattern(patternKey).buffer(), 1, 64<<20)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != http.StatusRequestEntityTooLarge || strings.TrimSpace(string(resp.body)) != "too large" {
		t.Fatalf("%d %q, want 413 too large", resp.status, resp.body)
	}
	if c.conn != nil {
		t.Error("connection kept after Connection: close")
	}
}

func TestRawClientCancel(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c := newRawClient(hostOf(t, srv.URL), time.Hour)
	defer c.close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	// The request is under way when ctx is cancelled: do returns ctx's error.
	if _, err := c.do(ctx, &request{method: http.MethodGet, target: "/", header: http.Header{}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if c.conn != nil {
		t.Error("connection kept after a cancelled request")
	}
}
