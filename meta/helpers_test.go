package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/filestore-go/filestore"
)

// corpusDir returns the exif-samples directory of the shared corpus:
// $FILESTORE_CORPUS (the corpus directory, or exif-samples itself), else
// ../shared/corpus from the module root. Without it the test is skipped,
// except under CI=true, where it fails.
func corpusDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("FILESTORE_CORPUS")
	if base == "" {
		base = filepath.Join("..", "..", "shared", "corpus")
	}
	for _, dir := range []string{filepath.Join(base, "exif-samples"), base} {
		if _, err := os.Stat(filepath.Join(dir, "dump")); err == nil {
			return dir
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("exif-samples corpus not found under %s (set FILESTORE_CORPUS); CI=true requires it", base)
	}
	t.Skipf("exif-samples corpus not found under %s; set FILESTORE_CORPUS to run this test", base)
	return ""
}

// input is a MetaInput as Put makes it: Head is the first HeadSize bytes,
// Content reads all of data.
func input(name string, data []byte) *filestore.MetaInput {
	return &filestore.MetaInput{
		Name:    name,
		Head:    data[:min(len(data), filestore.HeadSize)],
		Size:    int64(len(data)),
		Content: bytes.NewReader(data),
	}
}

// newTestExtractor makes an Extractor that logs into a recorder.
func newTestExtractor(t testing.TB, opts *Options) (*Extractor, *recorder) {
	t.Helper()
	rec := &recorder{}
	if opts == nil {
		opts = &Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(rec)
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, rec
}

// logged is one log record, reduced to what tests compare.
type logged struct {
	Level slog.Level
	Msg   string
	Stage string
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu      sync.Mutex
	records []logged
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	l := logged{Level: rec.Level, Msg: rec.Message}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "stage" {
			l.Stage = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, l)
	return nil
}

// warnings returns the records at level Warn and above.
func (r *recorder) warnings() []logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logged
	for _, l := range r.records {
		if l.Level >= slog.LevelWarn {
			out = append(out, l)
		}
	}
	return out
}

// testdataFiles lists the images committed in testdata.
func testdataFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.jpg", "*.tiff", "*.heif"} {
		m, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	if len(files) == 0 {
		t.Fatal("no testdata images")
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// TIFF field types.
const (
	tByte      = 1
	tASCII     = 2
	tShort     = 3
	tLong      = 4
	tRational  = 5
	tSRational = 10
)

// ifdEntry is one entry of a hand-built IFD; value is the raw 4-byte
// field (an inline value or an offset).
type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    uint32
}

// ifdSpec places an IFD at off. count, when set, is written instead of
// len(entries).
type ifdSpec struct {
	off     uint32
	count   *uint16
	entries []ifdEntry
	next    uint32
}

// buildTIFF builds a little-endian TIFF-structured blob of the given size
// with IFD0 at first, the IFDs and the data blocks at their offsets.
func buildTIFF(size int, first uint32, ifds []ifdSpec, data map[uint32][]byte) []byte {
	b := make([]byte, size)
	copy(b, "II*\x00")
	binary.LittleEndian.PutUint32(b[4:], first)
	for off, d := range data {
		copy(b[off:], d)
	}
	for _, ifd := range ifds {
		n := uint16(len(ifd.entries))
		if ifd.count != nil {
			n = *ifd.count
		}
		at := ifd.off
		binary.LittleEndian.PutUint16(b[at:], n)
		at += 2
		for _, e := range ifd.entries {
			binary.LittleEndian.PutUint16(b[at:], e.tag)
			binary.LittleEndian.PutUint16(b[at+2:], e.typ)
			binary.LittleEndian.PutUint32(b[at+4:], e.count)
			binary.LittleEndian.PutUint32(b[at+8:], e.value)
			at += 12
		}
		if int(at)+4 <= size {
			binary.LittleEndian.PutUint32(b[at:], ifd.next)
		}
	}
	return b
}

// rationals encodes numerator/denominator pairs.
func rationalBytes(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

// inline packs up to 4 bytes into an entry's value field.
func inline(b []byte) uint32 {
	var v [4]byte
	copy(v[:], b)
	return binary.LittleEndian.Uint32(v[:])
}

// asJPEG wraps a TIFF-structured EXIF blob in a JPEG APP1 segment.
func asJPEG(blob []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xd8, 0xff, 0xe1})
	n := 2 + 6 + len(blob)
	b.Write([]byte{byte(n >> 8), byte(n)})
	b.WriteString("Exif\x00\x00")
	b.Write(blob)
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	ra    io.ReaderAt
	mu    sync.Mutex
	calls int
	bytes int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.calls++
	c.bytes += int64(len(p))
	c.mu.Unlock()
	return c.ra.ReadAt(p, off)
}

// sparseFile is a large synthetic file: zeros, except for the parts given.
type sparseFile struct {
	size  int64
	parts map[int64][]byte
}

func (s *sparseFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	for at, part := range s.parts {
		lo, hi := max(at, off), min(at+int64(len(part)), off+int64(n))
		if lo < hi {
			copy(p[lo-off:hi-off], part[lo-at:hi-at])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
