package faults

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/filestore-go/filestore/internal/testenv"
)

// VersitygwVersion is the versitygw release that .ci/services/s3.sh installs.
const VersitygwVersion = "v1.8.0"

// VersitygwPath returns where .ci/services/s3.sh installs versitygw:
// ${TOOLS_DIR:-$HOME/.cache/filestore-tools}/versitygw-v1.8.0/versitygw.
func VersitygwPath() string {
	dir := os.Getenv("TOOLS_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "filestore-tools")
	}
	return filepath.Join(dir, "versitygw-"+VersitygwVersion, "versitygw")
}

// PostgresBinDir returns the bin directory of the newest PostgreSQL under
// /usr/lib/postgresql (Debian's layout), or "" when there is none.
func PostgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		return versionOf(dirs[i]) < versionOf(dirs[j])
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// versionOf returns the major version in /usr/lib/postgresql/N/bin.
func versionOf(binDir string) int {
	n := 0
	for _, c := range filepath.Base(filepath.Dir(binDir)) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// NewS3Server starts a private versitygw for t (data in t.TempDir()) and
// kills it when t ends. It sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// to the server's credentials for the rest of t (so t must not be
// parallel). Without the versitygw binary (see VersitygwPath) it skips t,
// or fails it when CI=true.
func NewS3Server(t testing.TB) *S3Server {
	t.Helper()
	bin := VersitygwPath()
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "versitygw "+VersitygwVersion+" is not installed at "+bin+" (bash .ci/services/s3.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := StartS3(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("versitygw: %v", err)
		}
	})
	t.Setenv("AWS_ACCESS_KEY_ID", S3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", S3SecretKey)
	return s
}

// NewPostgresServer starts a private PostgreSQL cluster for t and removes
// it when t ends. Without PostgreSQL's server binaries (see PostgresBinDir)
// it skips t, or fails it when CI=true.
func NewPostgresServer(t testing.TB) *PostgresServer {
	t.Helper()
	bin := PostgresBinDir()
	if bin == "" {
		testenv.Missing(t, "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (bash .ci/services/postgres.sh installs them)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPostgres(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("postgres: %v", err)
		}
	})
	return p
}
