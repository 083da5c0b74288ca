package filestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/storage"
)

// errScanEnded ends the scanner's pipe once Scan has returned, so that the
// pass never blocks on a scanner that stopped reading.
var errScanEnded = errors.New("filestore: scanner returned")

// staged is what the upload pass produced.
type staged struct {
	// key holds the content: the staged object, or with existing the
	// stored object that the pass verified the upload against. With
	// inline it is a fresh key with nothing under it, and head is the
	// whole content, to be stored in the catalogue.
	key      string
	existing bool
	inline   bool
	size     int64
	sum      []byte
	head     []byte
	scan     ScanInfo
	// rescan: the streaming scan ended with ErrScanIncomplete, so scan is
	// still to be decided by scanning the content under key (see rescan).
	rescan bool
	at     time.Time // when the staged bytes became durable
	// copy, with existing, is the stored object that the pass compared
	// the upload with, still open: its bytes are the upload's, should the
	// object go away before the commit (see restage).
	copy io.ReadSeekCloser
}

// ownsBytes reports whether the pass wrote the content to the bucket under
// st.key, which is then deleted if no row comes to reference it.
func (st *staged) ownsBytes() bool { return !st.existing && !st.inline }

// Put implements Store.Put. The pass reads r once, in chunks: each is hashed
// and counted against the size limit here, and handed to the bucket writer
// and the scanner, each in its own goroutine (a slow one holds the pass
// back; nothing buffers the file). The verdicts (digest, scan) are known
// before the staged object is closed, so a rejected upload never becomes
// visible; after the close, the content type and metadata are extracted and
// the catalogue commits the file in one transaction (see package dedup). An
// Extractor that implements TypeChecker (meta.Extractor does) applies its
// type policy as soon as the first HeadSize bytes are read: content it
// refuses is not read further.
// Only when the scan of the stream ends with ErrScanIncomplete (the client
// sent too slowly for the scanner) is the verdict left to a second scan of
// the complete content after the pass: the staged object is then deleted
// if that scan refuses it.
func (s *Service) Put(ctx context.Context, owner, folder, name string, r io.Reader, opts *PutOptions) (*File, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	// Only into a bucket known to be this catalogue's: another's Collect
	// would delete what it stored (one atomic load once claimed).
	if err := s.bucketClaimed(ctx, "put"); err != nil {
		return nil, err
	}
	pctx, cancel := s.whileOpen(ctx)
	defer cancel()
	// The owner's uploads take at most half of S3UploadMemory.
	f, err := s.put(storage.WithTenant(pctx, owner), owner, folder, name, r, opts)
	switch {
	case err == nil || ctx.Err() != nil || !s.closed.Load():
		return f, err
	case errors.Is(err, context.Canceled):
		// Close overtook the upload, and cancelled it: wherever the
		// cancellation surfaced (between chunks, inside a write to the
		// bucket, already translated to ErrClosed), it says no more.
		return nil, fmt.Errorf("filestore: put: %w", ErrClosed)
	case errors.Is(err, ErrClosed):
		return nil, err
	default:
		return nil, fmt.Errorf("filestore: put: %w: %w", ErrClosed, err)
	}
}

func (s *Service) put(ctx context.Context, owner, folder, name string, r io.Reader, opts *PutOptions) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filestore: put: %w", err)
	}
	if opts == nil {
		opts = &PutOptions{}
	}
	if r == nil {
		return nil, fmt.Errorf("filestore: put: %w: nil reader", ErrInvalidArgument)
	}
	if err := checkOwner(owner); err != nil {
		return nil, fmt.Errorf("filestore: put: %w", err)
	}
	name, err := CleanName(name)
	if err != nil {
		return nil, fmt.Errorf("filestore: put: %w", err)
	}
	folder, err = CleanFolder(folder)
	if err != nil {
		return nil, fmt.Errorf("filestore: put: %w", err)
	}
	var want []byte
	if opts.SHA256 != "" {
		want, err = hex.DecodeString(opts.SHA256)
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("filestore: put: %w: expected SHA-256 must be 64 hex digits", ErrInvalidArgument)
		}
	}
	limit := s.opts.MaxSize
	if opts.MaxSize > 0 && opts.MaxSize < limit {
		limit = opts.MaxSize
	}
	// Fail before reading gigabytes; the commit checks again. The pass
	// runs this once it knows the content is not inline (read whole
	// already, so an early refusal would save nothing).
	pathCheck := func() error {
		if opts.Overwrite {
			return nil
		}
		taken, err := s.cat.PathTaken(ctx, owner, folder, name)
		if err != nil {
			return s.translate("put", err)
		}
		if taken {
			return fmt.Errorf("filestore: put %q: %w", name, ErrConflict)
		}
		return nil
	}

	// With the digest known in advance and its content already stored by
	// this owner, the pass only hashes (and scans) to verify the bytes:
	// nothing is written, and the file references the stored object.
	// Content that only other owners have is staged and synced like new
	// content and shared at the commit: stored once all the same, but an
	// upload's course and timing never tell its owner what others stored.
	existing := ""
	if want != nil {
		_, ok, err := s.cat.LiveObject(ctx, owner, hex.EncodeToString(want))
		if err != nil {
			return nil, s.translate("put", err)
		}
		if ok {
			// Pinned, so that a purge of its last reference during the
			// upload leaves it for the commit.
			pinned, shas, err := s.pin(ctx, []string{hex.EncodeToString(want)})
			if err != nil {
				return nil, err
			}
			defer s.unpin(ctx, shas)
			if len(pinned) == 1 {
				existing = pinned[0].Key
			}
		}
	}
	// Without a digest, content of a size declared in advance may still be
	// stored: the pass compares the upload with this owner's stored
	// objects of that size, and writes nothing while it matches one.
	var cands []dedup.StoredObject
	if want == nil && opts.Size >= CompareMin && opts.Size <= limit {
		cands, err = s.cat.ObjectsOfSize(ctx, owner, opts.Size, compareCandidates)
		if err != nil {
			return nil, s.translate("put", err)
		}
		// Pinned, as above: the upload may turn out to be one of them.
		var shas []string
		if cands, shas, err = s.pinCandidates(ctx, cands); err != nil {
			return nil, err
		}
		defer s.unpin(ctx, shas)
	}
	// With an extractor that can, the type policy runs on the first
	// HeadSize bytes, so that refused content is not read to its end.
	var typeCheck func(head []byte) error
	if tc, ok := s.opts.Extractor.(TypeChecker); ok {
		typeCheck = func(head []byte) error {
			in := &MetaInput{Name: name, DeclaredType: declaredType(opts), Head: head}
			if err := tc.CheckType(ctx, in); err != nil {
				return fmt.Errorf("filestore: put: %w", err)
			}
			return nil
		}
	}
	st, err := s.pass(ctx, r, limit, want, owner, name, existing, cands, pathCheck, typeCheck)
	if err != nil {
		return nil, err
	}
	if st.copy != nil {
		defer st.copy.Close()
	}
	if st.rescan {
		if st.scan, err = s.rescan(ctx, st, owner, name); err != nil {
			if st.ownsBytes() {
				s.dropStaged(st.key)
			}
			return nil, err
		}
	}
	id := s.opts.NewID()
	if !validID(id) {
		if st.ownsBytes() {
			s.dropStaged(st.key)
		}
		// The Store's configuration is wrong, not the caller's request:
		// no sentinel (httpapi answers 500).
		return nil, fmt.Errorf("filestore: put: Options.NewID returned %q, which is no file id (1 to %d characters of A-Z, a-z, 0-9 and \"-._~\"); nothing is stored", id, maxIDLen)
	}
	f, err := s.commit(ctx, st, id, owner, folder, name, opts)
	if errors.Is(err, dedup.ErrObjectGone) && st.copy != nil {
		// The stored object the upload matched was purged meanwhile;
		// its bytes, or its open copy, still hold the upload's.
		if st, err = s.restage(ctx, st); err != nil {
			return nil, err
		}
		f, err = s.commit(ctx, st, id, owner, folder, name, opts)
	}
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, dedup.ErrOutcomeUnknown):
		return s.recoverCommit(ctx, st, id, owner, err)
	default:
		if st.ownsBytes() {
			s.dropStaged(st.key)
		}
		return nil, err
	}
}

// recoverCommit handles a commit whose outcome is unknown: if the row is
// there, the upload succeeded; otherwise the staged bytes stay for Collect,
// which removes them once no commit can still reference them. Deleting them
// here could leave a committed row without its bytes.
func (s *Service) recoverCommit(ctx context.Context, st *staged, id, owner string, cause error) (*File, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	row, err := s.cat.Get(rctx, owner, id)
	if err == nil && row.SHA256 != hex.EncodeToString(st.sum) {
		// Another file has the id (Options.NewID repeated itself), so
		// this upload's commit cannot have happened. Its staged bytes
		// are left for Collect.
		return nil, s.translate("put", dedup.ErrIDTaken)
	}
	if err != nil {
		s.log.WarnContext(ctx, "filestore: commit outcome unknown; staged bytes left for Collect", "id", id, "key", st.key, "error", cause)
		return nil, s.translate("put", cause)
	}
	if row.Key != st.key && st.ownsBytes() {
		s.dropStaged(st.key)
	}
	return toFile(row)
}

// pass runs the upload pass and leaves the content durable under a fresh
// key; with existing (the key of a stored object whose digest the client
// announced) it writes nothing, and content that ends within InlineMax
// bytes is kept for the catalogue instead of written. With cands (stored
// objects of the size the caller declared) it writes nothing while the
// upload matches one of them, and if the whole upload is one, returns it
// as existing (see comparer). typeCheck (nil: none) runs once the head
// is complete (HeadSize bytes, or the whole content), before that chunk is
// written. pathCheck runs before anything is written,
// unless the content is inline. On any error nothing has become visible in
// the bucket.
func (s *Service) pass(ctx context.Context, r io.Reader, limit int64, want []byte, owner, name, existing string, cands []dedup.StoredObject, pathCheck func() error, typeCheck func(head []byte) error) (_ *staged, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	key := existing
	// The first read decides whether the content is small enough to be
	// inline; the loop below then takes it as its first chunk.
	var (
		first    *chunk
		firstErr error
		inline   bool
	)
	if existing == "" && s.opts.InlineMax > 0 {
		first, firstErr = s.firstRead(r)
		inline = firstErr == io.EOF && first.n > 0 && int64(first.n) <= s.opts.InlineMax
	}
	if !inline {
		if err := pathCheck(); err != nil {
			return nil, err
		}
	}
	var w writer = discard{}
	// The bucket writer's sink; none when nothing is written, so that the
	// verify-only pass hashes without handing chunks to another goroutine.
	var store *sink
	var sinks []*sink
	if existing == "" {
		key = s.stagingKey() // never written when inline
	}
	startStore := func(to writer) {
		w = to
		store = s.startSink(func(b []byte) error { _, err := w.Write(b); return err })
		sinks = append(sinks, store)
	}
	// stageNew starts the store sink on a writer of the staged object.
	stageNew := func() error {
		bw, err := s.bucket.NewWriter(ctx, key)
		if err != nil {
			return s.translate("put", err)
		}
		startStore(bw)
		return nil
	}
	// With candidates (stored objects of the declared size), the store
	// sink starts with the first chunk, which picks one (see comparer).
	compare := existing == "" && !inline && len(cands) > 0
	if existing == "" && !inline && !compare {
		if err := stageNew(); err != nil {
			return nil, err
		}
	}
	var cmp *comparer
	var ring chan *chunk

	var (
		pw       *io.PipeWriter
		scanSink *sink
		scanDone chan struct{}
		scanRes  *ScanResult
		scanErr  error
	)
	if s.opts.Scanner != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		scanDone = make(chan struct{})
		go func() {
			defer close(scanDone)
			scanRes, scanErr = s.scan(ctx, pr)
			pr.CloseWithError(errScanEnded)
		}()
		scanSink = s.startSink(func(b []byte) error { _, err := pw.Write(b); return err })
		sinks = append(sinks, scanSink)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort: cancelling ctx makes the writer's Close discard the
		// object; every goroutine is joined before returning.
		cancel()
		if pw != nil {
			pw.CloseWithError(err)
		}
		for _, k := range sinks {
			_ = k.finish()
		}
		_ = w.Close()
		if scanDone != nil {
			<-scanDone
		}
	}()

	h := sha256.New()
	var size int64
	var head []byte
	// With no sink (the pass only verifies content already stored), one
	// larger buffer serves every read: fewer, larger reads of the body cost
	// the reading goroutine fewer wake-ups (see docs/benchmarks.md).
	var own *chunk
	if len(sinks) == 0 && !inline && !compare { // an inline pass has read everything
		own = &chunk{buf: make([]byte, verifyChunkSize)}
	}
	drop := func(c *chunk) {
		if c != own {
			s.putChunk(c)
		}
	}
	scanSeen := false // the scan's early end has been looked at
	// checkType runs typeCheck once, when the head is complete.
	typeChecked := typeCheck == nil
	checkType := func(eof bool) error {
		if typeChecked || len(head) < HeadSize && !eof {
			return nil
		}
		typeChecked = true
		return typeCheck(head)
	}
	for {
		if err := ctx.Err(); err != nil {
			// Cancelled, or the Store closed: stop reading and staging.
			return nil, fmt.Errorf("filestore: put: %w", err)
		}
		c, rerr := first, firstErr
		if c != nil {
			first = nil
		} else {
			switch {
			case own != nil:
				c = own
			case ring != nil:
				select {
				case c = <-ring:
				case <-ctx.Done():
					return nil, fmt.Errorf("filestore: put: %w", ctx.Err())
				}
			default:
				c = s.getChunk()
			}
			c.n, rerr = readChunk(r, c.buf)
		}
		n := c.n
		if n > 0 {
			size += int64(n)
			if size > limit {
				drop(c)
				return nil, fmt.Errorf("filestore: put: %w: more than %d bytes", ErrTooLarge, limit)
			}
			h.Write(c.buf[:n])
			if len(head) < HeadSize {
				if head == nil {
					// One allocation, not a chain of growing copies; only
					// as large as a body that ends in its first chunk.
					capacity := HeadSize
					if rerr == io.EOF {
						capacity = min(n, HeadSize)
					}
					head = make([]byte, 0, capacity)
				}
				head = append(head, c.buf[:min(n, HeadSize-len(head))]...)
			}
			if err := checkType(rerr == io.EOF); err != nil {
				drop(c)
				return nil, err
			}
			if compare && store == nil {
				// The first chunk: if a stored object begins with it,
				// compare with that object, reading in chunks of a
				// ring of the pass's own (the stored copy costs less
				// in fewer, larger reads); otherwise stage as usual.
				cand, cr, err := s.pickCandidate(ctx, cands, c.buf[:n])
				if err != nil {
					drop(c)
					return nil, s.translate("put: compare", err)
				}
				if cand != nil {
					cmp = newComparer(ctx, s.bucket, key, *cand, cr)
					ring = make(chan *chunk, compareRing)
					for range compareRing {
						ring <- &chunk{buf: make([]byte, verifyChunkSize), home: ring}
					}
					startStore(cmp)
				} else if err := stageNew(); err != nil {
					drop(c)
					return nil, err
				}
			}
			if len(sinks) > 0 { // else c is own, read again
				c.refs.Store(int32(len(sinks)))
				for _, k := range sinks {
					if !s.send(ctx, k, c) {
						return nil, fmt.Errorf("filestore: put: %w", ctx.Err())
					}
				}
			}
		} else {
			drop(c)
		}
		if rerr == io.EOF {
			// An upload that ended on a chunk's end (or was empty): the
			// head was complete only now.
			if err := checkType(true); err != nil {
				return nil, err
			}
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("filestore: put: %w", ctx.Err())
			}
			return nil, fmt.Errorf("filestore: put: reading content: %w", rerr)
		}
		if store != nil && store.failed.Load() {
			break
		}
		if scanDone != nil && !scanSeen {
			select {
			case <-scanDone:
				// The scan ended before the content. If its outcome
				// refuses the upload whatever follows (over the scanner's
				// limit, the scanner down under fail-closed), stop now
				// instead of reading and staging the rest.
				scanSeen = true
				if s.refuses(scanRes, scanErr) {
					if _, verr := s.verdict(ctx, scanRes, scanErr, owner, name); verr != nil {
						return nil, verr
					}
				}
			default:
			}
		}
	}
	if compare && store == nil {
		// An empty upload: stored in the bucket like any other.
		if err := stageNew(); err != nil {
			return nil, err
		}
	}
	if store != nil {
		if err := store.finish(); err != nil {
			return nil, s.translate("put: staging", err)
		}
	}
	if pw != nil {
		_ = scanSink.finish()
		pw.Close()
		<-scanDone
	}
	sum := h.Sum(nil)
	if want != nil && !bytes.Equal(want, sum) {
		return nil, fmt.Errorf("filestore: put: %w: content is %x", ErrDigestMismatch, sum)
	}
	// A streaming scan that the client's pace left without a verdict is
	// done again after the pass, on the complete content (see rescan).
	rescan := errors.Is(scanErr, ErrScanIncomplete) && ctx.Err() == nil
	var scan ScanInfo
	if !rescan {
		if scan, err = s.verdict(ctx, scanRes, scanErr, owner, name); err != nil {
			return nil, err
		}
	}
	if cmp != nil {
		if stored, ok := cmp.stored(size, sum); ok {
			// Nothing was written; the open copy goes to the commit.
			return &staged{key: stored, existing: true, size: size, sum: sum, head: head, scan: scan, rescan: rescan, at: s.opts.Now(), copy: cmp.takeCandidate()}, nil
		}
		// Staged already, or every byte matched but the upload is
		// shorter than the stored object (or that is not what its name
		// says): then it is staged whole now.
		if err := cmp.staged(); err != nil {
			return nil, s.translate("put: staging", err)
		}
	}
	if err := w.Close(); err != nil {
		// A close that failed late (the directory sync) may leave the
		// object visible but not known durable: it must not be used.
		if existing == "" {
			s.dropFailed(key)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("filestore: put: %w", ctx.Err())
		}
		return nil, s.translate("put: staging", err)
	}
	return &staged{key: key, existing: existing != "", inline: inline, size: size, sum: sum, head: head, scan: scan, rescan: rescan, at: s.opts.Now()}, nil
}

// firstRead reads the first chunk of a pass that may turn out inline: into
// a small buffer of its own, and only when the content goes on, into a
// pool buffer (the small buffer's bytes copied to its start) filled as
// usual. A small upload so costs no 128 KiB buffer, which the pool would
// lose at every garbage collection.
func (s *Service) firstRead(r io.Reader) (*chunk, error) {
	small := &chunk{buf: make([]byte, min(smallRead, s.opts.InlineMax+1))}
	n, err := readChunk(r, small.buf)
	small.n = n
	if err != nil {
		return small, err
	}
	c := s.getChunk()
	copy(c.buf, small.buf[:n])
	m, err := readChunk(r, c.buf[n:])
	c.n = n + m
	return c, err
}

// readChunk fills buf from r. It returns io.EOF (with the bytes before it)
// only when r ended; any other error of r, io.ErrUnexpectedEOF included (a
// truncated body), is returned as r's failure. io.ReadFull cannot be used:
// it turns a short final read into io.ErrUnexpectedEOF, indistinguishable
// from a reader that failed with that error.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n, idle := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if idle++; idle == 100 {
				return n, io.ErrNoProgress
			}
			continue
		}
		idle = 0
	}
	return n, nil
}

// writer is where the pass writes the content.
type writer interface {
	Write(p []byte) (int, error)
	Close() error
}

// discard is the writer of a pass that stores nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }

// rescan scans the complete content of st again, after a streaming scan
// that ended with ErrScanIncomplete (the client sent too slowly for it), at
// the pace of memory or the bucket: from the head when it holds the whole
// content (inline content among it), else from the object under st.key
// (staged, or the stored object the upload matched; see storedBytes).
// That verdict decides under
// the scan policy, a second ErrScanIncomplete counting as the scanner being
// unavailable. Failing to read the content gives an error wrapping
// ErrUnavailable.
func (s *Service) rescan(ctx context.Context, st *staged, owner, name string) (ScanInfo, error) {
	s.log.InfoContext(ctx, "filestore: streaming scan incomplete, scanning the stored content", "owner", owner, "name", name, "size", st.size)
	var src io.Reader = bytes.NewReader(st.head)
	if int64(len(st.head)) != st.size {
		r, done, err := s.storedBytes(ctx, st)
		if err == nil {
			defer done()
			_, err = r.Seek(0, io.SeekStart)
		}
		if err != nil {
			return ScanInfo{}, fmt.Errorf("filestore: put: %w: rereading the content to scan: %w", ErrUnavailable, err)
		}
		src = io.LimitReader(r, st.size)
	}
	content := &errReader{r: src}
	res, err := s.scan(ctx, content)
	if content.err != nil && ctx.Err() == nil {
		return ScanInfo{}, fmt.Errorf("filestore: put: %w: rereading the content to scan: %w", ErrUnavailable, content.err)
	}
	return s.verdict(ctx, res, err, owner, name)
}

// errReader keeps its reader's first error other than io.EOF, so that a
// failure to read the content is not taken for the scanner's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// refuses reports whether the scanner's outcome refuses the upload whatever
// the rest of its content: malware found, over the scanner's limit under
// OversizeReject, the scanner busy, or the scanner unavailable under
// fail-closed. It logs
// nothing; verdict does, once the outcome is applied.
func (s *Service) refuses(res *ScanResult, scanErr error) bool {
	switch {
	case scanErr == nil:
		return res != nil && res.Signature != ""
	case errors.Is(scanErr, ErrScanIncomplete):
		return false
	case errors.Is(scanErr, ErrScanLimit):
		return s.opts.ScanOversize != OversizeUnscanned
	case errors.Is(scanErr, ErrScannerBusy):
		return true
	default:
		return s.opts.ScanPolicy != FailOpen
	}
}

// verdict applies the scan policy to the scanner's outcome.
func (s *Service) verdict(ctx context.Context, res *ScanResult, scanErr error, owner, name string) (ScanInfo, error) {
	unscanned := ScanInfo{Status: ScanUnscanned}
	switch {
	case s.opts.Scanner == nil:
		return unscanned, nil
	case scanErr == nil && res != nil && res.Signature != "":
		s.log.WarnContext(ctx, "filestore: infected upload refused", "owner", owner, "name", name, "signature", res.Signature)
		return ScanInfo{}, fmt.Errorf("filestore: put: %w", &InfectedError{Signature: res.Signature})
	case scanErr == nil && res != nil:
		now := s.opts.Now().UTC()
		return ScanInfo{Status: ScanClean, Engine: res.Engine, Version: res.Version, ScannedAt: &now}, nil
	case ctx.Err() != nil:
		return ScanInfo{}, fmt.Errorf("filestore: put: %w", ctx.Err())
	case errors.Is(scanErr, ErrScanLimit):
		if s.opts.ScanOversize == OversizeUnscanned {
			s.log.WarnContext(ctx, "filestore: upload too large to scan, stored unscanned", "owner", owner, "name", name, "error", scanErr)
			return unscanned, nil
		}
		return ScanInfo{}, fmt.Errorf("filestore: put: %w: %w", ErrTooLarge, scanErr)
	case errors.Is(scanErr, ErrScannerBusy):
		return ScanInfo{}, s.refuseBusy(ctx, owner, name, scanErr)
	case s.opts.ScanPolicy == FailOpen:
		// Only a scanner that is down lets content in unscanned: one that
		// still answers (a second incomplete scan, a timeout the scanner
		// did not tell from a busy one) is busy.
		var perr error = scanErr // a scanner that found itself down
		if !errors.Is(scanErr, ErrScannerDown) {
			perr = s.pingScanner(ctx)
		}
		if ctx.Err() != nil {
			return ScanInfo{}, fmt.Errorf("filestore: put: %w", ctx.Err())
		}
		if perr == nil {
			return ScanInfo{}, s.refuseBusy(ctx, owner, name, fmt.Errorf("%w: the scanner gave no verdict, yet answers Ping: %w", ErrScannerBusy, scanErr))
		}
		s.log.WarnContext(ctx, "filestore: scanner unavailable, stored unscanned (fail-open)", "owner", owner, "name", name, "error", scanErr, "ping", perr)
		return unscanned, nil
	default:
		if scanErr == nil {
			scanErr = errors.New("scanner returned no verdict")
		}
		return ScanInfo{}, fmt.Errorf("filestore: put: %w: %w", ErrScannerUnavailable, scanErr)
	}
}

// refuseBusy logs and returns the refusal of an upload that a busy scanner
// (scanErr wraps ErrScannerBusy) gave no verdict on, under either policy.
func (s *Service) refuseBusy(ctx context.Context, owner, name string, scanErr error) error {
	s.log.WarnContext(ctx, "filestore: scanner busy, upload refused (under either policy)", "owner", owner, "name", name, "error", scanErr)
	return fmt.Errorf("filestore: put: %w: %w", ErrScannerUnavailable, scanErr)
}

// pingScannerWithin bounds the Ping with which Put checks, under
// fail-open, that a scanner which gave no verdict is down.
const pingScannerWithin = 5 * time.Second

// pingScanner returns nil when the scanner answers Ping within
// pingScannerWithin, or says it is busy (it is up, so the upload that it
// gave no verdict on is refused as busy), and an error saying why it
// counts as down otherwise: it failed the Ping, or it is not a Pinger and
// so cannot tell. Put does not call it for a scan error that wraps
// ErrScannerDown: the scanner has just checked itself.
func (s *Service) pingScanner(ctx context.Context) error {
	p, ok := s.opts.Scanner.(Pinger)
	if !ok {
		return errors.New("the scanner is not a Pinger")
	}
	pctx, cancel := context.WithTimeout(ctx, pingScannerWithin)
	defer cancel()
	if err := p.Ping(pctx); err != nil && !errors.Is(err, ErrScannerBusy) {
		return err
	}
	return nil
}

// declaredType is the content type the client declared, for the
// extractor: none when it declared application/octet-stream.
func declaredType(opts *PutOptions) string {
	declared := strings.TrimSpace(opts.ContentType)
	if strings.EqualFold(declared, "application/octet-stream") {
		return ""
	}
	return declared
}

// commit extracts metadata from the staged content and commits the file.
func (s *Service) commit(ctx context.Context, st *staged, id, owner, folder, name string, opts *PutOptions) (*File, error) {
	declared := declaredType(opts)
	md := &Metadata{}
	if s.opts.Extractor == nil {
		md.ContentType = http.DetectContentType(st.head)
	} else {
		var err error
		var content io.ReaderAt
		copied, open := st.copy.(io.ReaderAt)
		switch {
		case open:
			content = copied // the stored copy the pass compared, still open
		case st.inline || int64(len(st.head)) == st.size:
			// The head holds it all (and an inline object stored
			// earlier has nothing in the bucket).
			content = bytes.NewReader(st.head)
		default:
			content = s.bucket.ReaderAt(ctx, st.key)
		}
		md, err = s.extract(ctx, &MetaInput{
			Name: name, DeclaredType: declared, Head: st.head, Size: st.size, Content: content,
		})
		if err != nil {
			return nil, fmt.Errorf("filestore: put: %w", err)
		}
	}
	metaJSON, err := json.Marshal(md.Meta)
	if err != nil {
		return nil, fmt.Errorf("filestore: put: metadata: %w", err)
	}
	row := &dedup.File{
		ID: id, Owner: owner, Folder: folder, Name: name,
		SHA256: hex.EncodeToString(st.sum), Size: st.size, ContentType: md.ContentType,
		Meta: string(metaJSON), ScanStatus: string(st.scan.Status), ScanEngine: st.scan.Engine,
		ScanVersion: st.scan.Version,
	}
	if st.scan.ScannedAt != nil {
		us := dedup.Micros(*st.scan.ScannedAt)
		row.ScannedAt = &us
	}
	req := dedup.CommitRequest{File: row, Key: st.key, Overwrite: opts.Overwrite, Existing: st.existing}
	if st.inline {
		req.Data = st.head
	} else {
		req.Deadline = st.at.Add(s.opts.StagingTTL / 2)
	}
	res, err := s.cat.Commit(ctx, req)
	if err != nil {
		if errors.Is(err, dedup.ErrOutcomeUnknown) {
			return nil, err
		}
		return nil, s.translate(fmt.Sprintf("put %q", name), err)
	}
	if res.DedupHit && st.ownsBytes() {
		s.dropStaged(st.key)
	}
	// Only content the owner already had counts: a hit on content that
	// only other owners have would tell anyone who reads the counter
	// (GET /metrics) that someone has stored it.
	if st.existing {
		s.dedupHits.Add(1)
	} else if res.DedupHit {
		if own, err := s.cat.OwnerHasOther(ctx, owner, res.File.SHA256, res.File.ID); err == nil && own {
			s.dedupHits.Add(1)
		}
	}
	return toFile(res.File)
}

// restage stages the content of st, an upload that matched a stored object
// whose row has since gone away (which its pin prevents, unless the pin
// expired or a server without pins removed it: see pin), and returns it as
// a new staged object. It reads the object's bytes under ctx if they are
// still in the bucket (the copy the comparison read was opened under the
// pass's context, which has ended: an S3 copy, which opens the object
// again to read from its start, would fail), and otherwise the copy (a
// local object's open file, readable after it is deleted). If neither can
// be read, the error wraps ErrUnavailable and nothing is left behind.
func (s *Service) restage(ctx context.Context, st *staged) (*staged, error) {
	src, done, err := s.storedBytes(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("filestore: put: %w: rereading the stored copy: %v", ErrUnavailable, err)
	}
	defer done()
	key := s.stagingKey()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key)
	if err != nil {
		return nil, s.translate("put: staging", err)
	}
	if err := copyFromStart(w, src, st.size, nil); err != nil {
		cancel() // Close then discards the object
		_ = w.Close()
		return nil, fmt.Errorf("filestore: put: %w: rereading the stored copy: %v", ErrUnavailable, err)
	}
	if err := w.Close(); err != nil {
		s.dropFailed(key)
		return nil, s.translate("put: staging", err)
	}
	return &staged{key: key, size: st.size, sum: st.sum, head: st.head, scan: st.scan, at: s.opts.Now()}, nil
}

// storedBytes opens st.key, the object whose bytes are the upload's, under
// ctx while the bucket has it, and otherwise returns st.copy, the copy the
// pass compared the upload with (opened under the pass's context, which
// has ended, so that an S3 copy, which opens the object again to read from
// its start, cannot be read; a local object's open file stays readable
// after it is deleted). done releases what it opened; st.copy stays
// Put's to close.
func (s *Service) storedBytes(ctx context.Context, st *staged) (r io.ReadSeeker, done func(), err error) {
	br, err := s.bucket.Open(ctx, st.key)
	switch {
	case err == nil:
		return br, func() { _ = br.Close() }, nil
	case st.copy != nil:
		return st.copy, func() {}, nil
	default:
		return nil, nil, err
	}
}

// dropStaged deletes staged bytes that no row references. A failure only
// costs space until Collect, so it is logged, not returned.
func (s *Service) dropStaged(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.bucket.Delete(ctx, key); err != nil {
		s.log.Warn("filestore: could not delete staged object; Collect will", "key", key, "error", err)
	}
}

// dropFailed deletes what a staging write that failed may have left, with
// a single try: the write most likely failed because the bucket cannot be
// reached, and retrying the deletion would only add to the caller's wait
// and the log; Collect removes what is left. On S3 the server may still
// store the object after this delete (a request it had whole when the
// write was cancelled): the Writer's Close has then scheduled deletes of
// its own, 1 s and 4 s later (see storage.Writer.Close).
func (s *Service) dropFailed(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.bucket.TryDelete(ctx, key); err != nil {
		s.log.Debug("filestore: could not delete a failed staging write; Collect will", "key", key, "error", err)
	}
}

// toFile converts a catalogue row to a File.
func toFile(r *dedup.File) (*File, error) {
	f := &File{
		ID: r.ID, Owner: r.Owner, Name: r.Name, Folder: r.Folder, Size: r.Size, SHA256: r.SHA256,
		ContentType: r.ContentType, CreatedAt: dedup.Time(r.CreatedAt), UpdatedAt: dedup.Time(r.UpdatedAt),
		Scan: ScanInfo{Status: ScanStatus(r.ScanStatus), Engine: r.ScanEngine, Version: r.ScanVersion},
	}
	if r.DeletedAt != nil {
		t := dedup.Time(*r.DeletedAt)
		f.DeletedAt = &t
	}
	if r.ScannedAt != nil {
		t := dedup.Time(*r.ScannedAt)
		f.Scan.ScannedAt = &t
	}
	if r.Meta != "" {
		if err := json.Unmarshal([]byte(r.Meta), &f.Meta); err != nil {
			return nil, fmt.Errorf("filestore: file %s: metadata: %w", r.ID, err)
		}
	}
	return f, nil
}
