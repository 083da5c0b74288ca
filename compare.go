package filestore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/storage"
)

// CompareMin is the smallest declared size (PutOptions.Size) for which Put
// compares an upload without a digest with stored objects of that size.
const CompareMin = 1 << 20

// compareCandidates bounds how many stored objects of the declared size
// an upload's first chunk is compared with (each costs opening it and
// reading as much as that chunk).
const compareCandidates = 4

// compareRing is how many chunks (of verifyChunkSize) a comparing pass
// reads into: one being read, one being compared, one waiting.
const compareRing = 3

// comparer is the bucket writer of a pass whose upload may be content
// already stored: an object of the size the caller declared, whose first
// bytes are the upload's (see pickCandidate). While the upload matches it,
// Write only reads the candidate and compares: nothing is written. At the
// first difference it stages the upload under key like any other pass,
// first copying from the candidate the part that matched. The pass's store
// sink goroutine calls Write; the pass calls the other methods once that
// sink has finished.
type comparer struct {
	ctx    context.Context
	bucket *storage.Bucket
	key    string // where the upload is staged once it differs

	cand dedup.StoredObject
	r    io.ReadSeekCloser // the candidate, read in step with the upload
	buf  []byte
	off  int64           // bytes compared equal so far
	w    *storage.Writer // the staged object, once the upload differs
}

func newComparer(ctx context.Context, b *storage.Bucket, key string, cand dedup.StoredObject, r io.ReadSeekCloser) *comparer {
	return &comparer{ctx: ctx, bucket: b, key: key, cand: cand, r: r}
}

// pickCandidate returns the first of cands whose content begins with p,
// the upload's first bytes (a pass's first chunk, at most chunkSize),
// opened at its start; nil if none does (or none can be read). An error
// wrapping storage.ErrStalled, from a bucket that does not answer, ends the
// search: staging the upload instead would wait for that bucket as long
// (against a frozen S3 server, 60 s per candidate, then as long again to
// stage).
func (s *Service) pickCandidate(ctx context.Context, cands []dedup.StoredObject, p []byte) (*dedup.StoredObject, io.ReadSeekCloser, error) {
	c := s.getChunk()
	defer s.putChunk(c)
	got := c.buf[:len(p)]
	for i := range cands {
		r, err := s.bucket.Open(ctx, cands[i].Key)
		if errors.Is(err, storage.ErrStalled) {
			return nil, nil, err
		}
		if err != nil {
			continue
		}
		_, err = io.ReadFull(r, got)
		if err == nil && bytes.Equal(got, p) {
			if _, err := r.Seek(0, io.SeekStart); err == nil {
				return &cands[i], r, nil
			}
		}
		_ = r.Close()
		if errors.Is(err, storage.ErrStalled) {
			return nil, nil, err
		}
	}
	return nil, nil, nil
}

// Write compares p, the upload's next bytes, with the candidate's, or
// writes p to the staged object once the upload has differed.
func (c *comparer) Write(p []byte) (int, error) {
	if c.w == nil {
		if c.same(p) {
			c.off += int64(len(p))
			return len(p), nil
		}
		if err := c.stage(); err != nil {
			return 0, err
		}
	}
	return c.w.Write(p)
}

// same reports whether p is the candidate's content at c.off. A candidate
// that cannot be read counts as different.
func (c *comparer) same(p []byte) bool {
	if len(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	got := c.buf[:len(p)]
	_, err := io.ReadFull(c.r, got)
	return err == nil && bytes.Equal(got, p)
}

// stage opens the staged object and copies into it the c.off bytes that
// matched, reread from the candidate's start: a local object's open file
// stays readable even if the object is deleted meanwhile. When they
// cannot be read, the error wraps dedup.ErrObjectGone (the upload can be
// retried).
func (c *comparer) stage() error {
	w, err := c.bucket.NewWriter(c.ctx, c.key)
	if err != nil {
		return err
	}
	c.w = w
	if c.off > 0 {
		if err := copyFromStart(c.w, c.r, c.off, c.buf); err != nil {
			if cerr := c.ctx.Err(); cerr != nil {
				return cerr
			}
			return fmt.Errorf("%w: rereading the stored copy: %v", dedup.ErrObjectGone, err)
		}
	}
	return c.closeCandidate()
}

// copyFromStart copies the first n bytes of src, from its start, to dst
// (through buf, if given); fewer than n bytes is io.ErrUnexpectedEOF.
func copyFromStart(dst io.Writer, src io.ReadSeeker, n int64, buf []byte) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	m, err := io.CopyBuffer(dst, io.LimitReader(src, n), buf)
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// stored reports whether the whole upload, size bytes with digest sum, is
// the candidate's content (nothing was staged), and returns the
// candidate's key if so.
func (c *comparer) stored(size int64, sum []byte) (string, bool) {
	if c.w != nil || c.off != size || c.cand.SHA256 != hex.EncodeToString(sum) {
		return "", false
	}
	return c.cand.Key, true
}

// staged makes sure the whole upload is being staged: if every byte of it
// matched but it is not the candidate's content (it is shorter, or the
// candidate is not what its name says), it stages it now. Close then makes
// it durable.
func (c *comparer) staged() error {
	if c.w != nil {
		return nil
	}
	return c.stage()
}

// takeCandidate hands over the open candidate: Close no longer closes it.
func (c *comparer) takeCandidate() io.ReadSeekCloser {
	r := c.r
	c.r = nil
	return r
}

// Close closes the candidate and the staged object, if any: see
// storage.Writer.Close (cancelling the pass's context aborts it).
func (c *comparer) Close() error {
	err := c.closeCandidate()
	if c.w != nil {
		err = c.w.Close()
	}
	return err
}

func (c *comparer) closeCandidate() error {
	if c.r == nil {
		return nil
	}
	err := c.r.Close()
	c.r = nil
	return err
}
