package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/storage"
)

// openBackends are the backends of Bucket.Open, with whether Open hands out
// the object's *os.File.
var openBackends = []struct {
	name     string
	url      func(t *testing.T) string
	wantFile bool
}{
	{"mem", backends[0].url, false},
	{"file", backends[1].url, true},
	{"file with prefix", func(t *testing.T) string { return "file://" + t.TempDir() + "?prefix=tenant%2F" }, true},
	{"s3", backends[2].url, false},
}

// forEachOpenBackend runs fn in a subtest per backend of openBackends, each
// with a fresh bucket.
func forEachOpenBackend(t *testing.T, fn func(t *testing.T, b *storage.Bucket, wantFile bool)) {
	t.Helper()
	for _, be := range openBackends {
		t.Run(be.name, func(t *testing.T) {
			b, err := storage.Open(t.Context(), be.url(t), &storage.Options{
				Retry:  retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond},
				NoSync: true,
			})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			fn(t, b, be.wantFile)
		})
	}
}

func TestOpenObjectReadsExactBytes(t *testing.T) {
	sizes := []int{0, 1, 4096, 100_003}
	forEachOpenBackend(t, func(t *testing.T, b *storage.Bucket, wantFile bool) {
		for i, size := range sizes {
			want := content(size, uint64(100+i))
			key := b.NewKey()
			put(t, b, key, want, 10_000)
			r, err := b.Open(t.Context(), key)
			if err != nil {
				t.Fatalf("Open(%d bytes): %v", size, err)
			}
			if _, isFile := r.(*os.File); isFile != wantFile {
				t.Errorf("Open(%d bytes) returned a %T; *os.File: %v, want %v", size, r, isFile, wantFile)
			}
			if err := iotest.TestReader(r, want); err != nil {
				t.Errorf("iotest.TestReader(%d bytes): %v", size, err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
}

// randomSteps returns n random seeks within an object of size bytes (from
// every whence) each followed by a read. gocloud's blob.Reader clamps seeks
// beyond the end and resets negative ones to 0, unlike bytes.Reader and
// *os.File, so the steps stay within the object (as http.ServeContent's do).
func randomSteps(seed uint64, size int64, n int) []step {
	r := rand.New(rand.NewPCG(seed, 1))
	var steps []step
	pos := int64(0)
	for range n {
		var s step
		switch r.IntN(3) {
		case 0:
			s = step{io.SeekStart, r.Int64N(size + 1), 0}
			pos = s.off
		case 1:
			s = step{io.SeekCurrent, r.Int64N(size+1) - pos, 0}
			pos += s.off
		case 2:
			s = step{io.SeekEnd, -r.Int64N(size + 1), 0}
			pos = size + s.off
		}
		read := step{-1, 0, r.IntN(10_000)}
		pos = min(pos+int64(read.n), size)
		steps = append(steps, s, read)
	}
	return steps
}

func TestOpenObjectSeekMatchesBytesReader(t *testing.T) {
	const size = 300_000
	data := content(size, 9)
	tests := []struct {
		name  string
		steps []step
	}{
		{"size then rewind (http.ServeContent)", []step{{io.SeekEnd, 0, 0}, {io.SeekStart, 0, 0}, {-1, 0, 1000}}},
		{"4KiB range", []step{{io.SeekEnd, 0, 0}, {io.SeekStart, 0, 0}, {io.SeekStart, 131_072, 0}, {-1, 0, 4096}}},
		{"at end", []step{{io.SeekEnd, 0, 0}, {-1, 0, 10}}},
		{"read across the end", []step{{io.SeekEnd, -100, 0}, {-1, 0, 1000}, {-1, 0, 10}}},
		{"random 1", randomSteps(1, size, 100)},
		{"random 2", randomSteps(2, size, 100)},
		{"random 3", randomSteps(3, size, 100)},
	}
	forEachOpenBackend(t, func(t *testing.T, b *storage.Bucket, _ bool) {
		key := b.NewKey()
		put(t, b, key, data, 64<<10)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sameAsBytesReader(t, data, tt.steps, func() (io.ReadSeekCloser, error) { return b.Open(t.Context(), key) })
			})
		}
	})
}

// TestOpenObjectLocalSeekOutOfRange: a local object's reader also matches
// bytes.Reader where gocloud's does not: seeks beyond the end, and negative
// seeks (an error that leaves the offset as it was).
func TestOpenObjectLocalSeekOutOfRange(t *testing.T) {
	const size = 50_000
	data := content(size, 11)
	tests := []struct {
		name  string
		steps []step
	}{
		{"past the end", []step{{io.SeekStart, size + 5, 0}, {-1, 0, 10}, {io.SeekCurrent, -10, 0}, {-1, 0, 10}}},
		{"past the end from the end", []step{{io.SeekEnd, 7, 0}, {io.SeekCurrent, 0, 0}, {-1, 0, 1}}},
		{"negative is an error", []step{{-1, 0, 10}, {io.SeekStart, -1, 0}, {-1, 0, 10}}},
		{"negative relative", []step{{io.SeekStart, 100, 0}, {io.SeekCurrent, -101, 0}, {-1, 0, 10}}},
	}
	b, err := storage.Open(t.Context(), "file://"+t.TempDir(), &storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	key := b.NewKey()
	put(t, b, key, data, 1<<20)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameAsBytesReader(t, data, tt.steps, func() (io.ReadSeekCloser, error) { return b.Open(t.Context(), key) })
		})
	}
}

// errClass is how a test sees an error of Open or NewReader.
type errClass struct {
	Nil, NotFound, InvalidKey, Canceled bool
}

func classify(err error) errClass {
	return errClass{
		Nil:        err == nil,
		NotFound:   errors.Is(err, storage.ErrNotFound),
		InvalidKey: errors.Is(err, storage.ErrInvalidKey),
		Canceled:   errors.Is(err, context.Canceled),
	}
}

func TestOpenObjectErrors(t *testing.T) {
	var (
		ok         = errClass{Nil: true}
		notFound   = errClass{NotFound: true}
		invalidKey = errClass{InvalidKey: true}
		canceled   = errClass{Canceled: true}
	)
	forEachOpenBackend(t, func(t *testing.T, b *storage.Bucket, _ bool) {
		key := b.NewKey()
		put(t, b, key, []byte("hello"), 5)
		gone := b.NewKey()
		put(t, b, gone, []byte("bye"), 5)
		if err := b.Delete(t.Context(), gone); err != nil {
			t.Fatal(err)
		}
		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		tests := []struct {
			name string
			ctx  context.Context
			key  string
			want errClass
		}{
			{"present", t.Context(), key, ok},
			{"never written", t.Context(), b.NewKey(), notFound},
			{"deleted", t.Context(), gone, notFound},
			// On a local bucket these are a directory, and a path through
			// a file: neither is an object.
			{"key directory", t.Context(), key[:4], notFound},
			{"cancelled ctx", cancelled, key, canceled},
			{"invalid key and cancelled ctx", cancelled, "o/../x", invalidKey},
			{"empty key", t.Context(), "", invalidKey},
			{"outside the key space", t.Context(), "x/ab/cd", invalidKey},
			{"dot dot", t.Context(), "o/../../etc/passwd", invalidKey},
			{"dot", t.Context(), "o/./" + key[2:], invalidKey},
			{"empty segment", t.Context(), "o//" + key[2:], invalidKey},
			{"absolute", t.Context(), "/" + key, invalidKey},
			{"trailing slash", t.Context(), key + "/", invalidKey},
			{"backslash", t.Context(), `o\..\x`, invalidKey},
			{"NUL", t.Context(), key + "\x00", invalidKey},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, err := b.Open(tt.ctx, tt.key)
				if r != nil {
					defer r.Close()
				}
				if diff := cmp.Diff(tt.want, classify(err)); diff != "" {
					t.Errorf("Open(%q) = %v (-want +got):\n%s", tt.key, err, diff)
				}
				if (r == nil) == (err == nil) {
					t.Errorf("Open(%q) = %v, %v: want exactly one of them", tt.key, r, err)
				}
			})
		}
	})
}

// TestOpenObjectAgreesWithNewReader: on a local bucket, Open fails exactly
// when NewReader does, with the same sentinel, also for keys that only a
// local bucket treats specially.
func TestOpenObjectAgreesWithNewReader(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.Open(t.Context(), "file://"+dir, &storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	key := b.NewKey()
	put(t, b, key, []byte("hello"), 5)
	// A file where fileblob would look for metadata, and a file standing in
	// for a key directory.
	attrs := key + ".attrs"
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(attrs)), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "o", "zz"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{key, key[:4], "o", attrs, "o/zz", "o/zz/x", "o/yy/x", key + ".1234.tmp", ""}
	for _, k := range keys {
		t.Run(k, func(t *testing.T) {
			r1, err1 := b.NewReader(t.Context(), k)
			r2, err2 := b.Open(t.Context(), k)
			var got1, got2 []byte
			if err1 == nil {
				got1, _ = io.ReadAll(r1)
				r1.Close()
			}
			if err2 == nil {
				got2, _ = io.ReadAll(r2)
				r2.Close()
			}
			if diff := cmp.Diff(classify(err1), classify(err2)); diff != "" {
				t.Errorf("NewReader(%q) = %v, Open = %v (-NewReader +Open):\n%s", k, err1, err2, diff)
			}
			if !bytes.Equal(got1, got2) {
				t.Errorf("NewReader(%q) read %q, Open %q", k, got1, got2)
			}
		})
	}
}

// TestOpenObjectOutlivesDelete: an opened local object still reads whole
// after a concurrent Delete (as a purge during a download does).
func TestOpenObjectOutlivesDelete(t *testing.T) {
	b, err := storage.Open(t.Context(), "file://"+t.TempDir(), &storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := content(200_000, 4)
	key := b.NewKey()
	put(t, b, key, want, 1<<20)
	r, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := b.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open after Delete = %v, want ErrNotFound", err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read after Delete: %d bytes, %v; want the %d bytes written", len(got), err, len(want))
	}
}
