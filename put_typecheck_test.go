package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/meta"
)

// typedReader yields prefix, then endless repeats of fill, and counts
// what it handed out.
type typedReader struct {
	prefix, fill string
	read         int64
}

func (r *typedReader) Read(p []byte) (int, error) {
	for i := range p {
		at := r.read + int64(i)
		if at < int64(len(r.prefix)) {
			p[i] = r.prefix[at]
		} else {
			p[i] = r.fill[(at-int64(len(r.prefix)))%int64(len(r.fill))]
		}
	}
	r.read += int64(len(p))
	return len(p), nil
}

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

// TestPutRefusesTypeEarly: content that the extractor's type policy
// refuses (not in the allow list, or not what its name says) fails Put
// with that error after the first HeadSize bytes, on an endless body, and
// leaves nothing behind. Before, Put read (and hashed, scanned and staged)
// the whole content first: 300 MiB in the review, and here it would never
// have ended.
func TestPutRefusesTypeEarly(t *testing.T) {
	tests := []struct {
		name, file, prefix, fill string
		want                     error
	}{
		{"not in the allow list", "notes.txt", "", "plain text, not an image\n", filestore.ErrTypeNotAllowed},
		{"not what its name says", "report.pdf", pngSignature, "\x00", filestore.ErrTypeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			x, err := meta.New(&meta.Options{AllowedTypes: []string{"image/*", "text/*"}})
			if tt.want == filestore.ErrTypeNotAllowed {
				x, err = meta.New(&meta.Options{AllowedTypes: []string{"image/*"}})
			}
			if err != nil {
				t.Fatal(err)
			}
			dbURL, bucketURL := pairURLs(t, "sqlite", "file")
			st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, Extractor: x})
			r := &typedReader{prefix: tt.prefix, fill: tt.fill}
			f, err := st.Put(ctx, "alice", "", tt.file, r, &filestore.PutOptions{MaxSize: 256 << 20})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %+v, %v; want %v", f, err, tt.want)
			}
			if limit := int64(filestore.HeadSize + 1<<20); r.read > limit {
				t.Errorf("Put read %d bytes before refusing, want at most %d", r.read, limit)
			}
			if n := checkInvariants(t, dbURL, bucketURL, true); n != 0 {
				t.Errorf("%d objects after the refusal, want 0", n)
			}
		})
	}
}

// refusingChecker refuses everything in CheckType and nothing in Extract,
// and counts CheckType's calls.
type refusingChecker struct{ checks int }

func (c *refusingChecker) CheckType(context.Context, *filestore.MetaInput) error {
	c.checks++
	return fmt.Errorf("refused by CheckType: %w", filestore.ErrTypeNotAllowed)
}

func (c *refusingChecker) Extract(context.Context, *filestore.MetaInput) (*filestore.Metadata, error) {
	return &filestore.Metadata{ContentType: "application/octet-stream"}, nil
}

// TestPutTypeCheckEverySize: CheckType runs exactly once whatever the
// upload's size: empty, inline, ending on a chunk's end (128 KiB) or not,
// below, at and over HeadSize. Before, an upload that ended on a chunk's
// end below HeadSize (or was empty) was never checked early, and stored
// (found by the review of this session's diff).
func TestPutTypeCheckEverySize(t *testing.T) {
	for _, size := range []int{0, 1, 100 << 10, 128 << 10, 256 << 10, 512<<10 + 1, 896 << 10, filestore.HeadSize, 2 * filestore.HeadSize} {
		x := &refusingChecker{}
		dbURL, bucketURL := pairURLs(t, "sqlite", "file")
		st := openURLs(t, filestore.Options{Database: dbURL, Bucket: bucketURL, Extractor: x})
		f, err := st.Put(context.Background(), "alice", "", "f.bin", strings.NewReader(strings.Repeat("a", size)), nil)
		if x.checks != 1 || !errors.Is(err, filestore.ErrTypeNotAllowed) {
			t.Errorf("size %d: CheckType called %d times, Put = %+v, %v; want once, ErrTypeNotAllowed", size, x.checks, f, err)
		}
		if n := checkInvariants(t, dbURL, bucketURL, true); n != 0 {
			t.Errorf("size %d: %d objects after the refusal, want 0", size, n)
		}
	}
}
