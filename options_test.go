package filestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptrace/bun"
	"gocloud.dev/blob/memblob"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/storage"
)

// TestOpenInvalidOptions: options Open cannot use fail with an error
// wrapping ErrInvalidArgument (and, for a bucket URL, storage.ErrInvalidURL)
// that names what is wrong. Before, a misspelt ScanPolicy was taken for
// fail-closed by Put and for fail-open by Ping, an unknown ScanOversize
// was taken for OversizeReject, and the URLs' errors matched no sentinel.
func TestOpenInvalidOptions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		give    filestore.Options // Database and Bucket default to a fresh SQLite file and mem://
		wantErr []error
		wantMsg string
	}{
		{
			name:    "unsupported database",
			give:    filestore.Options{Database: "mysql://x"},
			wantErr: []error{filestore.ErrInvalidArgument},
			wantMsg: `filestore: open database: filestore: invalid argument: dedup: invalid database URL: unsupported scheme in "mysql://x" (want sqlite:// or postgres://)`,
		},
		{
			name:    "sqlite without a path",
			give:    filestore.Options{Database: "sqlite://"},
			wantErr: []error{filestore.ErrInvalidArgument},
			wantMsg: `filestore: open database: filestore: invalid argument: dedup: invalid database URL: sqlite:// needs a path`,
		},
		{
			name:    "bad pool size",
			give:    filestore.Options{Database: "postgres://x@127.0.0.1:1/x?pool_max_conns=0"},
			wantErr: []error{filestore.ErrInvalidArgument},
			wantMsg: `filestore: open database: filestore: invalid argument: dedup: invalid database URL: postgres url: pool_max_conns "0" is not a positive number`,
		},
		{
			name:    "unsupported bucket",
			give:    filestore.Options{Bucket: "ftp://x"},
			wantErr: []error{filestore.ErrInvalidArgument, storage.ErrInvalidURL},
			wantMsg: `filestore: open bucket: filestore: invalid argument: storage: invalid bucket URL: unsupported scheme in "ftp://x" (want file, mem or s3)`,
		},
		{
			name:    "misspelt scan policy",
			give:    filestore.Options{ScanPolicy: "fail_open"},
			wantErr: []error{filestore.ErrInvalidArgument},
			wantMsg: `filestore: invalid argument: Options.ScanPolicy "fail_open" is neither "fail-closed" nor "fail-open"`,
		},
		{
			name:    "scan policy in capitals",
			give:    filestore.Options{ScanPolicy: "FAIL-OPEN"},
			wantErr: []error{filestore.ErrInvalidArgument},
			wantMsg: `filestore: invalid argument: Options.ScanPolicy "FAIL-OPEN" is neither "fail-closed" nor "fail-open"`,
		},
		{
			name:    "unknown oversize rule",
			give:    filestore.Options{ScanOversize: "maybe"},
			wantErr: []error{filestore.ErrInvalidArgument},
			wantMsg: `filestore: invalid argument: Options.ScanOversize "maybe" is neither "reject" nor "unscanned"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.give
			if opts.Database == "" {
				opts.Database = "sqlite://" + filepath.Join(t.TempDir(), "filestore.db")
			}
			if opts.Bucket == "" {
				opts.Bucket = "mem://"
			}
			opts.Logger = quietLogger()
			st, err := filestore.Open(ctx, opts)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("Open: %v; want it to wrap %v", err, want)
				}
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Open: %q\nwant    %q", err, tt.wantMsg)
			}
		})
	}
}

// TestOpenInvalidURLCreatesNothing: a database or bucket URL that Open
// refuses leaves nothing on disk, whichever of the two is wrong: neither
// the SQLite file nor the local bucket's directory. Before, Open made the
// catalogue before it looked at the bucket URL, and a parameter that
// gocloud's S3 opener refuses left a new filestore.db behind.
func TestOpenInvalidURLCreatesNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		database string // "" for a SQLite file in the test's directory, "?…" for one with these parameters
		bucket   string // "" for a directory in the test's directory
		wantErr  error
	}{
		{"s3 parameter unknown", "", "s3://b?region=us-east-1&bogus=1", storage.ErrInvalidURL},
		{"file parameter unknown", "", "file:///nowhere/x?bogus=1", storage.ErrInvalidURL},
		{"postgres pool size", "postgres://x@127.0.0.1:1/x?pool_max_conns=0", "", dedup.ErrInvalidURL},
		{"postgres syntax", "postgres://x@127.0.0.1:1/x?connect_timeout=soon", "", dedup.ErrInvalidURL},
		{"database scheme", "mysql://x", "", dedup.ErrInvalidURL},
		{"sqlite parameter unknown", "?_txlock=deferred", "", dedup.ErrInvalidURL},
		{"sqlite pragma unknown", "?_pragma=synchronus(NORMAL)", "", dedup.ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := filestore.Options{Database: tt.database, Bucket: tt.bucket, Logger: quietLogger()}
			if opts.Database == "" || strings.HasPrefix(opts.Database, "?") {
				opts.Database = "sqlite://" + filepath.Join(dir, "catalog", "filestore.db") + opts.Database
			}
			if opts.Bucket == "" {
				opts.Bucket = "file://" + filepath.Join(dir, "objects")
			}
			st, err := filestore.Open(ctx, opts)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, filestore.ErrInvalidArgument) || !errors.Is(err, tt.wantErr) {
				t.Errorf("Open: %v; want it to wrap ErrInvalidArgument and %v", err, tt.wantErr)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("after the refusal the directory holds %v, want nothing", entries)
			}
		})
	}
}

// TestNewInvalidOptions: New refuses what it cannot use with an error
// wrapping ErrInvalidArgument, before touching the database or bucket.
func TestNewInvalidOptions(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	tests := []struct {
		name    string
		nilArgs bool
		give    filestore.Options
		wantMsg string
	}{
		{"no database or bucket", true, filestore.Options{}, "filestore: invalid argument: New needs a database and a bucket"},
		{"misspelt scan policy", false, filestore.Options{ScanPolicy: "fail_open"}, `filestore: invalid argument: Options.ScanPolicy "fail_open" is neither "fail-closed" nor "fail-open"`},
		{"unknown oversize rule", false, filestore.Options{ScanOversize: "maybe"}, `filestore: invalid argument: Options.ScanOversize "maybe" is neither "reject" nor "unscanned"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A database that cannot be asked: New must fail before it does.
			db := closedDB(t)
			b := bucket
			if tt.nilArgs {
				db, b = nil, nil
			}
			st, err := filestore.New(ctx, db, b, tt.give)
			if err == nil {
				st.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, filestore.ErrInvalidArgument) || err.Error() != tt.wantMsg {
				t.Errorf("New: %q; want %q, wrapping ErrInvalidArgument", err, tt.wantMsg)
			}
		})
	}
}

// closedDB returns a SQLite catalogue's database, closed: any query fails.
func closedDB(t *testing.T) *bun.DB {
	t.Helper()
	db, err := dedup.OpenDB(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return db
}
