// Package httpapi serves a filestore.Store over HTTP as filestore's REST
// API, version 1 (described by the OpenAPI 3.1 document it serves at
// GET /v1/openapi.json, and in the repository's README): routes,
// problem+json errors, authentication, rate limits, request ids, trace
// context, one log line per request and Prometheus metrics. Its
// handlers only parse a request, call the Store and map its errors; the
// Store holds every rule about files.
//
// Mount a Handler at the root of a server, or in your own mux:
//
//	h, err := httpapi.New(store, httpapi.Config{Auth: httpapi.JWT(verifier)})
//	mux.Handle("/v1/", h)
package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
)

// Handler serves the filestore REST API. It is safe for concurrent use and
// holds no goroutines or resources of its own: there is nothing to close.
type Handler struct {
	store   filestore.Store
	cfg     Config
	mux     *http.ServeMux
	routes  map[string]*route // by pattern
	metrics *metrics
	ipLim   *limiter // nil when off
	userLim *limiter // nil when off
	uploads *gate    // nil when off
	// downloads gates GETs of content; nil when off.
	downloads *gate
	openapi   []byte
	// openapiETag is the document's ETag (it never changes after New).
	openapiETag string
	ready       readiness
}

var _ http.Handler = (*Handler)(nil)

// route is one entry of the router.
type route struct {
	method, path string
	// scope is the token scope the route needs; "" for the operational
	// routes, which need no token and are not rate limited.
	scope string
	// public routes need no token but are rate limited per IP.
	public bool
	serve  func(w http.ResponseWriter, r *http.Request, c *auth.Caller) error
}

func (rt *route) pattern() string { return rt.method + " " + rt.path }

// operational reports whether rt is /healthz, /readyz or /metrics: no
// token, no rate limit.
func (rt *route) operational() bool { return rt.scope == "" && !rt.public }

// New returns a Handler serving store. It fails with an error wrapping
// ErrInvalidConfig when store is nil or cfg is invalid (no Auth, a nil
// AuthenticatorFunc or JWT verifier, negative sizes or rates), and with another when its metrics cannot be registered
// in cfg.Registry (names already taken).
func New(store filestore.Store, cfg Config) (*Handler, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m, reg, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	if err := registerUploadMemory(reg, store); err != nil {
		return nil, err
	}
	if err := registerDedupHits(reg, store); err != nil {
		return nil, err
	}
	cfg.Registry = reg
	doc, err := openapiDocument()
	if err != nil {
		return nil, err
	}
	h := &Handler{
		store:     store,
		cfg:       cfg,
		mux:       http.NewServeMux(),
		routes:    make(map[string]*route),
		metrics:   m,
		ipLim:     newLimiter("ip", cfg.RateIP, cfg.RateMaxKeys),
		userLim:   newLimiter("owner", cfg.RateUser, cfg.RateMaxKeys),
		uploads:   newGate("uploads", cfg.MaxUploadsPerOwner, cfg.MaxUploads),
		downloads: newGate("downloads", cfg.MaxDownloadsPerOwner, cfg.MaxDownloads),
		openapi:   doc,
	}
	sum := sha256.Sum256(doc)
	h.openapiETag = `"` + hex.EncodeToString(sum[:16]) + `"`
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
	})
	for _, rt := range h.routeTable(metricsHandler) {
		h.routes[rt.pattern()] = rt
		h.mux.Handle(rt.pattern(), h.wrap(rt))
	}
	return h, nil
}

// routeTable lists every route of the contract.
func (h *Handler) routeTable(metricsHandler http.Handler) []*route {
	const (
		read  = auth.ScopeRead
		write = auth.ScopeWrite
		admin = auth.ScopeAdmin
	)
	return []*route{
		{method: "POST", path: "/v1/files", scope: write, serve: h.upload},
		{method: "GET", path: "/v1/files", scope: read, serve: h.list},
		{method: "GET", path: "/v1/files/{id}", scope: read, serve: h.stat},
		{method: "PATCH", path: "/v1/files/{id}", scope: write, serve: h.update},
		{method: "DELETE", path: "/v1/files/{id}", scope: write, serve: h.delete},
		{method: "GET", path: "/v1/files/{id}/content", scope: read, serve: h.content},
		{method: "POST", path: "/v1/files/{id}/restore", scope: write, serve: h.restore},
		{method: "POST", path: "/v1/admin/gc", scope: admin, serve: h.collect},
		{method: "GET", path: "/v1/admin/stats", scope: admin, serve: h.stats},
		{method: "GET", path: "/v1/openapi.json", public: true, serve: h.serveOpenAPI},
		{method: "GET", path: "/healthz", serve: h.healthz},
		{method: "GET", path: "/readyz", serve: h.readyz},
		{method: "GET", path: "/metrics", serve: func(w http.ResponseWriter, r *http.Request, _ *auth.Caller) error {
			metricsHandler.ServeHTTP(w, r)
			return nil
		}},
	}
}

// wrap is the per-route part of the middleware: authentication, scope and
// the per-owner rate limit, then the route's handler and its error.
func (h *Handler) wrap(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c *auth.Caller
		if rt.scope != "" {
			if c = h.authenticate(w, r, rt.scope); c == nil {
				return
			}
			r = r.WithContext(auth.NewContext(r.Context(), c))
			if !h.rateLimit(w, r, h.userLim, c.Owner) {
				return
			}
		}
		if err := rt.serve(w, r, c); err != nil {
			writeError(w, r, err)
		}
	})
}

// ServeHTTP serves one request: request id and trace context, client IP
// and its rate limit, the route, then one log line and the metrics. A panic
// in a handler becomes a 500 problem (or, when the answer had begun, an
// aborted connection).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	h.metrics.inFlight.Inc()
	defer h.metrics.inFlight.Dec()

	info := &reqInfo{raw: innermost(w)}
	if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
		info.requestID = id
	} else {
		info.requestID = h.cfg.NewRequestID()
	}
	tc, ok := parseTraceparent(r.Header.Get("Traceparent"))
	if !ok {
		tc = newTrace()
	}
	info.traceID = tc.traceID

	rc := http.NewResponseController(w)
	sw := &statusWriter{ResponseWriter: w, rc: rc, timeout: h.cfg.BodyTimeout}
	// The last write deadline of the previous request on this connection
	// bounded its final flush; this request starts without one.
	sw.clearDeadline()
	sw.Header().Set("X-Request-Id", info.requestID)
	sw.Header().Set("Traceparent", tc.traceparent())
	// A shallow copy: the server's own Request (and its Body) stay as they
	// are, for its bookkeeping after the handler returns.
	r = r.WithContext(withInfo(r.Context(), info))
	body := &bodyReader{ReadCloser: r.Body, rc: rc, timeout: h.cfg.BodyTimeout}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = body
		sw.body = body
	}

	abort := false
	defer func() {
		if p := recover(); p != nil {
			abort = h.recovered(sw, r, p)
		}
		if info.gone && !sw.wroteHeader {
			abort = true
		}
		h.finish(r, info, sw, body.n, h.cfg.Now().Sub(start))
		if abort {
			panic(http.ErrAbortHandler)
		}
		if body.timeout > 0 && !body.done && r.Body == body {
			// The handler did not read the body to its end, and the
			// server reads up to 256 KiB of what is left unless the
			// answer closes the connection (see closeIfUntouched): that
			// read gets a deadline too, so that a client that never
			// sends what it announced cannot hold the connection (and a
			// graceful shutdown) for ever.
			_ = rc.SetReadDeadline(time.Now().Add(body.timeout))
		}
	}()

	_, pattern := h.mux.Handler(r)
	if !canonical(r.URL.EscapedPath()) {
		// The mux would redirect to the cleaned path.
		pattern = ""
	}
	info.route = pattern
	rt := h.routes[pattern]
	if ip, ok := clientIP(r, h.cfg.TrustedProxies); ok {
		info.clientIP = ip.String()
		if rt == nil || !rt.operational() {
			if !h.rateLimit(sw, r, h.ipLim, rateKey(ip)) {
				return
			}
		}
	}
	if rt == nil {
		// No route: the mux answers 404, 405 (with Allow) or a redirect;
		// turn its plain text errors into problems.
		h.mux.ServeHTTP(&unmatchedWriter{ResponseWriter: sw, r: r}, r)
		return
	}
	h.mux.ServeHTTP(sw, r)
}

// recovered handles a panic p of a handler: it logs it and answers 500 if
// the answer has not begun. It reports whether the connection must be
// aborted instead.
func (h *Handler) recovered(sw *statusWriter, r *http.Request, p any) (abort bool) {
	info := infoFrom(r.Context())
	if p == http.ErrAbortHandler {
		if info.err == nil {
			info.err = fmt.Errorf("httpapi: handler aborted")
		}
		return true
	}
	info.err = fmt.Errorf("httpapi: panic: %v", p)
	h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "panic",
		slog.String("request_id", info.requestID),
		slog.Any("panic", p),
		slog.String("stack", string(debug.Stack())))
	if sw.wroteHeader {
		return true
	}
	writeProblem(sw, r, http.StatusInternalServerError, codeInternal, "internal error; quote the request id when reporting it")
	return false
}

// finish writes the request's log line, its path and error clipped (see
// maxLogPath), and counts it in the metrics.
func (h *Handler) finish(r *http.Request, info *reqInfo, sw *statusWriter, bytesIn int64, d time.Duration) {
	status := sw.status
	if !sw.wroteHeader {
		status = http.StatusOK
	}
	if info.err == nil && sw.writeErr != nil {
		// The answer began and could not be written whole.
		info.err = fmt.Errorf("httpapi: writing the answer: %w", sw.writeErr)
		if r.Context().Err() != nil {
			info.err = fmt.Errorf("%w: %w", info.err, context.Canceled)
		}
	}
	if info.err != nil && r.Context().Err() != nil && classify(info.err).status == statusClientClosed {
		status = statusClientClosed
	}
	h.metrics.observe(info.route, status, d)
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status < 400 && info.err != nil, status == statusClientClosed && sw.writeErr != nil:
		// An answer that had begun when something failed (a download
		// whose reader broke, or whose client went away): cut short.
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", info.route),
		slog.String("path", clip(r.URL.Path, maxLogPath)),
		slog.Int("status", status),
		slog.Int64("bytes_in", bytesIn),
		slog.Int64("bytes_out", sw.bytes),
		slog.Duration("duration", d),
		slog.String("owner", info.owner),
		slog.String("client_ip", info.clientIP),
		slog.String("request_id", info.requestID),
		slog.String("trace_id", info.traceID),
	}
	if info.err != nil {
		attrs = append(attrs, slog.String("error", clip(info.err.Error(), maxLogError)))
	}
	h.cfg.Logger.LogAttrs(r.Context(), level, "request", attrs...)
}

// rateLimit takes a token for key from l (nil: no limit). It sets the
// RateLimit headers of the tightest limit seen so far and answers 429 when
// the bucket is empty, reporting whether the request may go on.
func (h *Handler) rateLimit(w http.ResponseWriter, r *http.Request, l *limiter, key string) bool {
	if l == nil {
		return true
	}
	info := infoFrom(r.Context())
	d := l.allow(key, h.cfg.Now())
	if d.tighter(info.limit) {
		info.limit = &d
		setRateHeaders(w.Header(), &d)
	}
	if d.allowed {
		return true
	}
	h.metrics.rateLimited.WithLabelValues(l.name).Inc()
	info.err = fmt.Errorf("httpapi: %s rate limit", l.name)
	writeProblem(w, r, http.StatusTooManyRequests, codeRateLimited,
		fmt.Sprintf("too many requests; retry after %s seconds", w.Header().Get("Retry-After")))
	return false
}

// canonical reports whether p is a path the mux serves as it is: one
// without empty, "." or ".." segments, which it redirects to their cleaned
// form instead (its cleanPath).
func canonical(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// unmatchedWriter turns the mux's plain-text 404 and 405 answers into
// problems, and its redirects of a path that is not in canonical form
// (an empty, "." or ".." segment) into 404: no route has such a path, and a
// redirected upload would have its body thrown away.
type unmatchedWriter struct {
	http.ResponseWriter
	r         *http.Request
	swallowed bool
}

func (u *unmatchedWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		u.swallowed = true
		writeProblem(u.ResponseWriter, u.r, code, codeNotFound, "no such route")
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		u.swallowed = true
		u.Header().Del("Location")
		writeProblem(u.ResponseWriter, u.r, http.StatusNotFound, codeNotFound,
			"no such route: the path has an empty, \".\" or \"..\" segment")
	case http.StatusMethodNotAllowed:
		u.swallowed = true
		writeProblem(u.ResponseWriter, u.r, code, codeMethodNotAllowed,
			"method "+u.r.Method+" is not allowed here; allowed: "+u.Header().Get("Allow"))
	default:
		u.ResponseWriter.WriteHeader(code)
	}
}

func (u *unmatchedWriter) Write(p []byte) (int, error) {
	if u.swallowed {
		return len(p), nil
	}
	return u.ResponseWriter.Write(p)
}

func (u *unmatchedWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
