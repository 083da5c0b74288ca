package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of the load commands.
var (
	errUsage    = errors.New("fsbench: usage")
	errStatus   = errors.New("fsbench: unexpected status")
	errShort    = errors.New("fsbench: wrong length")
	errNotLocal = errors.New("fsbench: only loopback servers (127.0.0.1, ::1, localhost) are allowed")
)

// patternKey selects the pattern of every generated body, so a body depends
// only on its seed and size: the same -seed uploads the same content again.
const patternKey = 1

// loadFlags are the flags every load command takes.
type loadFlags struct {
	url         string
	concurrency int
	count       int64
	duration    time.Duration
	timeout     time.Duration
	maxErrors   int64
	pid         int
	asJSON      bool
	label       string
	token       string
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "server URL (loopback only)")
	fs.IntVar(&f.concurrency, "c", 1, "concurrent clients, each with its own keep-alive connection")
	fs.Int64Var(&f.count, "count", 0, "stop after this many requests (0: no limit)")
	fs.DurationVar(&f.duration, "duration", 0, "stop starting requests after this long (0: no limit)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "limit of one request")
	fs.Int64Var(&f.maxErrors, "max-errors", 100, "stop after this many failed requests")
	fs.IntVar(&f.pid, "pid", 0, "server process whose peak RSS and CPU time to report (Linux /proc)")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	fs.StringVar(&f.label, "label", "", "label written into the result")
	fs.StringVar(&f.token, "token", "", "bearer token (default $FSBENCH_TOKEN)")
}

// target checks the URL and returns its host:port and origin-form target,
// with defPath when the URL has no path.
func (f *loadFlags) target(defPath string) (host, path string, err error) {
	u, err := url.Parse(f.url)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", "", fmt.Errorf("%w: -url %q is not of the form http://host:port/path", errUsage, f.url)
	}
	if err := checkLoopback(u.Host); err != nil {
		return "", "", err
	}
	host = u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	path = u.EscapedPath()
	if path == "" {
		path = defPath
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return host, path, nil
}

// checkLoopback returns an error wrapping errNotLocal unless hostport names
// a loopback address.
func checkLoopback(hostport string) error {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q", errNotLocal, hostport)
}

// measure runs the load with op and fills r, reading the server's peak RSS
// and CPU time around it when -pid is given.
func (f *loadFlags) measure(ctx context.Context, r *result, op opFunc) error {
	r.Concurrency = f.concurrency
	r.Label = f.label
	r.StartedAt = time.Now().UTC().Format(time.RFC3339)
	var cpu0 float64
	if f.pid != 0 {
		r.ServerPID = f.pid
		if err := resetPeak(f.pid); err != nil {
			return err
		}
		rss, _, err := procMemory(f.pid)
		if err != nil {
			return err
		}
		r.RSSAtStart = rss
		if cpu0, err = procCPU(f.pid); err != nil {
			return err
		}
	}
	t, err := runLoad(ctx, f.concurrency, bounds{count: f.count, duration: f.duration, maxErrors: f.maxErrors}, op)
	if err != nil {
		return err
	}
	r.summarize(t)
	if f.pid != 0 {
		_, peak, err := procMemory(f.pid)
		if err != nil {
			return err
		}
		cpu1, err := procCPU(f.pid)
		if err != nil {
			return err
		}
		r.PeakRSS, r.ServerCPU = peak, cpu1-cpu0
	}
	r.LoadAvg = loadAvg()
	return nil
}

// uploadKind is what an upload command sends and expects.
type uploadKind struct {
	mode    string
	defPath string
	// header returns the request headers for a body of size bytes.
	header func(f *loadFlags, size int64) http.Header
	// target returns the request target of request i.
	target func(path, prefix string, i int64) string
	// check validates a 201 answer.
	check func(resp *response, size int64) error
}

// uploadKinds: upload (raw POST to filestored), tus (creation-with-upload to
// tusd) and post (raw POST to a reference server).
func uploadKinds() map[string]uploadKind {
	raw := func(path, _ string, _ int64) string { return path }
	return map[string]uploadKind{
		"upload": {
			mode: "upload", defPath: "/v1/files",
			header: func(f *loadFlags, _ int64) http.Header {
				h := http.Header{"Content-Type": {"application/octet-stream"}}
				if f.token != "" {
					h.Set("Authorization", "Bearer "+f.token)
				}
				return h
			},
			target: func(path, prefix string, i int64) string {
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				return path + sep + "name=" + url.QueryEscape(prefix+"-"+strconv.FormatInt(i, 10))
			},
			check: func(*response, int64) error { return nil },
		},
		"tus": {
			mode: "tus", defPath: "/files/",
			header: func(_ *loadFlags, size int64) http.Header {
				return http.Header{
					"Tus-Resumable": {"1.0.0"},
					"Upload-Length": {strconv.FormatInt(size, 10)},
					"Content-Type":  {"application/offset+octet-stream"},
				}
			},
			target: raw,
			check: func(resp *response, size int64) error {
				if got := resp.header.Get("Upload-Offset"); got != strconv.FormatInt(size, 10) {
					return fmt.Errorf("%w: tus Upload-Offset %q after a body of %d bytes", errShort, got, size)
				}
				return nil
			},
		},
		"post": {
			mode: "post", defPath: "/",
			header: func(*loadFlags, int64) http.Header {
				return http.Header{"Content-Type": {"application/octet-stream"}}
			},
			target: raw,
			check:  func(*response, int64) error { return nil },
		},
	}
}

// runUpload is the upload, tus and post commands: each request sends a
// generated body of -size bytes and expects 201 Created.
func runUpload(ctx context.Context, kind uploadKind, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(kind.mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f loadFlags
	f.register(fs)
	size := int64(4 << 10)
	fs.Var(sizeFlag{&size}, "size", "bytes per request body (4096, 4KiB, 1GiB...)")
	seed := fs.Uint64("seed", rand.Uint64(), "seed of the first body (request i has seed+i; the same seed and size give the same bytes)")
	same := fs.Bool("same", false, "send the body of -seed every time (content already stored)")
	prefix := fs.String("name-prefix", "", "upload: names are PREFIX-i (default: fsbench-<random>)")
	digest := fs.Bool("digest", false, "send X-Content-SHA256 with each body (computed before the load with -same, else per request, timed)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if f.token == "" {
		f.token = envToken()
	}
	if *prefix == "" {
		*prefix = "fsbench-" + strconv.FormatUint(rand.Uint64(), 36)
	}
	host, path, err := f.target(kind.defPath)
	if err != nil {
		return err
	}
	if size <= 0 {
		return fmt.Errorf("%w: -size must be positive", errUsage)
	}
	pat := newPattern(patternKey)
	workers := max(f.concurrency, 1)
	clients := make([]*rawClient, workers)
	bufs := make([][]byte, workers)
	for w := range workers {
		clients[w] = newRawClient(host, f.timeout)
		bufs[w] = pat.buffer()
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	hdr := kind.header(&f, size)
	if *digest && *same {
		hdr.Set(digestHeader, bodyDigest(pat.buffer(), *seed, size))
	}
	var mu sync.Mutex
	var location string
	op := func(ctx context.Context, w int, i int64) (int64, error) {
		s := *seed + uint64(i)
		if *same {
			s = *seed
		}
		h := hdr
		if *digest && !*same {
			h = hdr.Clone()
			h.Set(digestHeader, bodyDigest(bufs[w], s, size))
		}
		req := &request{method: http.MethodPost, target: kind.target(path, *prefix, i), header: h, body: newBody(bufs[w], s, size)}
		resp, err := clients[w].do(ctx, req)
		if err != nil {
			return 0, err
		}
		if resp.status != http.StatusCreated {
			return 0, fmt.Errorf("%w: %d (want 201): %s", errStatus, resp.status, snippet(resp.body))
		}
		if err := kind.check(resp, size); err != nil {
			return 0, err
		}
		mu.Lock()
		location = resp.header.Get("Location")
		mu.Unlock()
		return size, nil
	}
	r := &result{Mode: kind.mode, URL: f.url, Size: size}
	if err := f.measure(ctx, r, op); err != nil {
		return err
	}
	r.Location = location
	return r.write(stdout, f.asJSON)
}

// digestHeader carries the SHA-256 of an upload's content (api.md).
const digestHeader = "X-Content-SHA256"

// bodyDigest returns the SHA-256 (hex) of the body of seed and size,
// generated in buf.
func bodyDigest(buf []byte, seed uint64, size int64) string {
	h := sha256.New()
	_, _ = newBody(buf, seed, size).WriteTo(h) // a hash never fails
	return hex.EncodeToString(h.Sum(nil))
}

// snippet is the start of a response body, for error messages.
func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		b = b[:n]
	}
	return strings.TrimSpace(string(b))
}
