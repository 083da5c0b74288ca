package filestoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/filestore-go/filestore"
)

func testContent(t *testing.T, newStore Harness) {
	st := newStore(t)
	sizes := []int{0, 1, 511, 512, 513, 5<<20 + 1, 64 << 20}
	for i, size := range sizes {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			if size > 8<<20 && testing.Short() {
				t.Skip("the largest size is skipped in -short mode")
			}
			data := Content(uint64(i+1), size)
			sum := sha256.Sum256(data)
			name := fmt.Sprintf("f%d.bin", size)
			f := mustPut(t, st, "alice", "sizes", name, data)
			if f.Size != int64(size) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Name != name ||
				f.Folder != "sizes" || f.DeletedAt != nil || f.ID == "" {
				t.Fatalf("Put returned %+v; want size %d, sha256 %x, name %q in sizes", f, size, sum, name)
			}
			got, rd, err := st.Get(context.Background(), "alice", f.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer rd.Close()
			if got.SHA256 != f.SHA256 || got.Size != f.Size {
				t.Errorf("Get returned %+v, want the File of Put %+v", got, f)
			}
			// TestReader makes many small reads; the largest size is
			// read whole instead.
			if size <= 8<<20 {
				if err := iotest.TestReader(rd, data); err != nil {
					t.Fatalf("TestReader: %v", err)
				}
			} else if got, err := io.ReadAll(rd); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll: %d bytes, %v; want the %d bytes put", len(got), err, len(data))
			}
			checkSeeks(t, rd, data, uint64(size))
		})
	}
}

// checkSeeks compares random seeks and reads on rd with a bytes.Reader.
func checkSeeks(t *testing.T, rd io.ReadSeeker, data []byte, seed uint64) {
	t.Helper()
	want := bytes.NewReader(data)
	if _, err := rd.Seek(0, io.SeekStart); err != nil {
		t.Fatalf("Seek to start: %v", err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	n := int64(len(data))
	for i := range 40 {
		whence := []int{io.SeekStart, io.SeekCurrent, io.SeekEnd}[r.IntN(3)]
		var off int64
		switch whence {
		case io.SeekStart:
			off = r.Int64N(n + 1)
		case io.SeekCurrent:
			pos, _ := want.Seek(0, io.SeekCurrent)
			off = r.Int64N(n+1) - pos
		case io.SeekEnd:
			off = -r.Int64N(n + 1)
		}
		wantPos, _ := want.Seek(off, whence)
		gotPos, err := rd.Seek(off, whence)
		if err != nil || gotPos != wantPos {
			t.Fatalf("seek %d: Seek(%d, %d) = %d, %v; want %d", i, off, whence, gotPos, err, wantPos)
		}
		l := r.IntN(70000)
		wb := make([]byte, l)
		gb := make([]byte, l)
		wn, _ := io.ReadFull(want, wb)
		gn, err := io.ReadFull(rd, gb)
		if gn != wn || !bytes.Equal(gb[:gn], wb[:wn]) {
			t.Fatalf("seek %d: read %d bytes at %d: got %d bytes (%v), want %d", i, l, wantPos, gn, err, wn)
		}
	}
}

// errBoom is the failure of a test reader.
var errBoom = errors.New("filestoretest: reader failed")

// cancelAfter returns the data of r, cancelling ctx once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func testReaders(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	data := Content(99, 3000)

	t.Run("OneByteReader", func(t *testing.T) {
		f, err := st.Put(ctx, "alice", "", "one.bin", iotest.OneByteReader(bytes.NewReader(data)), nil)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, data) {
			t.Fatalf("content differs: got %d bytes, want %d", len(got), len(data))
		}
	})
	t.Run("HalfReader", func(t *testing.T) {
		f, err := st.Put(ctx, "alice", "", "half.bin", iotest.HalfReader(bytes.NewReader(data)), nil)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got := readAll(t, st, "alice", f.ID); !bytes.Equal(got, data) {
			t.Fatalf("content differs")
		}
	})
	before := stats(t, st)
	fails := []struct {
		name string
		r    func(cancel context.CancelFunc) io.Reader
		want error
	}{
		{"ErrorAtOnce", func(context.CancelFunc) io.Reader { return iotest.ErrReader(errBoom) }, errBoom},
		{"ErrorAfter600KiB", func(context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(Content(5, 600<<10)), iotest.ErrReader(errBoom))
		}, errBoom},
		{"UnexpectedEOF", func(context.CancelFunc) io.Reader {
			// A truncated body: some bytes, then the reader's own
			// io.ErrUnexpectedEOF, which must not pass for the end.
			return io.MultiReader(bytes.NewReader(Content(8, 3)), iotest.ErrReader(io.ErrUnexpectedEOF))
		}, io.ErrUnexpectedEOF},
		{"UnexpectedEOFAfter300KiB", func(context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(Content(9, 300<<10)), iotest.ErrReader(io.ErrUnexpectedEOF))
		}, io.ErrUnexpectedEOF},
		{"TimeoutReader", func(context.CancelFunc) io.Reader {
			return iotest.TimeoutReader(bytes.NewReader(Content(6, 1<<20)))
		}, iotest.ErrTimeout},
		{"CancelledMidStream", func(cancel context.CancelFunc) io.Reader {
			return &cancelAfter{r: bytes.NewReader(Content(7, 4<<20)), n: 1 << 20, cancel: cancel}
		}, context.Canceled},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := st.Put(ctx, "alice", "", "fail.bin", tt.r(cancel), nil)
			wantErr(t, "Put", err, tt.want)
		})
	}
	t.Run("CancelledBefore", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := st.Put(ctx, "alice", "", "fail.bin", bytes.NewReader(data), nil)
		wantErr(t, "Put", err, context.Canceled)
	})
	t.Run("NothingStored", func(t *testing.T) {
		if after := stats(t, st); after != before {
			t.Errorf("failed uploads changed the totals: before %+v, after %+v", before, after)
		}
		files := listAll(t, st, "alice", filestore.ListOptions{})
		if len(files) != 2 {
			t.Errorf("List shows %d files, want the 2 good uploads", len(files))
		}
		res, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: 1})
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		if *res != (filestore.CollectResult{}) {
			t.Errorf("Collect after failed uploads removed %+v; aborted uploads must leave nothing", res)
		}
	})
}

func testLimits(t *testing.T, newStore Harness) {
	st := newStore(t)
	ctx := context.Background()
	data := Content(11, 1000)
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		data []byte
		opts filestore.PutOptions
		want error
	}{
		{"AtLimit", data, filestore.PutOptions{MaxSize: 1000}, nil},
		{"OverLimit", append(data, 'x'), filestore.PutOptions{MaxSize: 1000}, filestore.ErrTooLarge},
		{"DigestMatches", data, filestore.PutOptions{SHA256: hexSum}, nil},
		{"DigestUppercase", data, filestore.PutOptions{SHA256: fmt.Sprintf("%X", sum)}, nil},
		{"DigestMismatch", append(data, 'x'), filestore.PutOptions{SHA256: hexSum}, filestore.ErrDigestMismatch},
		{"DigestMalformed", data, filestore.PutOptions{SHA256: "abc"}, filestore.ErrInvalidArgument},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			_, err := st.Put(ctx, "alice", "limits", fmt.Sprintf("f%d", i), bytes.NewReader(tt.data), &opts)
			if tt.want == nil && err != nil {
				t.Fatalf("Put: %v", err)
			}
			if tt.want != nil {
				wantErr(t, "Put", err, tt.want)
			}
		})
	}
	files := listAll(t, st, "alice", filestore.ListOptions{Folder: "limits"})
	if len(files) != 3 {
		t.Errorf("%d files stored, want the 3 accepted", len(files))
	}
	if s := stats(t, st); s.Objects != 1 || s.StoredBytes != 1000 {
		t.Errorf("Stats = %+v, want 1 object of 1000 bytes", s)
	}
}
