// Command server mounts filestore's REST API (package httpapi) in an
// application's own http.ServeMux, behind the application's own
// authentication: here API keys in an X-API-Key header instead of JWTs.
// The application keeps its own routes; /metrics is not exposed.
//
//	go run ./examples/server
//	curl -H 'X-API-Key: demo-key-alice' --data-binary @README.md 'http://127.0.0.1:8081/v1/files?name=README.md'
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/httpapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:8081")
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	keys := map[string]*auth.Caller{
		"demo-key-alice": {Owner: "alice", Scopes: []string{auth.ScopeRead, auth.ScopeWrite}},
		"demo-key-admin": {Owner: "ops", Scopes: []string{auth.ScopeAdmin}},
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	logger.Info("serving", "addr", ln.Addr().String(), "try", "curl -H 'X-API-Key: demo-key-alice' http://"+ln.Addr().String()+"/v1/files")
	if err := run(ctx, ln, "./server-data", keys, logger); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// apiKeys is the application's own authentication: a fixed table of keys,
// sent in X-API-Key. It names its scheme (httpapi.Challenger), so that the
// 401 answers carry a WWW-Authenticate header.
type apiKeys map[string]*auth.Caller

// Authenticate returns the caller of r's key.
func (keys apiKeys) Authenticate(r *http.Request) (*auth.Caller, error) {
	k := r.Header.Get("X-API-Key")
	if k == "" {
		return nil, auth.ErrNoToken
	}
	c, ok := keys[k]
	if !ok {
		return nil, fmt.Errorf("unknown API key: %w", auth.ErrInvalidToken)
	}
	return c, nil
}

// Challenge names the scheme for 401 answers.
func (apiKeys) Challenge() string { return `APIKey realm="example", header="X-API-Key"` }

// run serves the application on ln until ctx is cancelled, then shuts
// down, giving requests in flight 10 seconds.
func run(ctx context.Context, ln net.Listener, dataDir string, keys map[string]*auth.Caller, logger *slog.Logger) (err error) {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	store, err := filestore.Open(ctx, filestore.Options{
		Database: "sqlite://" + filepath.Join(dir, "filestore.db"),
		Bucket:   "file://" + filepath.ToSlash(filepath.Join(dir, "blobs")),
		MaxSize:  100 << 20,
		Logger:   logger,
	})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()

	api, err := httpapi.New(store, httpapi.Config{
		Auth:     apiKeys(keys),
		MaxSize:  100 << 20,
		RateUser: 10,
		Logger:   logger,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "An application with filestore mounted under /v1/ (send X-API-Key).\n")
	})
	mux.Handle("/v1/", api)
	mux.Handle("GET /healthz", api)

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
