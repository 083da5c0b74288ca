package httpapi

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// contentReader is the Store's reader as http.ServeContent reads it. It
// knows the content's size from the file's row, so ServeContent's two
// seeks to learn the size and its seek to a range's first byte cost no
// system call: a reader that is an io.ReaderAt (a local object's
// *os.File, inline content) is read with ReadAt at the position asked
// for, and another (an S3 object) is seeked only when a Read needs it
// elsewhere than where it stands.
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

	mu  sync.Mutex
	err error
}

func newContentReader(rs io.ReadSeeker, size int64) *contentReader {
	ra, _ := rs.(io.ReaderAt)
	return &contentReader{rs: rs, ra: ra, size: size}
}

// errSeek is a seek to a position before the start.
var errSeek = errors.New("httpapi: seek before the start of the content")

// Seek implements io.Seeker without touching the underlying reader.
func (r *contentReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, fmt.Errorf("httpapi: seek with whence %d", whence)
	}
	if abs < 0 {
		return 0, errSeek
	}
	r.pos = abs
	return abs, nil
}

// Read implements io.Reader.
func (r *contentReader) Read(p []byte) (int, error) {
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
