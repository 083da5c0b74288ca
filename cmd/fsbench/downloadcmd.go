package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
)

// runDownload is the download command: GETs of the whole content at -url,
// or (-range N) of N-byte ranges at random offsets that are multiples of N.
// The size comes from a HEAD first. Whole GETs must answer 200 with every
// byte, range GETs 206 with exactly N bytes.
func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f loadFlags
	f.register(fs)
	var rangeSize int64
	fs.Var(sizeFlag{&rangeSize}, "range", "bytes per range GET at a random aligned offset (0: whole content)")
	seed := fs.Uint64("seed", rand.Uint64(), "seed of the random offsets")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if f.token == "" {
		f.token = envToken()
	}
	host, path, err := f.target("/")
	if err != nil {
		return err
	}
	workers := max(f.concurrency, 1)
	clients := make([]*rawClient, workers)
	rngs := make([]*rand.Rand, workers)
	for w := range workers {
		clients[w] = newRawClient(host, f.timeout)
		rngs[w] = rand.New(rand.NewPCG(*seed, uint64(w)))
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	header := func() http.Header {
		h := http.Header{}
		if f.token != "" {
			h.Set("Authorization", "Bearer "+f.token)
		}
		return h
	}

	head, err := clients[0].do(ctx, &request{method: http.MethodHead, target: path, header: header()})
	if err != nil {
		return fmt.Errorf("fsbench: HEAD %s: %w", f.url, err)
	}
	if head.status != http.StatusOK {
		return fmt.Errorf("%w: HEAD %s: %d", errStatus, f.url, head.status)
	}
	size, err := strconv.ParseInt(head.header.Get("Content-Length"), 10, 64)
	if err != nil || size <= 0 {
		return fmt.Errorf("%w: HEAD %s: Content-Length %q", errShort, f.url, head.header.Get("Content-Length"))
	}
	if rangeSize > size {
		return fmt.Errorf("%w: -range %d is larger than the content (%d bytes)", errUsage, rangeSize, size)
	}

	blocks := int64(1)
	if rangeSize > 0 {
		blocks = size / rangeSize
	}
	op := func(ctx context.Context, w int, _ int64) (int64, error) {
		h := header()
		want, status := size, http.StatusOK
		if rangeSize > 0 {
			off := rngs[w].Int64N(blocks) * rangeSize
			h.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+rangeSize-1, 10))
			want, status = rangeSize, http.StatusPartialContent
		}
		resp, err := clients[w].do(ctx, &request{method: http.MethodGet, target: path, header: h})
		if err != nil {
			return 0, err
		}
		if resp.status != status {
			return 0, fmt.Errorf("%w: %d (want %d): %s", errStatus, resp.status, status, snippet(resp.body))
		}
		if resp.n != want {
			return 0, fmt.Errorf("%w: %d bytes (want %d)", errShort, resp.n, want)
		}
		return resp.n, nil
	}
	mode := "download"
	if rangeSize > 0 {
		mode = "download-range"
	}
	r := &result{Mode: mode, URL: f.url, Size: size}
	if rangeSize > 0 {
		r.Size = rangeSize
	}
	if err := f.measure(ctx, r, op); err != nil {
		return err
	}
	return r.write(stdout, f.asJSON)
}
