package httpapi

import (
	"fmt"
	"io"
	"sync"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/internal/seek"
)

// contentReader is the Store's reader as http.ServeContent reads it. It
// knows the content's size from the file's row, so ServeContent's two
// seeks to learn the size and its seek to a range's first byte cost no
// system call: a reader that is an io.ReaderAt (a local object's
// *os.File, inline content) is read with ReadAt at the position asked
// for, and another (an S3 object) is seeked only when a Read needs it
// elsewhere than where it stands.
//
// Before the header of an answer of one part goes, prime reads the start
// of that part from a source that is not an io.ReaderAt, so that a remote
// object that is gone gives an error answer, not a 200 that ends short.
//
// It also keeps the first read error other than io.EOF, which
// ServeContent does not report, and counts content shorter than the row's
// size as io.ErrUnexpectedEOF. For several ranges ServeContent reads in a
// goroutine of its own that may still be reading when it returns: err is
// guarded; the position is used by one goroutine at a time.
type contentReader struct {
	rs   io.ReadSeeker
	ra   io.ReaderAt // rs as an io.ReaderAt, or nil
	size int64
	pos  int64 // the position of the next Read
	at   int64 // rs's own position, when ra is nil

	ahead    []byte // what prime read from pos on and Read has not given yet
	primeErr error  // prime's failure, which every Read then returns

	// partEnds are the ends of a multipart answer's parts by their first
	// byte (see partEnds): a Seek to a part's start limits the source's
	// reads to the part (filestore.ReadLimiter). nil: one part.
	partEnds map[int64]int64

	mu  sync.Mutex
	err error
}

func newContentReader(rs io.ReadSeeker, size int64) *contentReader {
	ra, _ := rs.(io.ReaderAt)
	return &contentReader{rs: rs, ra: ra, size: size}
}

// Seek implements io.Seeker without touching the underlying reader.
func (r *contentReader) Seek(offset int64, whence int) (int64, error) {
	abs, err := seek.Position(r.pos, r.size, offset, whence)
	if err != nil {
		return 0, fmt.Errorf("httpapi: seek of the content: %w", err)
	}
	if abs != r.pos {
		r.ahead = nil
	}
	r.pos = abs
	if end, ok := r.partEnds[abs]; ok {
		if l, ok := r.rs.(filestore.ReadLimiter); ok {
			l.LimitReads(end)
		}
	}
	return abs, nil
}

// primeSize is the most prime reads ahead: what io.CopyN, through which
// http.ServeContent copies the content, asks for at a time.
const primeSize = 32 << 10

// prime reads the first bytes of an answer of n bytes at the current
// position (the range's first byte) before the answer's header is sent,
// so that a source that opens lazily (a remote object, see
// filestore.Store.Get) reports an object gone or a bucket that does not
// answer while the answer can still say so. It reads as much as the
// first Read of the copy would, at most primeSize bytes, so a 4 KiB range
// is still one request of 4 KiB. A source that is an io.ReaderAt (a local
// object, inline content) was opened already and is not read ahead.
func (r *contentReader) prime(n int64) error {
	if r.ra != nil || n <= 0 || r.pos >= r.size {
		return nil
	}
	if l, ok := r.rs.(filestore.ReadLimiter); ok {
		// The rest of the part, not of the object, once the start is read.
		l.LimitReads(r.pos + n)
	}
	buf := make([]byte, min(n, primeSize, r.size-r.pos))
	at := r.pos
	k, err := io.ReadFull(readFunc(r.read), buf)
	r.pos = at
	if err != nil {
		// The answer is the error's; ServeContent's copy, which follows,
		// gets it too without asking the source again.
		r.primeErr = err
		return err
	}
	r.ahead = buf[:k]
	return nil
}

// readFunc is a function as an io.Reader.
type readFunc func(p []byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// Read implements io.Reader.
func (r *contentReader) Read(p []byte) (int, error) {
	if r.primeErr != nil {
		return 0, r.primeErr
	}
	if len(r.ahead) > 0 {
		n := copy(p, r.ahead)
		r.ahead, r.pos = r.ahead[n:], r.pos+int64(n)
		return n, nil
	}
	return r.read(p)
}

// read reads from the source at the current position.
func (r *contentReader) read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if int64(len(p)) > r.size-r.pos {
		p = p[:r.size-r.pos]
	}
	var n int
	var err error
	if r.ra != nil {
		n, err = r.ra.ReadAt(p, r.pos)
		if err == io.EOF && n == len(p) {
			err = nil
		}
	} else {
		if r.at != r.pos {
			if _, err := r.rs.Seek(r.pos, io.SeekStart); err != nil {
				return 0, r.record(err)
			}
			r.at = r.pos
		}
		n, err = r.rs.Read(p)
		r.at += int64(n)
	}
	r.pos += int64(n)
	if err == io.EOF && r.pos < r.size {
		err = fmt.Errorf("the stored object ends at byte %d of %d: %w", r.pos, r.size, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		return n, r.record(err)
	}
	return n, err
}

// record keeps err if it is the first, and returns it.
func (r *contentReader) record(err error) error {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	return err
}

// failure returns the first read error, if any.
func (r *contentReader) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
