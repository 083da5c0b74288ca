package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// serveFlags are the flags every reference server takes.
type serveFlags struct {
	addr    string
	maxTime time.Duration
}

func (f *serveFlags) register(fs *flag.FlagSet, defAddr string) {
	fs.StringVar(&f.addr, "addr", defAddr, "listen address (loopback only)")
	fs.DurationVar(&f.maxTime, "max-time", 30*time.Minute, "exit after this long, whatever happens")
}

// runServeBare is the serve-bare command: the bare upload reference (see
// bareServer).
func runServeBare(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve-bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs, "127.0.0.1:9090")
	dir := fs.String("dir", "", "directory for the received files (required unless -mode hash)")
	mode := fs.String("mode", "write", "write: hash, write and sync each body; hash: only hash it")
	sync := fs.String("sync", string(syncEnd), "write mode: end (one fdatasync), overlap (writeback while receiving, then fdatasync) or none")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	hashOnly := false
	switch *mode {
	case "write":
		if *dir == "" {
			return fmt.Errorf("%w: -dir is required with -mode write", errUsage)
		}
		if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("%w: -dir %q is not a directory", errUsage, *dir)
		}
	case "hash":
		hashOnly = true
	default:
		return fmt.Errorf("%w: -mode %q (want write or hash)", errBadMode, *mode)
	}
	h, err := newBareServer(*dir, hashOnly, syncMode(*sync))
	if err != nil {
		return err
	}
	return serve(ctx, f, h, stderr, fmt.Sprintf("bare server (mode %s, sync %s)", *mode, *sync))
}

// runServeFile is the serve-file command: http.ServeContent of one file at
// every path (see fileServer).
func runServeFile(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve-file", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs, "127.0.0.1:9091")
	path := fs.String("file", "", "the file to serve (required)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fi, err := os.Stat(*path); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: -file %q is not a regular file", errUsage, *path)
	}
	return serve(ctx, f, fileServer{path: *path}, stderr, "plain http.ServeContent of "+*path)
}

// serve serves h on f.addr until ctx is done or f.maxTime has passed, then
// shuts down (waiting up to 10 s for requests under way).
func serve(ctx context.Context, f serveFlags, h http.Handler, stderr io.Writer, what string) error {
	if err := checkLoopback(f.addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("fsbench: listen: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.maxTime)
	defer cancel()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "fsbench: %s on http://%s (pid %d)\n", what, ln.Addr(), os.Getpid())
	select {
	case err := <-done:
		return fmt.Errorf("fsbench: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("fsbench: shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fsbench: serve: %w", err)
	}
	return nil
}

// runWait is the wait command: it returns once -url answers any HTTP
// status, or fails after -timeout.
func runWait(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := fs.String("url", "", "URL to GET (loopback only)")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	lf := loadFlags{url: *u}
	if _, _, err := lf.target("/"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *u, nil)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fsbench: %s did not answer within %s: %w", *u, *timeout, err)
		case <-tick.C:
		}
	}
}
