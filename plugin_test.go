package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
)

// panicScanner panics in Scan, as a third-party scanner with a bug might.
// With incompleteFirst, its first Scan (the scan of the stream) ends with
// ErrScanIncomplete instead, so that the panic comes in the rescan.
type panicScanner struct {
	mu              sync.Mutex
	incompleteFirst bool
}

func (p *panicScanner) Scan(context.Context, io.Reader) (*filestore.ScanResult, error) {
	p.mu.Lock()
	first := p.incompleteFirst
	p.incompleteFirst = false
	p.mu.Unlock()
	if first {
		return nil, fmt.Errorf("panicky: %w", filestore.ErrScanIncomplete)
	}
	panic("scanner bug")
}

// errorRecorder keeps the attributes of the error-level records logged
// with msg.
type errorRecorder struct {
	msg   string
	mu    sync.Mutex
	attrs []map[string]string
}

func (e *errorRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (e *errorRecorder) WithAttrs([]slog.Attr) slog.Handler       { return e }
func (e *errorRecorder) WithGroup(string) slog.Handler            { return e }
func (e *errorRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level != slog.LevelError || r.Message != e.msg {
		return nil
	}
	a := map[string]string{}
	r.Attrs(func(at slog.Attr) bool {
		a[at.Key] = at.Value.String()
		return true
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attrs = append(e.attrs, a)
	return nil
}

// TestScannerPanics: a Scanner whose Scan panics, in the scan of the stream
// (a goroutine of Put's, where no caller's recover could catch it) or in
// the scan of the complete content after an incomplete one, does not end
// the process: the panic is an error of the scanner's, logged once at
// error level with its value and stack, and the scan policy applies to it
// as to a scanner that cannot answer.
func TestScannerPanics(t *testing.T) {
	ctx := context.Background()
	const panicValue = "scanner bug"
	tests := []struct {
		name            string
		incompleteFirst bool
		policy          filestore.ScanPolicy
		wantErr         error // nil: stored unscanned
		wantFiles       int64
	}{
		{"stream, fail-closed", false, filestore.FailClosed, filestore.ErrScannerUnavailable, 0},
		{"stream, fail-open", false, filestore.FailOpen, nil, 1},
		{"rescan, fail-closed", true, filestore.FailClosed, filestore.ErrScannerUnavailable, 0},
		{"rescan, fail-open", true, filestore.FailOpen, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := &errorRecorder{msg: "filestore: scanner panicked"}
			st := openURLs(t, filestore.Options{
				Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + filepath.Join(dir, "blobs"),
				Logger: slog.New(rec), Scanner: &panicScanner{incompleteFirst: tt.incompleteFirst}, ScanPolicy: tt.policy,
			})
			f, err := st.Put(ctx, "alice", "", "x.txt", strings.NewReader("hello"), nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %+v, %v; want %v", f, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "scanner panicked: "+panicValue) {
				t.Errorf("Put: %v; want it to say the scanner panicked, and with what", err)
			}
			if err == nil && f.Scan.Status != filestore.ScanUnscanned {
				t.Errorf("Put: scan status %q, want %q", f.Scan.Status, filestore.ScanUnscanned)
			}
			if s := stats(t, st); s.Files != tt.wantFiles || s.Objects != tt.wantFiles {
				t.Errorf("Stats %+v, want %d file(s) of %d object(s)", s, tt.wantFiles, tt.wantFiles)
			}
			if len(rec.attrs) != 1 {
				t.Fatalf("%d error records %q, want 1", len(rec.attrs), rec.msg)
			}
			if got := rec.attrs[0]["panic"]; got != panicValue {
				t.Errorf("logged panic %q, want %q", got, panicValue)
			}
			if stack := rec.attrs[0]["stack"]; !strings.Contains(stack, "filestore_test.(*panicScanner).Scan") {
				t.Errorf("logged stack does not show the scanner:\n%s", stack)
			}
		})
	}
}

// nothingExtractor returns no metadata and no error.
type nothingExtractor struct{}

func (nothingExtractor) Extract(context.Context, *filestore.MetaInput) (*filestore.Metadata, error) {
	return nil, nil
}

// TestExtractorReturnsNothing: a MetaExtractor that returns neither
// metadata nor an error fails the upload, as a scanner that returns
// neither a verdict nor an error does under fail-closed; nothing is
// stored. Before, Put panicked on the nil *Metadata.
func TestExtractorReturnsNothing(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{5, 3 << 20} { // inline, and staged in the bucket
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			blobs := filepath.Join(dir, "blobs")
			st := openURLs(t, filestore.Options{
				Database: "sqlite://" + filepath.Join(dir, "filestore.db"), Bucket: "file://" + blobs,
				Extractor: nothingExtractor{},
			})
			f, err := st.Put(ctx, "alice", "", "x.bin", strings.NewReader(string(filestoretest.Content(1, size))), nil)
			if err == nil || err.Error() != "filestore: put: the metadata extractor returned no metadata and no error" {
				t.Fatalf("Put = %+v, %v; want the extractor's missing metadata", f, err)
			}
			if diff := cmp.Diff(filestore.Stats{}, stats(t, st)); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if files := filestoretest.BucketFiles(t, blobs); len(files) != 0 {
				t.Errorf("bucket holds %q, want nothing", files)
			}
		})
	}
}
