package meta

import (
	"context"
	"errors"
	"io"
)

// blockSize is the unit of range reads beyond Head: reads are aligned to it
// and cached, so a parser's many small reads cost one request per block.
const blockSize = 64 << 10

// errBudget ends a read that would take more of the content than MaxRead.
var errBudget = errors.New("meta: read budget exhausted")

// source is the content as the parsers see it: Head from memory, and beyond
// it range reads of MetaInput.Content, in cached blocks, at most budget bytes
// in all, each preceded by a check of ctx.
type source struct {
	ctx     context.Context
	head    []byte
	content io.ReaderAt
	size    int64
	budget  int64
	blocks  map[int64][]byte
	// ctxErr is set when ctx ended a read; Extract then fails with it.
	ctxErr error
	// readErr is the first error Content returned, for the warning log.
	readErr error
}

// newSource makes the source of one Extract. Without content, only head
// can be read.
func newSource(ctx context.Context, head []byte, content io.ReaderAt, size, budget int64) *source {
	s := &source{ctx: ctx, head: head, content: content, size: int64(len(head)), budget: budget}
	if content != nil && size > s.size {
		s.size = size
	}
	return s
}

// ReadAt implements io.ReaderAt.
func (s *source) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("meta: negative offset")
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= s.size {
			return n, io.EOF
		}
		if pos < int64(len(s.head)) {
			n += copy(p[n:], s.head[pos:])
			continue
		}
		idx := pos / blockSize
		b, err := s.block(idx)
		if err != nil {
			return n, err
		}
		i := pos - idx*blockSize
		if i >= int64(len(b)) {
			return n, io.EOF
		}
		n += copy(p[n:], b[i:])
	}
	return n, nil
}

// block returns block idx of the content, reading it when not cached.
func (s *source) block(idx int64) ([]byte, error) {
	if b, ok := s.blocks[idx]; ok {
		return b, nil
	}
	if s.content == nil {
		return nil, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		s.ctxErr = err
		return nil, err
	}
	start := idx * blockSize
	n := min(blockSize, s.size-start)
	if n > s.budget {
		return nil, errBudget
	}
	s.budget -= n
	buf := make([]byte, n)
	m, err := s.content.ReadAt(buf, start)
	if m < len(buf) {
		if err == nil || !errors.Is(err, io.EOF) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			if cerr := s.ctx.Err(); cerr != nil {
				s.ctxErr = cerr
			} else if s.readErr == nil {
				s.readErr = err
			}
			return nil, err
		}
		buf = buf[:m]
	}
	if s.blocks == nil {
		s.blocks = make(map[int64][]byte)
	}
	s.blocks[idx] = buf
	return buf, nil
}

// bytesAt reads n bytes at off, or fails.
func (s *source) bytesAt(off int64, n int) ([]byte, error) {
	if n < 0 || off < 0 || off+int64(n) > s.size {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, n)
	if _, err := s.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// reader returns the whole content as an io.Reader that is also an
// io.ReaderAt and io.Seeker.
func (s *source) reader() *io.SectionReader {
	return io.NewSectionReader(s, 0, s.size)
}
