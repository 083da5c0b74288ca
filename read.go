package filestore

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/filestore-go/filestore/dedup"
	"golang.org/x/text/unicode/norm"
)

// Get implements Store.Get.
func (s *Service) Get(ctx context.Context, owner, id string) (*File, io.ReadSeekCloser, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	if !findable(owner, id) {
		return nil, nil, notFound(ctx, "get", id)
	}
	row, err := s.cat.Get(ctx, owner, id)
	if err != nil {
		return nil, nil, s.translate("get "+id, err)
	}
	if row.DeletedAt != nil {
		return nil, nil, fmt.Errorf("filestore: get %s: %w (in the trash)", id, ErrNotFound)
	}
	f, err := toFile(row)
	if err != nil {
		return nil, nil, err
	}
	if row.Data != nil {
		// An inline object: the row brought the content.
		return f, inlineReader{bytes.NewReader(row.Data)}, nil
	}
	// On a file:// bucket the reader is the object's *os.File: seeks cost
	// no reopen. On others it asks for exactly the bytes a Read after a
	// seek wants, and for the rest of the object when reads go on.
	rd, err := s.bucket.OpenRange(ctx, row.Key, row.Size)
	if err != nil {
		// A purge may have removed it since the row was read.
		return nil, nil, s.translate("get "+id, err)
	}
	if _, ok := rd.(io.ReaderAt); !ok {
		// A remote object: its reads make the requests, and their errors
		// are the Store's.
		rd = &remoteReader{ReadSeekCloser: rd, s: s, op: "read " + id}
	}
	return f, rd, nil
}

// remoteReader is Get's reader of a remote object (a ReadLimiter), whose
// Read errors it gives the Store's sentinels: ErrNotFound for an object gone since the
// row was read, ErrUnavailable for a bucket that does not answer.
type remoteReader struct {
	io.ReadSeekCloser
	s  *Service
	op string
}

// LimitReads implements ReadLimiter.
func (r *remoteReader) LimitReads(end int64) {
	if l, ok := r.ReadSeekCloser.(ReadLimiter); ok {
		l.LimitReads(end)
	}
}

// Read implements io.Reader.
func (r *remoteReader) Read(p []byte) (int, error) {
	n, err := r.ReadSeekCloser.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.translate(r.op, err)
	}
	return n, err
}

// Stat implements Store.Stat.
func (s *Service) Stat(ctx context.Context, owner, id string) (*File, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !findable(owner, id) {
		return nil, notFound(ctx, "stat", id)
	}
	row, err := s.cat.Stat(ctx, owner, id)
	if err != nil {
		return nil, s.translate("stat "+id, err)
	}
	return toFile(row)
}

// List implements Store.List.
func (s *Service) List(ctx context.Context, owner string, opts *ListOptions) (*Page, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ListOptions{}
	}
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = 100
	case limit < 1 || limit > 1000:
		return nil, fmt.Errorf("filestore: list: %w: limit %d is outside 1-1000", ErrInvalidArgument, opts.Limit)
	}
	folder, err := CleanFolder(opts.Folder)
	if err != nil {
		return nil, fmt.Errorf("filestore: list: %w", err)
	}
	if !isText(opts.Query) {
		return nil, fmt.Errorf("filestore: list: %w: the query is not UTF-8 text without NUL", ErrInvalidArgument)
	}
	if checkOwner(owner) != nil {
		// No file has this owner (Put refuses it): nothing to ask for.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("filestore: list: %w", err)
		}
		return &Page{Files: []*File{}}, nil
	}
	rows, next, err := s.cat.List(ctx, owner, dedup.ListQuery{
		Folder: folder, Recursive: opts.Recursive, Query: norm.NFC.String(opts.Query), Trash: opts.Trash,
		Limit: limit, Cursor: opts.Cursor,
	})
	if err != nil {
		return nil, s.translate("list", err)
	}
	page := &Page{Files: make([]*File, 0, len(rows)), NextCursor: next}
	for _, r := range rows {
		f, err := toFile(r)
		if err != nil {
			return nil, err
		}
		page.Files = append(page.Files, f)
	}
	return page, nil
}

// inlineReader reads the content of an inline object; closing it does
// nothing.
type inlineReader struct{ *bytes.Reader }

// Close implements io.Closer.
func (inlineReader) Close() error { return nil }
