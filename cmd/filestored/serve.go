package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/meta"
	"github.com/filestore-go/filestore/scan"
)

// serve opens everything c names, serves until ctx is cancelled, then
// shuts down gracefully: no new connections, in-flight requests (uploads
// included) get c.shutdownTimeout to finish.
func serve(ctx context.Context, c *config, stderr io.Writer) error {
	level, _ := c.level()
	// The Store's own lines name the request they happened in.
	logger := slog.New(httpapi.LogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))

	// The port first: one that is taken stops the start before anything
	// is made on disk. Connections wait in its backlog until Serve.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // closed already, once Serve has run

	// A key file that cannot be used stops the start here too, before
	// the store makes its catalogue and bucket on disk (the verifier
	// that serves is made after the secret, which comes after the store).
	if c.jwtKeys != "" {
		probe, err := auth.New(auth.Config{KeyFile: c.jwtKeys, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return fmt.Errorf("%w: --jwt-keys: %w", errUsage, err)
		}
		probe.Close()
	}

	var (
		scanner filestore.Scanner
		clam    *scan.ClamAV
	)
	if c.clamd != "" {
		clam, err = scan.New(c.clamd, c.scanOptions(logger))
		if err != nil {
			return fmt.Errorf("%w: --clamd: %w", errUsage, err)
		}
		scanner = clam
	}
	types, err := meta.ParseAllowList(c.allowedTypes)
	if err != nil {
		return fmt.Errorf("%w: --allowed-types: %w", errUsage, err)
	}
	extractor, err := meta.New(&meta.Options{AllowedTypes: types, Logger: logger})
	if err != nil {
		return fmt.Errorf("meta: %w", err)
	}

	store, err := filestore.Open(ctx, filestore.Options{
		Database:       c.database,
		Bucket:         c.bucket,
		Scanner:        scanner,
		ScanPolicy:     filestore.ScanPolicy(c.scanPolicy),
		Extractor:      extractor,
		MaxSize:        int64(c.maxSize),
		InlineMax:      c.storeInlineMax(),
		TrashRetention: c.trashRetention,
		RetryAttempts:  c.retryAttempts,
		RetryBaseDelay: c.retryBase,
		S3StallTimeout: c.s3Stall,
		S3UploadMemory: c.storeS3UploadMemory(),
		DBTryTimeout:   c.storeDBTryTimeout(),
		Logger:         logger,
	})
	if errors.Is(err, filestore.ErrInvalidArgument) {
		return fmt.Errorf("%w: open store: %w", errUsage, err)
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	// The secret is generated only once the catalogue and bucket have
	// opened: a start that fails leaves none in a mistyped --data-dir,
	// where `filestored token` would sign with it.
	secret, err := c.secret()
	if err != nil {
		return err
	}
	c.warnSecretMode(logger)
	verifier, err := auth.New(auth.Config{
		Secret: secret, KeyFile: c.jwtKeys, Issuer: c.jwtIssuer, Audience: c.jwtAudience, Logger: logger,
	})
	if err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	defer verifier.Close()

	proxies, _ := c.proxies()
	conns := newConnLimit(connCaps{max: c.maxConns, perIP: c.maxConnsPerIP, exempt: proxies}, logger)
	refusals := newRefusalLog(logger, readHeaderTimeout)
	reg, err := metricsRegistry(conns, refusals)
	if err != nil {
		return err
	}
	h, err := httpapi.New(store, httpapi.Config{
		Auth:                 httpapi.JWT(verifier),
		MaxSize:              int64(c.maxSize),
		RateIP:               c.rateIP,
		RateUser:             c.rateUser,
		TrustedProxies:       proxies,
		MaxUploadsPerOwner:   c.maxUploadsPerOwner(),
		MaxUploads:           c.maxUploadsInAll(),
		MaxDownloadsPerOwner: c.maxDownloadsPerOwner(),
		MaxDownloads:         c.maxDownloadsInAll(),
		Logger:               logger,
		Registry:             reg,
	})
	if err != nil {
		return err
	}

	srv := newServer(h, logger, conns, refusals)
	// Called by Shutdown once the listeners are closed, on a goroutine of
	// its own: Shutdown's caller waits for drained before it logs on.
	drained := make(chan struct{})
	srv.RegisterOnShutdown(func() {
		logger.Info("draining", "timeout", c.shutdownTimeout)
		close(drained)
	})
	logger.Info("listening", "addr", ln.Addr().String(), "data_dir", c.dataDir,
		"database", redact.URL(c.database), "bucket", redact.URL(c.bucket),
		"clamd", c.clamd, "max_size", formatSize(int64(c.maxSize)),
		"inline_max", formatSize(int64(c.inlineMax)), "gc_interval", c.gcInterval, "max_conns", c.maxConns, "max_conns_per_ip", c.maxConnsPerIP,
		"version", version())
	if clam != nil {
		checked := make(chan struct{})
		go func() {
			defer close(checked)
			checkClamd(ctx, clam, c, logger)
		}()
		defer func() { <-checked }() // bounded by --clamd-probe-timeout, twice
	}
	if c.gcInterval > 0 {
		gctx, stopGC := context.WithCancel(ctx)
		gcDone := make(chan struct{})
		go func() {
			defer close(gcDone)
			collectEvery(gctx, store, c.gcInterval, logger)
		}()
		defer func() { stopGC(); <-gcDone }() // before the store closes
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(refusals.listener(conns.listener(ln))) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-drained // Shutdown started it, whatever err
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		logger.Error("serve", "error", serr)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", c.shutdownTimeout, err)
	}
	logger.Info("stopped")
	return nil
}

// readHeaderTimeout is how long a client may take to send a request's
// header, from its first byte (or from the connection's start).
const readHeaderTimeout = 10 * time.Second

// newServer is the http.Server of filestored. ReadHeaderTimeout cuts
// clients that send headers slowly; there is no ReadTimeout or
// WriteTimeout, which would cut long uploads and downloads: the Handler
// moves per-read and per-write deadlines forward as data flows
// (httpapi.Config.BodyTimeout) instead. conns tracks its connections, and
// refusals what net/http refuses on its own; serve it on
// refusals.listener of conns.listener of the listener, so that the cap
// holds and the refusals are seen.
func newServer(h http.Handler, logger *slog.Logger, conns *connLimit, refusals *refusalLog) *http.Server {
	return &http.Server{
		Handler:           refusals.handler(h),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnContext:       refusals.connContext,
		ConnState: func(c net.Conn, s http.ConnState) {
			conns.connState(c, s)
			refusals.connState(c, s)
		},
	}
}

// metricsRegistry is the registry /metrics serves: httpapi's default
// (the Go and process collectors), the connections of conns and the
// refusals of refusals.
func metricsRegistry(conns *connLimit, refusals *refusalLog) (*prometheus.Registry, error) {
	reg := httpapi.NewRegistry()
	for _, c := range append(conns.collectors(), refusals.collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, nil
}
