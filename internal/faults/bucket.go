package faults

import (
	"context"
	"errors"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// defaultPageSize is the listing page size when the caller asks for none.
const defaultPageSize = 1000

// Bucket is a gocloud.dev/blob driver that delegates every call to an inner
// *blob.Bucket (any backend: memblob, fileblob, s3blob) and fails the calls
// its Injector's rules select. Wrap it with blob.NewBucket, or use
// OpenBucket. The Bucket owns inner and closes it in Close.
type Bucket struct {
	inner *blob.Bucket
	in    *Injector
}

var _ driver.Bucket = (*Bucket)(nil)

// NewBucket returns a driver over inner whose faults in decides.
func NewBucket(inner *blob.Bucket, in *Injector) *Bucket {
	return &Bucket{inner: inner, in: in}
}

// OpenBucket returns a portable bucket over NewBucket(inner, in).
func OpenBucket(inner *blob.Bucket, in *Injector) *blob.Bucket {
	return blob.NewBucket(NewBucket(inner, in))
}

// ErrorCode reports an injected *Error's Code, and the inner bucket's code
// for its own errors (gcerrors.NotFound for a missing object, ...).
func (b *Bucket) ErrorCode(err error) gcerrors.ErrorCode {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return gcerrors.Code(err)
}

// As exposes the inner bucket's driver-specific types.
func (b *Bucket) As(i any) bool { return b.inner.As(i) }

// ErrorAs exposes the inner bucket's driver-specific error types.
func (b *Bucket) ErrorAs(err error, i any) bool {
	if errors.As(err, i) {
		return true
	}
	return b.inner.ErrorAs(err, i)
}

// Attributes returns the inner bucket's attributes of key, unless OpAttributes
// fails.
func (b *Bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	if r := b.in.check(OpAttributes, key); r != nil {
		return nil, b.in.fire(r)
	}
	a, err := b.inner.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{
		CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition,
		ContentEncoding: a.ContentEncoding, ContentLanguage: a.ContentLanguage,
		ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime,
		ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag, AsFunc: a.As,
	}, nil
}

// ListPaged lists one page of the inner bucket, unless OpList fails (the
// subject is opts.Prefix).
func (b *Bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	r := b.in.check(OpList, opts.Prefix)
	if r != nil && !r.Applied {
		return nil, b.in.fire(r)
	}
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	size := opts.PageSize
	if size <= 0 {
		size = defaultPageSize
	}
	objs, next, err := b.inner.ListPage(ctx, token, size, &blob.ListOptions{
		Prefix: opts.Prefix, Delimiter: opts.Delimiter, BeforeList: opts.BeforeList,
	})
	if err != nil {
		return nil, err
	}
	if r != nil {
		return nil, b.in.fire(r)
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{
			Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir, AsFunc: o.As,
		})
	}
	return page, nil
}

// NewRangeReader opens a reader of the inner bucket, unless OpNewReader
// fails; the reader fails mid-stream when an OpRead rule selects it.
func (b *Bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	if r := b.in.check(OpNewReader, key); r != nil {
		return nil, b.in.fire(r)
	}
	rd, err := b.inner.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, err
	}
	return &reader{in: b.in, r: rd, rule: b.in.check(OpRead, key)}, nil
}

// NewTypedWriter opens a writer of the inner bucket, unless OpNewWriter
// fails. The writer fails mid-stream when an OpWrite rule selects it, and
// at Close when an OpClose rule does.
func (b *Bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	if r := b.in.check(OpNewWriter, key); r != nil {
		return nil, b.in.fire(r)
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := b.inner.NewWriter(wctx, key, &blob.WriterOptions{
		BufferSize: opts.BufferSize, MaxConcurrency: opts.MaxConcurrency,
		CacheControl: opts.CacheControl, ContentDisposition: opts.ContentDisposition,
		ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage,
		ContentType: contentType, ContentMD5: opts.ContentMD5, Metadata: opts.Metadata,
		DisableContentTypeDetection: opts.DisableContentTypeDetection,
		BeforeWrite:                 opts.BeforeWrite, IfNotExist: opts.IfNotExist,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &writer{in: b.in, w: w, cancel: cancel, key: key, rule: b.in.check(OpWrite, key)}, nil
}

// Copy copies within the inner bucket, unless OpCopy fails (the subject is
// dstKey).
func (b *Bucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	r := b.in.check(OpCopy, dstKey)
	if r != nil && !r.Applied {
		return b.in.fire(r)
	}
	if err := b.inner.Copy(ctx, dstKey, srcKey, &blob.CopyOptions{BeforeCopy: opts.BeforeCopy}); err != nil {
		return err
	}
	if r != nil {
		return b.in.fire(r)
	}
	return nil
}

// Delete deletes from the inner bucket, unless OpDelete fails.
func (b *Bucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	r := b.in.check(OpDelete, key)
	if r != nil && !r.Applied {
		return b.in.fire(r)
	}
	if err := b.inner.Delete(ctx, key); err != nil {
		return err
	}
	if r != nil {
		return b.in.fire(r)
	}
	return nil
}

// SignedURL is not supported: it reports gcerrors.Unimplemented.
func (b *Bucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", &Error{Code: gcerrors.Unimplemented, Err: errors.ErrUnsupported}
}

// Close closes the inner bucket.
func (b *Bucket) Close() error { return b.inner.Close() }
