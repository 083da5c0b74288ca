package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/google/go-cmp/cmp"
)

// headRecorder is a MetaExtractor that copies what it is given.
type headRecorder struct {
	heads [][32]byte // SHA-256 of each Head, in order
	lens  []int
}

func (h *headRecorder) Extract(_ context.Context, in *filestore.MetaInput) (*filestore.Metadata, error) {
	h.heads = append(h.heads, sha256.Sum256(in.Head))
	h.lens = append(h.lens, len(in.Head))
	return &filestore.Metadata{ContentType: "application/octet-stream"}, nil
}

// TestPutHead: the extractor's Head is exactly the first HeadSize bytes of
// each upload (all of a smaller one), whatever its size relative to the
// pass's chunks and to HeadSize, upload after upload.
func TestPutHead(t *testing.T) {
	rec := &headRecorder{}
	st := openStore(t, "sqlite", "file", filestore.Options{Extractor: rec})
	contents := [][]byte{
		filestoretest.Content(1, 3<<20),
		filestoretest.Content(2, filestore.HeadSize+1),
		filestoretest.Content(3, 4096),
		filestoretest.Content(4, filestore.HeadSize-1),
		filestoretest.Content(5, 2<<20+17),
		filestoretest.Content(6, 0),
	}
	var wantHeads [][32]byte
	var wantLens []int
	for i, c := range contents {
		head := c[:min(len(c), filestore.HeadSize)]
		wantHeads = append(wantHeads, sha256.Sum256(head))
		wantLens = append(wantLens, len(head))
		if _, err := st.Put(context.Background(), "alice", "", "f"+string(rune('a'+i)), bytes.NewReader(c), nil); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if diff := cmp.Diff(wantLens, rec.lens); diff != "" {
		t.Errorf("Head lengths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantHeads, rec.heads); diff != "" {
		t.Errorf("Head contents (-want +got):\n%s", diff)
	}
}
