package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	tenantctx "github.com/filestore-go/filestore/internal/tenant"
)

// paceScanner stands in for a scanner that a client's pace leaves without a
// verdict. A Scan while giveUp is set (the scan of the stream) reads a few
// bytes and ends with ErrScanIncomplete; any other reads the whole content,
// records its SHA-256 and returns res, err.
type paceScanner struct {
	mu     sync.Mutex
	giveUp bool
	res    *filestore.ScanResult
	err    error
	seen   []string
	// tenants is the tenant of each Scan's context ("-" for none).
	tenants []string
}

func (p *paceScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	p.mu.Lock()
	giveUp := p.giveUp
	p.giveUp = false
	tenant, ok := tenantctx.From(ctx)
	if !ok {
		tenant = "-"
	}
	p.tenants = append(p.tenants, tenant)
	p.mu.Unlock()
	if giveUp {
		if _, err := r.Read(make([]byte, 10)); err != nil && err != io.EOF {
			return nil, err
		}
		return nil, fmt.Errorf("pace: %w", filestore.ErrScanIncomplete)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, hex.EncodeToString(h.Sum(nil)))
	return p.res, p.err
}

// TestPutRescansIncompleteScan: when the scan of the stream ends with
// ErrScanIncomplete, Put scans the complete content again after the pass,
// from wherever the pass left it (the head, inline content, the staged
// object, the stored object whose digest or size was announced), and that
// verdict decides: clean is stored clean, infected is refused and leaves no
// bytes, and a scanner that is unavailable (or incomplete again) follows
// the scan policy.
func TestPutRescansIncompleteScan(t *testing.T) {
	ctx := context.Background()
	stored := filestoretest.Content(7, 2<<20) // alice's, at the start of every case
	paths := []struct {
		name string
		body []byte
		opts *filestore.PutOptions
	}{
		{"inline", []byte("small and slow"), nil},
		{"whole in the head", filestoretest.Content(8, 200<<10), nil},
		{"staged", filestoretest.Content(9, 3<<20), nil},
		{"stored, digest announced", stored, &filestore.PutOptions{SHA256: hexSum(stored)}},
		{"stored, size declared", stored, &filestore.PutOptions{Size: int64(len(stored))}},
	}
	unavailable := fmt.Errorf("pace: %w", filestore.ErrScannerUnavailable)
	incomplete := fmt.Errorf("pace: %w", filestore.ErrScanIncomplete)
	outcomes := []struct {
		name     string
		policy   filestore.ScanPolicy
		res      *filestore.ScanResult
		err      error
		wantErr  error                // nil: stored with wantScan
		wantScan filestore.ScanStatus // and Engine "pace" when clean
	}{
		{"clean, fail-closed", filestore.FailClosed, &filestore.ScanResult{Engine: "pace"}, nil, nil, filestore.ScanClean},
		{"clean, fail-open", filestore.FailOpen, &filestore.ScanResult{Engine: "pace"}, nil, nil, filestore.ScanClean},
		{"infected, fail-open", filestore.FailOpen, &filestore.ScanResult{Engine: "pace", Signature: "Pace.Test"}, nil, filestore.ErrInfected, ""},
		{"unavailable, fail-open", filestore.FailOpen, nil, unavailable, nil, filestore.ScanUnscanned},
		{"unavailable, fail-closed", filestore.FailClosed, nil, unavailable, filestore.ErrScannerUnavailable, ""},
		{"incomplete again, fail-open", filestore.FailOpen, nil, incomplete, nil, filestore.ScanUnscanned},
		{"incomplete again, fail-closed", filestore.FailClosed, nil, incomplete, filestore.ErrScannerUnavailable, ""},
	}
	for _, p := range paths {
		for _, o := range outcomes {
			t.Run(p.name+"/"+o.name, func(t *testing.T) {
				dir := t.TempDir()
				sc := &paceScanner{res: &filestore.ScanResult{Engine: "pace"}}
				blobs := filepath.Join(dir, "blobs")
				st, err := filestore.Open(ctx, filestore.Options{
					Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + blobs,
					Logger: quietLogger(), Scanner: sc, ScanPolicy: o.policy,
				})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if _, err := st.Put(ctx, "alice", "", "stored.bin", bytes.NewReader(stored), nil); err != nil {
					t.Fatalf("Put of the stored content: %v", err)
				}
				sc.giveUp, sc.res, sc.err = true, o.res, o.err

				f, err := st.Put(ctx, "alice", "", "slow.bin", bytes.NewReader(p.body), p.opts)
				if diff := cmp.Diff([]string{hexSum(stored), hexSum(p.body)}, sc.seen); diff != "" {
					t.Errorf("what the complete scans read (-want +got):\n%s", diff)
				}
				if o.wantErr != nil {
					if !errors.Is(err, o.wantErr) {
						t.Fatalf("Put = %+v, %v; want %v", f, err, o.wantErr)
					}
					if s := stats(t, st); s.Files != 1 || s.Objects != 1 {
						t.Errorf("Stats %+v, want the 1 file of 1 object from before", s)
					}
					if _, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
						t.Fatalf("Collect: %v", err)
					}
					if files := filestoretest.BucketFiles(t, blobs); len(files) != 1 {
						t.Errorf("bucket holds %q, want only the stored object", files)
					}
					return
				}
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				engine := ""
				if o.wantScan == filestore.ScanClean {
					engine = "pace"
				}
				if got := (filestore.ScanInfo{Status: f.Scan.Status, Engine: f.Scan.Engine}); got != (filestore.ScanInfo{Status: o.wantScan, Engine: engine}) {
					t.Errorf("Put: File.Scan = %+v, want status %q, engine %q", f.Scan, o.wantScan, engine)
				}
				if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, p.body) {
					t.Errorf("reads back %d bytes that differ from the upload", len(got))
				}
			})
		}
	}
}

// endlessReader gives zero bytes for ever and counts them.
type endlessReader struct{ n int64 }

func (r *endlessReader) Read(p []byte) (int, error) {
	clear(p)
	r.n += int64(len(p))
	return len(p), nil
}

// earlyScanner ends every scan at once, reading nothing, with err.
type earlyScanner struct{ err error }

func (s earlyScanner) Scan(context.Context, io.Reader) (*filestore.ScanResult, error) {
	return nil, s.err
}

// TestPutStopsWhenScanRefuses: a scan that ends before the content with an
// outcome that refuses the upload whatever follows (over the scanner's
// limit under OversizeReject, the scanner down under fail-closed) stops the
// pass: Put returns that refusal without reading the rest of the body,
// where it used to read and stage the whole upload first. An outcome that
// lets the upload go on (fail-open) reads it to its end.
func TestPutStopsWhenScanRefuses(t *testing.T) {
	ctx := context.Background()
	const maxSize = 1 << 30
	tests := []struct {
		name    string
		policy  filestore.ScanPolicy
		err     error
		wantErr error
	}{
		{"over the scanner's limit", filestore.FailOpen, fmt.Errorf("early: %w", filestore.ErrScanLimit), filestore.ErrTooLarge},
		{"scanner down, fail-closed", filestore.FailClosed, fmt.Errorf("early: %w", filestore.ErrScannerUnavailable), filestore.ErrScannerUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := filestore.Open(ctx, filestore.Options{
				Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
				Logger: quietLogger(), Scanner: earlyScanner{tt.err}, ScanPolicy: tt.policy,
				ScanOversize: filestore.OversizeReject, MaxSize: maxSize,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			r := &endlessReader{}
			_, err = st.Put(ctx, "alice", "", "big.bin", r, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %v, want %v", err, tt.wantErr)
			}
			// A generous bound: the scan's end is seen within a few chunks.
			if r.n >= maxSize/4 {
				t.Errorf("Put read %d bytes of the body before refusing, want far fewer than %d", r.n, maxSize/4)
			}
		})
	}
}

// TestPutRescanStoredCopyOnEveryBucket: the scan after the pass of an
// upload that matched stored content (size declared) reads that content
// again on every bucket. On S3 it used to read the copy the comparison had
// opened under the pass's context, which had ended: the upload failed with
// ErrUnavailable ("GetObject, context canceled").
func TestPutRescanStoredCopyOnEveryBucket(t *testing.T) {
	for _, bucket := range []string{"file", "s3"} {
		t.Run(bucket, func(t *testing.T) {
			ctx := context.Background()
			dbURL, bucketURL := pairURLs(t, "sqlite", bucket)
			sc := &paceScanner{res: &filestore.ScanResult{Engine: "pace"}}
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, Scanner: sc})
			data := filestoretest.Content(7, 2<<20)
			if _, err := st.Put(ctx, "alice", "", "stored.bin", bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
			sc.mu.Lock()
			sc.giveUp, sc.seen = true, nil
			sc.mu.Unlock()
			f, err := st.Put(ctx, "alice", "", "slow.bin", bytes.NewReader(data), &filestore.PutOptions{Size: int64(len(data))})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if f.Scan.Status != filestore.ScanClean || f.Scan.Engine != "pace" {
				t.Errorf("File.Scan = %+v, want clean by pace", f.Scan)
			}
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if want := []string{hexSum(data)}; !slices.Equal(sc.seen, want) {
				t.Errorf("the second scan read content %v, want %v", sc.seen, want)
			}
		})
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPutEarlyScanEndLogsOnce: under fail-open, a scan that ends early
// without a verdict lets the upload go on, and "stored unscanned" is
// logged once when it is stored, never for an upload then refused for
// another reason (here its size).
func TestPutEarlyScanEndLogsOnce(t *testing.T) {
	ctx := context.Background()
	const stored = "filestore: scanner unavailable, stored unscanned (fail-open)"
	for _, tt := range []struct {
		name    string
		body    io.Reader
		wantErr error
		want    int // log lines saying it was stored unscanned
	}{
		{"refused for its size", &endlessReader{}, filestore.ErrTooLarge, 0},
		{"stored", bytes.NewReader(filestoretest.Content(3, 3<<20)), nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var logs lockedBuffer
			st, err := filestore.Open(ctx, filestore.Options{
				Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
				Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
				Scanner: earlyScanner{fmt.Errorf("down: %w", filestore.ErrScannerUnavailable)}, ScanPolicy: filestore.FailOpen,
				MaxSize: 4 << 20,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			f, err := st.Put(ctx, "alice", "", "big.bin", tt.body, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %v, %v; want %v", f, err, tt.wantErr)
			}
			if err == nil && f.Scan.Status != filestore.ScanUnscanned {
				t.Errorf("File.Scan = %+v, want unscanned", f.Scan)
			}
			if got := strings.Count(logs.String(), stored); got != tt.want {
				t.Errorf("%d lines %q, want %d; log:\n%s", got, stored, tt.want, logs.String())
			}
		})
	}
}

// TestPutScansAsOwner: both scans of an upload, of the stream and of the
// complete content after it, run under the owner's tenant, so that a
// scanner's per-tenant share (scan.Options.MaxPerTenant) counts them as the
// owner's.
func TestPutScansAsOwner(t *testing.T) {
	dir := t.TempDir()
	sc := &paceScanner{giveUp: true, res: &filestore.ScanResult{Engine: "pace"}}
	st, err := filestore.Open(t.Context(), filestore.Options{
		Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
		Logger: quietLogger(), Scanner: sc,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Put(t.Context(), "bob", "", "slow.txt", strings.NewReader("slow notes"), nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bob", "bob"}, sc.tenants); diff != "" {
		t.Errorf("the scans' tenants (-want +got):\n%s", diff)
	}
}
