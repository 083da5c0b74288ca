package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"gocloud.dev/blob"

	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/internal/testenv"
	"github.com/filestore-go/filestore/storage"
)

// backends are the bucket URLs the suite runs against.
var backends = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"mem", func(*testing.T) string { return "mem://" }},
	{"file", func(t *testing.T) string { return "file://" + t.TempDir() }},
	{"s3", func(t *testing.T) string { return testenv.S3URL(t) }},
}

// forEachBackend runs fn in a subtest per backend, each with a fresh bucket.
func forEachBackend(t *testing.T, fn func(t *testing.T, b *storage.Bucket)) {
	t.Helper()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b, err := storage.Open(t.Context(), be.url(t), &storage.Options{
				Retry: retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond},
			})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			fn(t, b)
		})
	}
}

// content returns n deterministic pseudo-random bytes.
func content(n int, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// put writes data to key in writes of chunk bytes and fails t unless Close
// returns nil.
func put(t *testing.T, b *storage.Bucket, key string, data []byte, chunk int) {
	t.Helper()
	w, err := b.NewWriter(t.Context(), key)
	if err != nil {
		t.Fatalf("NewWriter(%q): %v", key, err)
	}
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			_ = w.Close()
			t.Fatalf("Write(%q): %v", key, err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%q): %v", key, err)
	}
}

// get reads key whole.
func get(t *testing.T, b *storage.Bucket, key string) ([]byte, error) {
	t.Helper()
	r, err := b.NewReader(t.Context(), key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestWriteRead(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		chunk int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"64KiB in odd writes", 64 << 10, 1000},
		// More than two S3 parts (5 MiB) and two local writeback chunks (8 MiB).
		{"17MiB", 17 << 20, 100_003},
	}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want := content(tt.size, uint64(i))
				key := b.NewKey()
				put(t, b, key, want, tt.chunk)
				got, err := get(t, b, key)
				if err != nil {
					t.Fatalf("read back: %v", err)
				}
				if len(got) != len(want) || sha256.Sum256(got) != sha256.Sum256(want) {
					t.Fatalf("read back %d bytes (sha256 %x), want %d (sha256 %x)", len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
				}
				if tt.size > 64<<10 {
					return // iotest reads many times; small objects show the same
				}
				r, err := b.NewReader(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if err := iotest.TestReader(r, want); err != nil {
					t.Errorf("iotest.TestReader: %v", err)
				}
			})
		}
	})
}

// step is one operation on a reader: a Seek (whence >= 0) or a Read of n bytes.
type step struct {
	whence int // -1: Read
	off    int64
	n      int
}

// run applies steps to r and records what each returned.
// sameAsBytesReader opens a reader with open, runs steps on it and on a
// bytes.Reader over data, and reports any difference.
func sameAsBytesReader[R io.ReadSeekCloser](t *testing.T, data []byte, steps []step, open func() (R, error)) {
	t.Helper()
	r, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := run(bytes.NewReader(data), steps)
	got := run(r, steps)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the reader differs from bytes.Reader (-want +got):\n%s", diff)
	}
}

func run(r io.ReadSeeker, steps []step) []string {
	var out []string
	for _, s := range steps {
		if s.whence >= 0 {
			pos, err := r.Seek(s.off, s.whence)
			out = append(out, fmt.Sprintf("seek(%d,%d)=%d err=%v", s.off, s.whence, pos, err != nil))
			continue
		}
		p := make([]byte, s.n)
		n, err := io.ReadFull(r, p)
		out = append(out, fmt.Sprintf("read(%d)=%d %x eof=%v", s.n, n, sha256.Sum256(p[:n]), errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)))
	}
	return out
}

func TestSeekMatchesBytesReader(t *testing.T) {
	const size = 300_000
	data := content(size, 7)
	tests := []struct {
		name  string
		steps []step
	}{
		{"size then rewind", []step{{io.SeekEnd, 0, 0}, {io.SeekStart, 0, 0}, {-1, 0, 1000}}},
		{"skip forward", []step{{-1, 0, 10}, {io.SeekCurrent, 100_000, 0}, {-1, 0, 5000}}},
		{"back and forth", []step{{io.SeekStart, 250_000, 0}, {-1, 0, 100}, {io.SeekStart, 10, 0}, {-1, 0, 100}, {io.SeekCurrent, -50, 0}, {-1, 0, 60}}},
		{"relative to end", []step{{io.SeekEnd, -1000, 0}, {-1, 0, 4000}}},
		{"at end", []step{{io.SeekEnd, 0, 0}, {-1, 0, 10}}},
		{"seek without read is free", []step{{io.SeekStart, 5, 0}, {io.SeekStart, 0, 0}, {-1, 0, 20}}},
		{"negative is an error", []step{{io.SeekStart, -1, 0}}},
	}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		key := b.NewKey()
		put(t, b, key, data, 64<<10)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sameAsBytesReader(t, data, tt.steps, func() (*blob.Reader, error) { return b.NewReader(t.Context(), key) })
			})
		}
	})
}

func TestReaderAt(t *testing.T) {
	const size = 100_000
	data := content(size, 3)
	tests := []struct {
		name string
		off  int64
		n    int
	}{
		{"start", 0, 100},
		{"middle", 40_000, 30_000},
		{"whole", 0, size},
		{"to the end exactly", size - 10, 10},
		{"past the end", size - 10, 100},
		{"at the end", size, 10},
		{"beyond the end", size + 100, 10},
		{"zero length", 50, 0},
	}
	type result struct {
		N   int
		EOF bool
		Sum [32]byte
	}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		key := b.NewKey()
		put(t, b, key, data, 1<<20)
		ra := b.ReaderAt(t.Context(), key)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				want, got := make([]byte, tt.n), make([]byte, tt.n)
				wn, werr := bytes.NewReader(data).ReadAt(want, tt.off)
				gn, gerr := ra.ReadAt(got, tt.off)
				if gerr != nil && !errors.Is(gerr, io.EOF) {
					t.Fatalf("ReadAt: %v", gerr)
				}
				w := result{wn, errors.Is(werr, io.EOF), sha256.Sum256(want[:wn])}
				g := result{gn, errors.Is(gerr, io.EOF), sha256.Sum256(got[:gn])}
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("ReadAt(%d bytes at %d) differs from bytes.Reader (-want +got):\n%s", tt.n, tt.off, diff)
				}
			})
		}
		t.Run("empty object", func(t *testing.T) {
			empty := b.NewKey()
			put(t, b, empty, nil, 1)
			n, err := b.ReaderAt(t.Context(), empty).ReadAt(make([]byte, 10), 0)
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("ReadAt on empty object = %d, %v; want 0, io.EOF", n, err)
			}
		})
		t.Run("negative offset", func(t *testing.T) {
			_, err := ra.ReadAt(make([]byte, 10), -1)
			if !errors.Is(err, storage.ErrInvalidRange) {
				t.Errorf("ReadAt(-1) = %v, want ErrInvalidRange", err)
			}
		})
		t.Run("missing object", func(t *testing.T) {
			_, err := b.ReaderAt(t.Context(), b.NewKey()).ReadAt(make([]byte, 10), 0)
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("ReadAt on missing object = %v, want ErrNotFound", err)
			}
		})
	})
}

func TestAbortedWriter(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"before any write", 0},
		{"small", 10_000},
		{"multipart", 11 << 20},
	}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				key := b.NewKey()
				w, err := b.NewWriter(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				data := content(tt.size, 1)
				for p := data; len(p) > 0; p = p[min(len(p), 1<<20):] {
					if _, err := w.Write(p[:min(len(p), 1<<20)]); err != nil {
						t.Fatalf("Write: %v", err)
					}
				}
				cancel()
				if _, err := w.Write([]byte("more")); !errors.Is(err, context.Canceled) {
					t.Errorf("Write after cancel = %v, want context.Canceled", err)
				}
				if err := w.Close(); !errors.Is(err, context.Canceled) {
					t.Errorf("Close after cancel = %v, want context.Canceled", err)
				}
				if _, err := get(t, b, key); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("read of aborted object = %v, want ErrNotFound", err)
				}
				for _, k := range listKeys(t, b) {
					if strings.HasPrefix(k, key) {
						t.Errorf("List reports %q after the write of %q was aborted", k, key)
					}
				}
				pending, err := storage.PendingUploads(t.Context(), b, key)
				if err != nil {
					t.Fatalf("list multipart uploads: %v", err)
				}
				if len(pending) != 0 {
					t.Errorf("aborted writer left multipart uploads in progress: %v", pending)
				}
			})
		}
	})
}

func TestWriterClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		w, err := b.NewWriter(t.Context(), b.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Write after Close = %v, want ErrClosed", err)
		}
		if err := w.Close(); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("second Close = %v, want ErrClosed", err)
		}
	})
}

func TestDeleteIsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		key := b.NewKey()
		put(t, b, key, []byte("hello"), 5)
		for i := range 2 {
			if err := b.Delete(t.Context(), key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := get(t, b, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("read after Delete = %v, want ErrNotFound", err)
		}
		if err := b.Delete(t.Context(), b.NewKey()); err != nil {
			t.Errorf("Delete of a key never written = %v, want nil", err)
		}
	})
}

// TestConcurrentDeletes: two Deletes of one existing key at once both
// succeed, as a Purge and a Collect that dispose of the same object send
// them, pair after pair. Before, versitygw answered one of the two 404
// NoSuchKey in about 1 pair of 100, and Delete returned it as ErrNotFound
// (3 of 200 pairs failed).
func TestConcurrentDeletes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		const pairs = 300
		failed := 0
		for i := range pairs {
			key := b.NewKey()
			put(t, b, key, []byte("hello"), 5)
			var errs [2]error
			var wg sync.WaitGroup
			for j := range errs {
				wg.Go(func() { errs[j] = b.Delete(t.Context(), key) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					failed++
					t.Errorf("pair %d: Delete = %v, want nil", i, err)
				}
			}
			if _, err := get(t, b, key); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("pair %d: read after both Deletes = %v, want ErrNotFound", i, err)
			}
		}
		if failed > 0 {
			t.Errorf("%d of %d Deletes failed", failed, 2*pairs)
		}
	})
}

// listKeys returns every key List reports.
func listKeys(t *testing.T, b *storage.Bucket) []string {
	t.Helper()
	var keys []string
	err := b.List(t.Context(), func(key string, _ time.Time, _ int64) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return keys
}

func TestListIsComplete(t *testing.T) {
	type entry struct {
		Key  string
		Size int64
	}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		if keys := listKeys(t, b); len(keys) != 0 {
			t.Errorf("List of a new bucket = %q, want nothing", keys)
		}
		storage.SetPageSize(b, 3) // 8 objects: three pages on remote buckets
		var want []entry
		start := time.Now().Add(-time.Minute)
		for i := range 8 {
			key := b.NewKey()
			put(t, b, key, content(i*10, uint64(i)), 7)
			want = append(want, entry{key, int64(i * 10)})
		}
		slices.SortFunc(want, func(a, b entry) int { return strings.Compare(a.Key, b.Key) })
		var got []entry
		err := b.List(t.Context(), func(key string, mod time.Time, size int64) error {
			if mod.Before(start) || mod.After(time.Now().Add(time.Minute)) {
				t.Errorf("key %q: modification time %v is not recent", key, mod)
			}
			got = append(got, entry{key, size})
			return nil
		})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}

		errStop := errors.New("stop")
		calls := 0
		err = b.List(t.Context(), func(string, time.Time, int64) error {
			calls++
			return errStop
		})
		if err != errStop || calls != 1 {
			t.Errorf("List with failing fn = %v after %d calls, want errStop after 1", err, calls)
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := b.List(ctx, func(string, time.Time, int64) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("List with cancelled ctx = %v, want context.Canceled", err)
		}
	})
}

func TestNotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		_, err := b.NewReader(t.Context(), b.NewKey())
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("NewReader of missing key = %v, want ErrNotFound", err)
		}
	})
}

func TestInvalidKeys(t *testing.T) {
	keys := []string{"", "x", "o/", "o//a", "o/../a", "o/./a", "a/o/b", "o/a b", "o/ä", "o/a\x00", "/o/a", "o/a/", string(make([]byte, 600))}
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		for _, key := range keys {
			if _, err := b.NewWriter(t.Context(), key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("NewWriter(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := b.NewReader(t.Context(), key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("NewReader(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := b.ReaderAt(t.Context(), key).ReadAt(make([]byte, 1), 0); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("ReadAt(%q) = %v, want ErrInvalidKey", key, err)
			}
			if err := b.Delete(t.Context(), key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
	})
}

func TestPing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b *storage.Bucket) {
		if err := b.Ping(t.Context()); err != nil {
			t.Errorf("Ping = %v, want nil", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := b.Ping(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Ping with a cancelled ctx = %v, want context.Canceled", err)
		}
	})
}
