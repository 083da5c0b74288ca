package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/httpapi"
	"github.com/filestore-go/filestore/internal/redact"
	"github.com/filestore-go/filestore/meta"
	"github.com/filestore-go/filestore/scan"
)

// errUsage marks a bad command line or environment (exit status 2).
var errUsage = errors.New("usage")

// config is the server's configuration, from flags and FILESTORE_*
// variables (a flag wins).
type config struct {
	addr            string
	dataDir         string
	database        string
	bucket          string
	jwtSecret       string
	jwtKeys         string
	jwtIssuer       string
	jwtAudience     string
	clamd           string
	clamdScans      int
	clamdPerUser    int
	clamdRead       time.Duration
	clamdScan       time.Duration
	clamdProbeAfter time.Duration
	clamdProbeWait  time.Duration
	scanPolicy      string
	maxSize         size
	inlineMax       size
	allowedTypes    string
	rateIP          float64
	rateUser        float64
	uploadsPerUser  int
	maxUploads      int
	userDownloads   int
	maxDownloads    int
	maxConns        int
	maxConnsPerIP   int
	trashRetention  time.Duration
	gcInterval      time.Duration
	trustedProxies  string
	shutdownTimeout time.Duration
	retryAttempts   int
	retryBase       time.Duration
	s3Stall         time.Duration
	s3Memory        size
	dbTry           time.Duration
	logLevel        string
}

// gateCap is the httpapi.Config cap of uploads or downloads in progress
// for the value of a flag whose 0 turns the cap off: that value, or -1 (off)
// for 0, which httpapi would take for its default.
func gateCap(flagValue int) int {
	if flagValue == 0 {
		return -1
	}
	return flagValue
}

// maxUploadsPerOwner is httpapi.Config.MaxUploadsPerOwner for
// --uploads-per-user, whose 0 turns the cap off.
func (c *config) maxUploadsPerOwner() int { return gateCap(c.uploadsPerUser) }

// scanOptions is the scan.Options of the --clamd-* flags, logging to
// logger.
func (c *config) scanOptions(logger *slog.Logger) *scan.Options {
	return &scan.Options{
		MaxConcurrent: c.clamdScans,
		MaxPerTenant:  c.clamdPerUser,
		ReadTimeout:   c.clamdRead,
		ScanTimeout:   c.clamdScan,
		ProbeAfter:    c.clamdProbeAfter,
		ProbeTimeout:  c.clamdProbeWait,
		Logger:        logger,
	}
}

// storeDBTryTimeout is --db-try-timeout as filestore.Options.DBTryTimeout,
// where a negative value turns the bound off.
func (c *config) storeDBTryTimeout() time.Duration {
	if c.dbTry == 0 {
		return -1
	}
	return c.dbTry
}

// maxUploadsInAll is httpapi.Config.MaxUploads for --max-uploads, whose 0
// turns the cap off.
func (c *config) maxUploadsInAll() int { return gateCap(c.maxUploads) }

// maxDownloadsPerOwner is httpapi.Config.MaxDownloadsPerOwner for
// --downloads-per-user, whose 0 turns the cap off.
func (c *config) maxDownloadsPerOwner() int { return gateCap(c.userDownloads) }

// maxDownloadsInAll is httpapi.Config.MaxDownloads for --max-downloads,
// whose 0 turns the cap off.
func (c *config) maxDownloadsInAll() int { return gateCap(c.maxDownloads) }

// memoryDatabase is the catalogue URL that keeps nothing, the only one a
// mem:// bucket may go with.
const memoryDatabase = "sqlite://:memory:"

// size is a flag.Value of a byte count written like 5GiB.
type size int64

func (s *size) String() string { return formatSize(int64(*s)) }

func (s *size) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = size(n)
	return nil
}

// envName is the FILESTORE_* variable of a flag.
func envName(flagName string) string {
	return "FILESTORE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// registerConfig defines the configuration flags on fs, with the contract's
// defaults.
func registerConfig(fs *flag.FlagSet, c *config) {
	c.maxSize = httpapi.DefaultMaxSize
	c.inlineMax = filestore.MaxInlineMax
	c.s3Memory = defaultS3UploadMemory
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "directory of the default database, bucket and JWT secret")
	fs.StringVar(&c.database, "database", "", "catalogue URL: sqlite://PATH or postgres://... (default sqlite://<data-dir>/filestore.db)")
	fs.StringVar(&c.bucket, "bucket", "", "object storage URL: file://DIR, s3://BUCKET?..., or mem:// with --database sqlite://:memory: (keeps nothing; default file://<data-dir>/blobs)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HMAC secret of the tokens, at least 32 bytes (default: generated once into <data-dir>/jwt.secret)")
	fs.StringVar(&c.jwtKeys, "jwt-keys", "", "PEM public key(s) or JWKS file of the token issuer")
	fs.StringVar(&c.jwtIssuer, "jwt-issuer", "", "required iss claim (default: not checked)")
	fs.StringVar(&c.jwtAudience, "jwt-audience", "", "required aud claim (default: not checked)")
	fs.StringVar(&c.clamd, "clamd", "", "clamd address, tcp://127.0.0.1:3310 or unix:///path (default: no scanning)")
	fs.IntVar(&c.clamdScans, "clamd-concurrency", 8, "scans that talk to clamd at once (further uploads wait for one), by default at most half of them one owner's (see --clamd-concurrency-per-user); set it to clamd's MaxThreads")
	fs.IntVar(&c.clamdPerUser, "clamd-concurrency-per-user", 0, "of those, how many one owner's scans may hold (further uploads of the owner wait for one of their own); 0 is half of --clamd-concurrency, at least 1; --clamd-concurrency's value turns the limit off")
	fs.DurationVar(&c.clamdRead, "clamd-read-timeout", 60*time.Second, "how long each wait on clamd may take: for it to take a chunk of the stream, or for a reply (the verdict once the whole stream was sent); raise it if clamd takes longer to judge large archives")
	fs.DurationVar(&c.clamdScan, "clamd-scan-timeout", 10*time.Minute, "how long one scan may take, from waiting for a free clamd connection (once the owner's own scans leave it room) to the verdict; an upload still streaming then is scanned again from its stored copy after the upload, one whose scan runs out while clamd answers PING is refused as busy, under either scan policy")
	fs.DurationVar(&c.clamdProbeAfter, "clamd-probe-after", 5*time.Second, "how long a scan waits on clamd (for a free connection, a chunk taken, a verdict) before it checks with a PING that clamd is alive, and again each time as long; at least 10ms")
	fs.DurationVar(&c.clamdProbeWait, "clamd-probe-timeout", 5*time.Second, "how long that PING may take; a clamd that does not answer within it is frozen, and every scan waiting on it fails at once (503 scanner_unavailable, or stored unscanned under fail-open); at least 10ms")
	fs.StringVar(&c.scanPolicy, "scan-policy", string(filestore.FailClosed), "when the scanner cannot answer, or the upload is over its stream limit: fail-closed (refused) or fail-open (stored unscanned)")
	fs.Var(&c.maxSize, "max-size", "largest upload (B, KiB, MiB, GiB, TiB)")
	fs.Var(&c.inlineMax, "inline-max", "uploads up to this size are stored in the catalogue, not the bucket (at most 64KiB); 0 turns it off")
	fs.StringVar(&c.allowedTypes, "allowed-types", "", "allowed content types, comma list like image/*,application/pdf (default: all)")
	fs.Float64Var(&c.rateIP, "rate-ip", 50, "requests per second per client IP, burst twice that; 0 turns it off")
	fs.Float64Var(&c.rateUser, "rate-user", 20, "requests per second per owner, burst twice that; 0 turns it off")
	fs.IntVar(&c.uploadsPerUser, "uploads-per-user", httpapi.DefaultMaxUploadsPerOwner, "uploads one owner may have in progress at once (one more is answered 429); 0 turns the cap off")
	fs.IntVar(&c.maxUploads, "max-uploads", httpapi.DefaultMaxUploads, "uploads the server has in progress at once, over all owners (one more is answered 503); 0 turns the cap off")
	fs.IntVar(&c.userDownloads, "downloads-per-user", httpapi.DefaultMaxDownloadsPerOwner, "downloads of content (GETs) one owner may have in progress at once (one more is answered 429 without opening the file); 0 turns the cap off")
	fs.IntVar(&c.maxDownloads, "max-downloads", httpapi.DefaultMaxDownloads, "downloads of content (GETs) the server has in progress at once, over all owners (one more is answered 503); 0 turns the cap off")
	fs.IntVar(&c.maxConns, "max-conns", defaultMaxConns, "connections the server holds open at once, idle keep-alive ones included (further ones wait in the accept backlog until one closes; at the cap, idle connections are closed to make room, requests in progress never); 0 turns the cap off")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", defaultMaxConnsPerIP, "connections one client address (an IPv4 address, an IPv6 /64) may hold open at once; at the cap its idle connection idle the longest is closed to make room, and with none idle a new one is answered 429 and closed; --trusted-proxies are not capped; 0 turns the cap off")
	fs.DurationVar(&c.trashRetention, "trash-retention", 720*time.Hour, "how long trashed files stay before GC purges them")
	fs.DurationVar(&c.gcInterval, "gc-interval", time.Hour, "how often this server runs GC (trash past retention, unreferenced objects, abandoned staging); 0 turns it off (POST /v1/admin/gc still runs it)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma list of reverse proxy CIDRs whose X-Forwarded-For is believed (default: none)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may finish after SIGINT/SIGTERM")
	fs.IntVar(&c.retryAttempts, "retry-attempts", 8, "tries of a database or bucket operation that fails transiently, the first included; with the delays doubling from --retry-base-delay up to 2s, the default rides out about 5s (a restart of the database or the S3 server); 1 turns retries off")
	fs.DurationVar(&c.retryBase, "retry-base-delay", 50*time.Millisecond, "the first delay between retries; each doubles, with jitter, up to 2s (or this delay, if longer)")
	fs.DurationVar(&c.s3Stall, "s3-stall-timeout", 30*time.Second, "how long a connection to the S3 server may make no progress (connecting, sending, waiting for an answer, receiving) before the request fails; a server that stops answering then fails each bucket operation with 503 after two silent tries, about twice this, whatever --retry-attempts says; transfers that keep moving are not cut, except an upload whose last few MiB (the socket's send buffer) a slow server takes longer than this to read")
	fs.DurationVar(&c.dbTry, "db-try-timeout", 30*time.Second, "PostgreSQL: how long each try of a catalogue operation (a statement or a transaction) may wait for an answer before it fails with 503 instead of waiting on a server that answers nothing; raise it if a listing or GC of a large catalogue takes longer; 0 turns it off")
	fs.Var(&c.s3Memory, "s3-upload-memory", "memory that uploads to S3 may hold together for their parts, about 30MiB each, one owner's half of it (an upload that finds it, or its owner's half, spent waits, and gets 503 once what it waits for has not moved for a minute); 0 turns the limit off")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

// parseFlags parses args into fs and then, for every flag not given on the
// command line and not in noEnv, its FILESTORE_* variable from env.
func parseFlags(fs *flag.FlagSet, args []string, env func(string) string, noEnv ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	set := map[string]bool{}
	var empty string
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if empty == "" && f.Value.String() == "" {
			empty = f.Name
		}
	})
	if empty != "" {
		// `--database "$UNSET"` would otherwise mean the default (a
		// catalogue in the data directory), and `--clamd "$UNSET"` no
		// scanning at all, without a word.
		return fmt.Errorf("%w: --%s is given empty; leave it out for its default", errUsage, empty)
	}
	for _, name := range noEnv {
		set[name] = true
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v := env(name); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%w: %s=%q: %w", errUsage, name, v, serr)
			}
		}
	})
	return err
}

// resolve fills the defaults that depend on other settings and checks
// values. The data directory becomes absolute.
func (c *config) resolve() error {
	abs, err := filepath.Abs(c.dataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	c.dataDir = abs
	if c.database == "" {
		c.database = "sqlite://" + filepath.Join(abs, "filestore.db")
	}
	if c.bucket == "" {
		c.bucket = "file://" + filepath.ToSlash(filepath.Join(abs, "blobs"))
	}
	if strings.HasPrefix(c.bucket, "mem:") && c.database != memoryDatabase {
		return fmt.Errorf("%w: --bucket %s keeps the content in this process only, while the catalogue %s outlives it: after a restart its files would have no content; use it only with --database %s",
			errUsage, c.bucket, redact.URL(c.database), memoryDatabase)
	}
	switch filestore.ScanPolicy(c.scanPolicy) {
	case filestore.FailClosed, filestore.FailOpen:
	default:
		return fmt.Errorf("%w: --scan-policy %q: want fail-closed or fail-open", errUsage, c.scanPolicy)
	}
	if c.maxSize <= 0 {
		return fmt.Errorf("%w: --max-size must be positive", errUsage)
	}
	if c.inlineMax < 0 || c.inlineMax > filestore.MaxInlineMax {
		return fmt.Errorf("%w: --inline-max must be 0 to %s", errUsage, formatSize(filestore.MaxInlineMax))
	}
	for _, r := range []float64{c.rateIP, c.rateUser} {
		// NaN passes "< 0"; it and the infinities would turn limiting off.
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("%w: --rate-ip and --rate-user must be finite and not negative", errUsage)
		}
	}
	if c.uploadsPerUser < 0 {
		return fmt.Errorf("%w: --uploads-per-user must not be negative (0 turns the cap off)", errUsage)
	}
	if c.maxUploads < 0 {
		return fmt.Errorf("%w: --max-uploads must not be negative (0 turns the cap off)", errUsage)
	}
	if c.userDownloads < 0 {
		return fmt.Errorf("%w: --downloads-per-user must not be negative (0 turns the cap off)", errUsage)
	}
	if c.maxDownloads < 0 {
		return fmt.Errorf("%w: --max-downloads must not be negative (0 turns the cap off)", errUsage)
	}
	if c.maxConns < 0 {
		return fmt.Errorf("%w: --max-conns must not be negative (0 turns the cap off)", errUsage)
	}
	if c.maxConnsPerIP < 0 {
		return fmt.Errorf("%w: --max-conns-per-ip must not be negative (0 turns the cap off)", errUsage)
	}
	if c.clamdScans < 1 {
		return fmt.Errorf("%w: --clamd-concurrency must be at least 1", errUsage)
	}
	if c.clamdPerUser < 0 || c.clamdPerUser > c.clamdScans {
		return fmt.Errorf("%w: --clamd-concurrency-per-user must be 0 to --clamd-concurrency (%d)", errUsage, c.clamdScans)
	}
	if c.clamdRead <= 0 || c.clamdScan <= 0 {
		return fmt.Errorf("%w: --clamd-read-timeout and --clamd-scan-timeout must be positive", errUsage)
	}
	// scan.Options' least ProbeAfter and ProbeTimeout: a PING, or a wait,
	// shorter than that would fail a clamd that is doing well.
	if c.clamdProbeAfter < 10*time.Millisecond || c.clamdProbeWait < 10*time.Millisecond {
		return fmt.Errorf("%w: --clamd-probe-after and --clamd-probe-timeout must be at least 10ms", errUsage)
	}
	if c.trashRetention <= 0 {
		return fmt.Errorf("%w: --trash-retention must be positive", errUsage)
	}
	if c.gcInterval < 0 {
		return fmt.Errorf("%w: --gc-interval must not be negative (0 turns it off)", errUsage)
	}
	if c.shutdownTimeout <= 0 {
		return fmt.Errorf("%w: --shutdown-timeout must be positive", errUsage)
	}
	if c.retryAttempts < 1 || c.retryAttempts > 100 {
		return fmt.Errorf("%w: --retry-attempts must be 1 to 100", errUsage)
	}
	if c.retryBase <= 0 {
		return fmt.Errorf("%w: --retry-base-delay must be positive", errUsage)
	}
	if c.dbTry < 0 {
		return fmt.Errorf("%w: --db-try-timeout must not be negative (0 turns it off)", errUsage)
	}
	if c.s3Stall <= 0 {
		return fmt.Errorf("%w: --s3-stall-timeout must be positive", errUsage)
	}
	if _, err := c.proxies(); err != nil {
		return err
	}
	if _, err := c.level(); err != nil {
		return err
	}
	return c.checkServices()
}

// checkServices checks, without contacting anything or creating anything
// on disk, what serve would otherwise find wrong only after it has made
// the data directory, the JWT secret and the catalogue: the address to
// listen on, the schemes of --database and --bucket, the clamd address
// and the allow list.
func (c *config) checkServices() error {
	if err := checkListenAddr(c.addr); err != nil {
		return fmt.Errorf("%w: --addr %q: %w", errUsage, c.addr, err)
	}
	if !strings.HasPrefix(c.database, "sqlite://") && !strings.HasPrefix(c.database, "postgres://") && !strings.HasPrefix(c.database, "postgresql://") {
		return fmt.Errorf("%w: --database %s: want a sqlite:// or postgres:// URL", errUsage, redact.URL(c.database))
	}
	if u, err := url.Parse(c.bucket); err != nil || !slices.Contains([]string{"file", "s3", "mem"}, u.Scheme) {
		return fmt.Errorf("%w: --bucket %s: want a file://, s3:// or mem:// URL", errUsage, redact.URL(c.bucket))
	}
	if c.clamd != "" {
		if _, err := scan.New(c.clamd, c.scanOptions(nil)); err != nil {
			return fmt.Errorf("%w: --clamd: %w", errUsage, err)
		}
	}
	if _, err := meta.ParseAllowList(c.allowedTypes); err != nil {
		return fmt.Errorf("%w: --allowed-types: %w", errUsage, err)
	}
	return nil
}

// checkListenAddr checks that addr is a host:port that net.Listen("tcp")
// could take: a port number of 0 to 65535 or a service name.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return err
	}
	return nil
}

// proxies parses --trusted-proxies: CIDRs, or single addresses.
func (c *config) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(c.trustedProxies, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			a, aerr := netip.ParseAddr(item)
			if aerr != nil {
				return nil, fmt.Errorf("%w: --trusted-proxies %q: %w", errUsage, item, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// level parses --log-level.
func (c *config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.logLevel)); err != nil {
		return 0, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, c.logLevel)
	}
	return l, nil
}

// usage writes the flags and their variables.
func usage(fs *flag.FlagSet, w io.Writer, head string, noEnv ...string) {
	fmt.Fprintln(w, head)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def != "" {
			def = " (default " + strconv.Quote(def) + ")"
		}
		name := "--" + f.Name
		if !slices.Contains(noEnv, f.Name) {
			name += ", " + envName(f.Name)
		}
		fmt.Fprintf(w, "  %s\n      %s%s\n", name, f.Usage, def)
	})
}

// defaultS3UploadMemory is --s3-upload-memory's default, the library's.
const defaultS3UploadMemory = 256 << 20

// storeS3UploadMemory is --s3-upload-memory as
// filestore.Options.S3UploadMemory, where a negative value turns the limit
// off.
func (c *config) storeS3UploadMemory() int64 {
	if c.s3Memory == 0 {
		return -1
	}
	return int64(c.s3Memory)
}

// storeInlineMax is --inline-max as filestore.Options.InlineMax, where 0
// means the default and a negative value turns inlining off.
func (c *config) storeInlineMax() int64 {
	if c.inlineMax == 0 {
		return -1
	}
	return int64(c.inlineMax)
}
