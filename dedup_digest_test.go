package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/faults"
)

// TestPutKnownDigestOfStoredContent: when the client announces the SHA-256
// of content that is already stored, Put verifies the upload by hashing it
// and writes nothing to the bucket; a mismatch is refused and harms nothing.
func TestPutKnownDigestOfStoredContent(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			env := newFaultEnv(t, db, 3)
			ctx := context.Background()
			data := filestoretest.Content(77, 3<<20)
			sum := sha256.Sum256(data)
			digest := hex.EncodeToString(sum[:])
			first, err := env.st.Put(ctx, "alice", "", "first.bin", bytes.NewReader(data), &filestore.PutOptions{SHA256: digest})
			if err != nil {
				t.Fatal(err)
			}
			env.in.Reset()
			second, err := env.st.Put(ctx, "alice", "", "second.bin", bytes.NewReader(data), &filestore.PutOptions{SHA256: digest})
			if err != nil {
				t.Fatalf("Put of stored content with its digest: %v", err)
			}
			if n := env.in.Calls(faults.OpNewWriter); n != 0 {
				t.Errorf("Put opened %d bucket writers for content already stored, want 0", n)
			}
			if second.SHA256 != first.SHA256 || second.Size != int64(len(data)) {
				t.Errorf("second file %+v, want the first's content", second)
			}
			// Another owner's upload of it is staged like new content (so
			// that it cannot tell that the content is stored) and then
			// shares the object.
			env.in.Reset()
			third, err := env.st.Put(ctx, "bob", "", "third.bin", bytes.NewReader(data), &filestore.PutOptions{SHA256: digest})
			if err != nil {
				t.Fatalf("Put of another owner's content with its digest: %v", err)
			}
			if n := env.in.Calls(faults.OpNewWriter); n != 1 {
				t.Errorf("Put of content only another owner has opened %d bucket writers, want 1", n)
			}
			if third.SHA256 != first.SHA256 {
				t.Errorf("third file %+v, want the first's content", third)
			}
			// The announced digest must still be the bytes' digest.
			other := filestoretest.Content(78, 3<<20)
			_, err = env.st.Put(ctx, "alice", "", "forged.bin", bytes.NewReader(other), &filestore.PutOptions{SHA256: digest})
			if !errors.Is(err, filestore.ErrDigestMismatch) {
				t.Fatalf("Put of other bytes under a stored digest: %v, want ErrDigestMismatch", err)
			}
			// The verifying pass reads in its own buffer: the size limit and
			// a body that fails midway still end the upload, storing nothing.
			_, err = env.st.Put(ctx, "alice", "", "big.bin", bytes.NewReader(data), &filestore.PutOptions{SHA256: digest, MaxSize: 1<<20 + 1})
			if !errors.Is(err, filestore.ErrTooLarge) {
				t.Errorf("Put of stored content over MaxSize: %v, want ErrTooLarge", err)
			}
			boom := errors.New("boom")
			broken := io.MultiReader(bytes.NewReader(data[:3<<19]), iotest.ErrReader(boom))
			if _, err = env.st.Put(ctx, "alice", "", "broken.bin", broken, &filestore.PutOptions{SHA256: digest}); !errors.Is(err, boom) {
				t.Errorf("Put of stored content from a reader that fails midway: %v, want its error", err)
			}
			if s := stats(t, env.st); s.Files != 3 || s.Objects != 1 {
				t.Errorf("Stats %+v, want 3 files of 1 object", s)
			}
			for _, f := range []struct{ owner, id string }{{"alice", first.ID}, {"alice", second.ID}, {"bob", third.ID}} {
				if got := readAll(t, env.st, f.owner, f.id); !bytes.Equal(got, data) {
					t.Errorf("%s's file reads %d bytes, want the original", f.owner, len(got))
				}
			}
			if _, err := env.st.Collect(ctx, &filestore.CollectOptions{StagingTTL: 1}); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, env.dbURL, env.bucketURL, true)
		})
	}
}

func stats(t *testing.T, st filestore.Store) filestore.Stats {
	t.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return *s
}

func readAll(t *testing.T, st filestore.Store, owner, id string) []byte {
	t.Helper()
	_, rd, err := st.Get(context.Background(), owner, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rd); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// contentReader is an Extractor that reads each upload's whole content
// through MetaInput.Content, keeping what it read.
type contentReader struct{ read [][]byte }

func (r *contentReader) Extract(_ context.Context, in *filestore.MetaInput) (*filestore.Metadata, error) {
	buf := make([]byte, in.Size)
	if _, err := in.Content.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	r.read = append(r.read, buf)
	return &filestore.Metadata{ContentType: "application/octet-stream"}, nil
}

// TestPutKnownDigestExtractorContent: the extractor reads the content of
// an upload whose digest names stored content, inline or in the bucket.
// Before, for content stored inline, MetaInput.Content read the bucket,
// where an inline object has nothing ("object not found").
func TestPutKnownDigestExtractorContent(t *testing.T) {
	for _, size := range []int{28, 3 << 20} {
		ex := &contentReader{}
		st := openStore(t, "sqlite", "file", filestore.Options{Extractor: ex})
		ctx := context.Background()
		data := filestoretest.Content(uint64(size), size)
		sum := sha256.Sum256(data)
		opts := &filestore.PutOptions{SHA256: hex.EncodeToString(sum[:])}
		for _, name := range []string{"one", "two"} {
			if _, err := st.Put(ctx, "alice", "", name, bytes.NewReader(data), opts); err != nil {
				t.Fatalf("%d bytes, Put %s: %v", size, name, err)
			}
		}
		if len(ex.read) != 2 || !bytes.Equal(ex.read[0], data) || !bytes.Equal(ex.read[1], data) {
			t.Errorf("%d bytes: the extractor read %d contents, want the upload's twice", size, len(ex.read))
		}
	}
}
