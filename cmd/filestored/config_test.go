package main

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore/scan"
	"github.com/google/go-cmp/cmp"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		give string
		want int64
		bad  bool
	}{
		{"5GiB", 5 << 30, false},
		{"1MiB", 1 << 20, false},
		{"512KiB", 512 << 10, false},
		{"100B", 100, false},
		{"100", 100, false},
		{"0", 0, false},
		{"2TiB", 2 << 40, false},
		{" 3 MiB ", 3 << 20, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"1.5GiB", 0, true},
		{"-1MiB", 0, true},
		{"+1", 0, true},
		{"5GB", 0, true},
		{"5gib", 0, true},
		{"5 G", 0, true},
		{"9223372036854775807B", 9223372036854775807, false},
		{"9223372036854775807KiB", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.give)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, bad=%v", tt.give, got, err, tt.want, tt.bad)
		}
	}
	for n, want := range map[int64]string{5 << 30: "5GiB", 1536: "1536B", 1000: "1000B", 0: "0B", 2048: "2KiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	type view struct {
		Addr, DataDir, Database, Bucket, Secret, Keys, Iss, Aud, Clamd, Policy, Types string
		MaxSize, InlineMax                                                            int64
		RateIP, RateUser                                                              float64
		Retention, Shutdown, GC                                                       time.Duration
		Proxies                                                                       []string
		RetryAttempts                                                                 int
		RetryBase                                                                     time.Duration
		S3Stall                                                                       time.Duration
		S3Memory                                                                      int64
		DBTry                                                                         time.Duration
		UploadsPerOwner                                                               int
		MaxUploads                                                                    int
		DownloadsPerOwner                                                             int
		MaxDownloads                                                                  int
		MaxConns                                                                      int
		MaxConnsPerIP                                                                 int
		Scan                                                                          scan.Options
	}
	viewOf := func(c *config) view {
		ps, _ := c.proxies()
		var p []string
		for _, x := range ps {
			p = append(p, x.String())
		}
		return view{c.addr, c.dataDir, c.database, c.bucket, c.jwtSecret, c.jwtKeys, c.jwtIssuer, c.jwtAudience,
			c.clamd, c.scanPolicy, c.allowedTypes, int64(c.maxSize), c.storeInlineMax(), c.rateIP, c.rateUser, c.trashRetention, c.shutdownTimeout, c.gcInterval, p, c.retryAttempts, c.retryBase, c.s3Stall, c.storeS3UploadMemory(), c.storeDBTryTimeout(), c.maxUploadsPerOwner(), c.maxUploadsInAll(), c.maxDownloadsPerOwner(), c.maxDownloadsInAll(), c.maxConns, c.maxConnsPerIP, *c.scanOptions(nil)}
	}
	defaults := view{
		Addr: "127.0.0.1:8080", DataDir: abs("data"),
		Database: "sqlite://" + abs("data/filestore.db"), Bucket: "file://" + abs("data/blobs"),
		Policy: "fail-closed", MaxSize: 5 << 30, InlineMax: 64 << 10, RateIP: 50, RateUser: 20,
		Retention: 720 * time.Hour, Shutdown: 30 * time.Second, GC: time.Hour,
		RetryAttempts: 8, RetryBase: 50 * time.Millisecond, S3Stall: 30 * time.Second, S3Memory: 256 << 20, DBTry: 30 * time.Second, UploadsPerOwner: 64, MaxUploads: 256,
		DownloadsPerOwner: 64, MaxDownloads: 1024, MaxConns: 4096, MaxConnsPerIP: 256,
		Scan: scan.Options{MaxConcurrent: 8, ReadTimeout: time.Minute, ScanTimeout: 10 * time.Minute, ProbeAfter: 5 * time.Second, ProbeTimeout: 5 * time.Second},
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(v view) view
	}{
		{"defaults", nil, nil, func(v view) view { return v }},
		{"env", nil, map[string]string{
			"FILESTORE_ADDR": "127.0.0.1:9999", "FILESTORE_DATA_DIR": dir, "FILESTORE_MAX_SIZE": "1MiB",
			"FILESTORE_RATE_IP": "0", "FILESTORE_RATE_USER": "2.5", "FILESTORE_SCAN_POLICY": "fail-open",
			"FILESTORE_CLAMD": "tcp://127.0.0.1:3310", "FILESTORE_ALLOWED_TYPES": "image/*",
			"FILESTORE_JWT_SECRET": "s", "FILESTORE_JWT_KEYS": "k.pem", "FILESTORE_JWT_ISSUER": "i", "FILESTORE_JWT_AUDIENCE": "a",
			"FILESTORE_TRASH_RETENTION": "1h", "FILESTORE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
			"FILESTORE_DATABASE": "sqlite://:memory:", "FILESTORE_BUCKET": "mem://", "FILESTORE_INLINE_MAX": "0",
			"FILESTORE_GC_INTERVAL": "0", "FILESTORE_RETRY_ATTEMPTS": "12", "FILESTORE_RETRY_BASE_DELAY": "100ms",
			"FILESTORE_UPLOADS_PER_USER": "0", "FILESTORE_CLAMD_CONCURRENCY": "4", "FILESTORE_S3_STALL_TIMEOUT": "5s",
			"FILESTORE_S3_UPLOAD_MEMORY": "0", "FILESTORE_MAX_UPLOADS": "0", "FILESTORE_DB_TRY_TIMEOUT": "0",
			"FILESTORE_DOWNLOADS_PER_USER": "0", "FILESTORE_MAX_DOWNLOADS": "0", "FILESTORE_MAX_CONNS": "0", "FILESTORE_MAX_CONNS_PER_IP": "0",
			"FILESTORE_CLAMD_READ_TIMEOUT": "3m", "FILESTORE_CLAMD_SCAN_TIMEOUT": "1h", "FILESTORE_CLAMD_PROBE_AFTER": "2s", "FILESTORE_CLAMD_PROBE_TIMEOUT": "1500ms", "FILESTORE_CLAMD_CONCURRENCY_PER_USER": "4",
		}, func(v view) view {
			return view{Addr: "127.0.0.1:9999", DataDir: dir, Database: "sqlite://:memory:", Bucket: "mem://",
				Secret: "s", Keys: "k.pem", Iss: "i", Aud: "a", Clamd: "tcp://127.0.0.1:3310", Policy: "fail-open",
				Types: "image/*", MaxSize: 1 << 20, InlineMax: -1, RateIP: 0, RateUser: 2.5, Retention: time.Hour, Shutdown: 30 * time.Second, GC: 0,
				Proxies: []string{"10.0.0.0/8", "192.0.2.7/32"}, RetryAttempts: 12, RetryBase: 100 * time.Millisecond, S3Stall: 5 * time.Second, S3Memory: -1, DBTry: -1, UploadsPerOwner: -1, MaxUploads: -1,
				DownloadsPerOwner: -1, MaxDownloads: -1, MaxConns: 0, MaxConnsPerIP: 0,
				Scan: scan.Options{MaxConcurrent: 4, MaxPerTenant: 4, ReadTimeout: 3 * time.Minute, ScanTimeout: time.Hour, ProbeAfter: 2 * time.Second, ProbeTimeout: 1500 * time.Millisecond}}
		}},
		{"a flag wins", []string{"--addr", "127.0.0.1:7777", "--max-size=512KiB", "--data-dir", dir},
			map[string]string{"FILESTORE_ADDR": "127.0.0.1:9999", "FILESTORE_MAX_SIZE": "1MiB"},
			func(v view) view {
				v.Addr, v.MaxSize, v.DataDir = "127.0.0.1:7777", 512<<10, dir
				v.Database, v.Bucket = "sqlite://"+filepath.Join(dir, "filestore.db"), "file://"+filepath.Join(dir, "blobs")
				return v
			}},
		{"serve subcommand", []string{"--rate-ip", "0"}, nil, func(v view) view { v.RateIP = 0; return v }},
		{"lower inline limit", []string{"--inline-max", "4KiB"}, nil, func(v view) view { v.InlineMax = 4096; return v }},
		{"uploads per user", []string{"--uploads-per-user", "3"}, nil, func(v view) view { v.UploadsPerOwner = 3; return v }},
		{"uploads in all", []string{"--max-uploads", "1000"}, nil, func(v view) view { v.MaxUploads = 1000; return v }},
		{"downloads per user", []string{"--downloads-per-user", "3"}, nil, func(v view) view { v.DownloadsPerOwner = 3; return v }},
		{"downloads in all", []string{"--max-downloads", "5000"}, nil, func(v view) view { v.MaxDownloads = 5000; return v }},
		{"downloads env", nil, map[string]string{"FILESTORE_DOWNLOADS_PER_USER": "8", "FILESTORE_MAX_DOWNLOADS": "100"}, func(v view) view {
			v.DownloadsPerOwner, v.MaxDownloads = 8, 100
			return v
		}},
		{"connections", []string{"--max-conns", "100"}, nil, func(v view) view { v.MaxConns = 100; return v }},
		{"connections env", nil, map[string]string{"FILESTORE_MAX_CONNS": "20000"}, func(v view) view { v.MaxConns = 20000; return v }},
		{"connections per address", []string{"--max-conns-per-ip", "8"}, nil, func(v view) view { v.MaxConnsPerIP = 8; return v }},
		{"connections per address env", nil, map[string]string{"FILESTORE_MAX_CONNS_PER_IP": "1000"}, func(v view) view { v.MaxConnsPerIP = 1000; return v }},
		{"S3 stall timeout", []string{"--s3-stall-timeout", "2m"}, nil, func(v view) view { v.S3Stall = 2 * time.Minute; return v }},
		{"S3 upload memory", []string{"--s3-upload-memory", "2GiB"}, nil, func(v view) view { v.S3Memory = 2 << 30; return v }},
		{"database try timeout", []string{"--db-try-timeout", "5m"}, nil, func(v view) view { v.DBTry = 5 * time.Minute; return v }},
		{"clamd per user", []string{"--clamd-concurrency", "16", "--clamd-concurrency-per-user", "3"}, nil, func(v view) view {
			v.Scan.MaxConcurrent, v.Scan.MaxPerTenant = 16, 3
			return v
		}},
		{"clamd timeouts", []string{"--clamd-read-timeout", "90s", "--clamd-scan-timeout", "30m", "--clamd-probe-after", "10ms", "--clamd-probe-timeout", "20s"}, nil, func(v view) view {
			v.Scan.ReadTimeout, v.Scan.ScanTimeout, v.Scan.ProbeAfter, v.Scan.ProbeTimeout = 90*time.Second, 30*time.Minute, 10*time.Millisecond, 20*time.Second
			return v
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, envOf(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want(defaults), viewOf(c)); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}

	bad := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown flag", []string{"--nope"}, nil},
		{"extra argument", []string{"extra"}, nil},
		{"bad size flag", []string{"--max-size", "5GB"}, nil},
		{"bad size env", nil, map[string]string{"FILESTORE_MAX_SIZE": "lots"}},
		{"zero size", []string{"--max-size", "0"}, nil},
		{"inline limit over 64KiB", []string{"--inline-max", "128KiB"}, nil},
		{"bad policy", []string{"--scan-policy", "maybe"}, nil},
		{"negative rate", []string{"--rate-ip", "-1"}, nil},
		{"NaN rate", []string{"--rate-user", "NaN"}, nil},
		{"infinite rate", nil, map[string]string{"FILESTORE_RATE_IP": "+Inf"}},
		{"negative GC interval", []string{"--gc-interval", "-1m"}, nil},
		{"negative uploads per user", []string{"--uploads-per-user", "-1"}, nil},
		{"negative uploads in all", nil, map[string]string{"FILESTORE_MAX_UPLOADS": "-1"}},
		{"negative downloads per user", nil, map[string]string{"FILESTORE_DOWNLOADS_PER_USER": "-1"}},
		{"negative downloads in all", []string{"--max-downloads", "-1"}, nil},
		{"negative connections", []string{"--max-conns", "-1"}, nil},
		{"bad connections env", nil, map[string]string{"FILESTORE_MAX_CONNS": "many"}},
		{"negative connections per address", []string{"--max-conns-per-ip", "-1"}, nil},
		{"bad connections per address env", nil, map[string]string{"FILESTORE_MAX_CONNS_PER_IP": "1.5"}},
		{"no clamd scans", []string{"--clamd-concurrency", "0"}, nil},
		{"negative clamd per user", []string{"--clamd-concurrency-per-user", "-1"}, nil},
		{"clamd per user over clamd concurrency", []string{"--clamd-concurrency-per-user", "9"}, nil},
		{"zero clamd read timeout", []string{"--clamd-read-timeout", "0"}, nil},
		{"negative clamd scan timeout", []string{"--clamd-scan-timeout", "-1m"}, nil},
		{"clamd probe under 10ms", []string{"--clamd-probe-after", "9ms"}, nil},
		{"clamd probe timeout under 10ms", nil, map[string]string{"FILESTORE_CLAMD_PROBE_TIMEOUT": "1ms"}},
		{"no retry attempts", []string{"--retry-attempts", "0"}, nil},
		{"too many retry attempts", []string{"--retry-attempts", "101"}, nil},
		{"zero retry delay", []string{"--retry-base-delay", "0s"}, nil},
		{"zero S3 stall timeout", []string{"--s3-stall-timeout", "0s"}, nil},
		{"negative S3 stall timeout", nil, map[string]string{"FILESTORE_S3_STALL_TIMEOUT": "-1s"}},
		{"negative S3 upload memory", []string{"--s3-upload-memory", "-1MiB"}, nil},
		{"negative database try timeout", nil, map[string]string{"FILESTORE_DB_TRY_TIMEOUT": "-1s"}},
		{"zero shutdown timeout", []string{"--shutdown-timeout", "0"}, nil},
		{"negative shutdown timeout", nil, map[string]string{"FILESTORE_SHUTDOWN_TIMEOUT": "-5s"}},
		{"bad rate env", nil, map[string]string{"FILESTORE_RATE_USER": "fast"}},
		{"bad proxies", []string{"--trusted-proxies", "10.0.0.0/33"}, nil},
		{"bad retention", nil, map[string]string{"FILESTORE_TRASH_RETENTION": "forever"}},
		{"bad log level", []string{"--log-level", "loud"}, nil},
		{"empty database flag", []string{"--database", ""}, map[string]string{"FILESTORE_DATABASE": "postgres://u:p@h/db"}},
		{"empty clamd flag", []string{"--clamd="}, nil},
		{"empty data-dir flag", []string{"--data-dir", ""}, nil},
		{"mem bucket with the default catalogue", []string{"--bucket", "mem://"}, nil},
		{"mem bucket with PostgreSQL", nil, map[string]string{"FILESTORE_BUCKET": "mem://", "FILESTORE_DATABASE": "postgres://u:p@h/db"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := loadConfig(tt.args, envOf(tt.env), io.Discard); !errors.Is(err, errUsage) {
				t.Errorf("err %v, want a usage error", err)
			}
		})
	}
}

// TestSecretWhiteSpace: a --jwt-secret with white space around it (the
// newline a file or a Kubernetes secret ends with) is refused rather than
// used with it, which would refuse the tokens of an issuer without it.
func TestSecretWhiteSpace(t *testing.T) {
	good := strings.Repeat("s", 40)
	tests := []struct {
		secret string
		ok     bool
	}{
		{good, true},
		{good + "\n", false},
		{good + "\r\n", false},
		{" " + good, false},
		{good + "\t", false},
		{"in ner" + good, true},
	}
	for _, tt := range tests {
		c := &config{jwtSecret: tt.secret, dataDir: t.TempDir()}
		got, err := c.secret()
		switch {
		case tt.ok && (err != nil || string(got) != tt.secret):
			t.Errorf("secret(%q) = %q, %v; want it as it is", tt.secret, got, err)
		case !tt.ok && !errors.Is(err, errUsage):
			t.Errorf("secret(%q) = %q, %v; want a usage error", tt.secret, got, err)
		}
	}
}
