package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// MarkerKey is the key of a bucket's marker, at the root of the bucket (of
// its prefix), outside the object key space that List walks.
const MarkerKey = "filestore-catalog"

// Marker is what a bucket's marker object holds, as JSON: the catalogue
// the bucket belongs to.
type Marker struct {
	// Catalog is the catalogue's id (dedup.Catalog.ID).
	Catalog string `json:"catalog"`
}

// ReadMarker returns the bucket's marker. The error wraps ErrNotFound if
// there is none and ErrBadMarker if it is not a marker's JSON with a
// catalogue. Reading is retried on transient errors; the error wraps
// ctx.Err() if ctx is done.
func (b *Bucket) ReadMarker(ctx context.Context) (*Marker, error) {
	var data []byte
	err := b.retry(ctx, "read", MarkerKey, func(ctx context.Context) error {
		var opts *blob.ReaderOptions
		if b.s3 != nil {
			opts = &blob.ReaderOptions{BeforeRead: oneAttemptHook}
		}
		r, err := b.b.NewReader(ctx, MarkerKey, opts)
		if err != nil {
			return err
		}
		defer r.Close()
		data, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		return nil, opError("read", MarkerKey, err)
	}
	var m Marker
	if err := json.Unmarshal(data, &m); err != nil || m.Catalog == "" {
		return nil, fmt.Errorf("storage: marker %q: %w: %q", MarkerKey, ErrBadMarker, data)
	}
	return &m, nil
}

// CreateMarker stores m as the bucket's marker unless the bucket has one:
// then the error wraps ErrExists and the marker there is unchanged. Of two
// Buckets creating a marker at once, one succeeds and the other gets
// ErrExists: on a file:// bucket made by Open (across processes: the
// marker is linked into place, which fails if the name is taken; the
// marker is durable when CreateMarker returns, unless Options.NoSync), on
// S3 (a conditional PutObject) and mem://; on other buckets as far as
// gocloud's WriterOptions.IfNotExist goes (fileblob's, as wrapped by New,
// only within one process). An S3-compatible server that answers the
// conditional PutObject with 501 Not Implemented (it does not do
// If-None-Match) gets the marker written unconditionally if a read finds
// none, with a warning to the Bucket's logger: two catalogues claiming the
// same empty prefix at the same moment could then both succeed, the later
// write replacing the earlier. It is not retried; the error wraps
// ctx.Err() if ctx is done.
func (b *Bucket) CreateMarker(ctx context.Context, m *Marker) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("storage: marker: %w", err)
	}
	data = append(data, '\n')
	if b.local != nil {
		err = b.local.createMarker(data)
	} else {
		opts := &blob.WriterOptions{ContentType: "application/json", IfNotExist: true}
		err = b.b.WriteAll(ctx, MarkerKey, data, opts)
		if isNotImplemented(err) {
			err = b.createMarkerUnconditionally(ctx, data, err)
		}
	}
	if errors.Is(err, fs.ErrExist) || gcerrors.Code(err) == gcerrors.FailedPrecondition || errors.Is(err, ErrExists) {
		return fmt.Errorf("storage: create marker %q: %w", MarkerKey, ErrExists)
	}
	if err != nil {
		return opError("write", MarkerKey, err)
	}
	return nil
}

// createMarkerUnconditionally writes data as the marker, without
// If-None-Match, unless a read finds a marker there (ErrExists). refusal
// is the server's answer to the conditional write, for the warning.
func (b *Bucket) createMarkerUnconditionally(ctx context.Context, data []byte, refusal error) error {
	switch exists, err := b.b.Exists(ctx, MarkerKey); {
	case err != nil:
		return err
	case exists:
		return ErrExists
	}
	b.log.WarnContext(ctx, "storage: the S3 server does not implement conditional writes (If-None-Match); "+
		"the bucket marker is written unconditionally, so two catalogues claiming this empty prefix at the same moment could both succeed",
		"key", MarkerKey, "error", refusal)
	return b.b.WriteAll(ctx, MarkerKey, data, &blob.WriterOptions{ContentType: "application/json"})
}

// isNotImplemented reports whether err is an S3-compatible server's 501
// Not Implemented (or its NotImplemented error code): what it does not do.
func isNotImplemented(err error) bool {
	if c, ok := httpStatus(err); ok && c == http.StatusNotImplemented {
		return true
	}
	return isAPIError(err, "NotImplemented")
}

// createMarker writes data to a temporary file in the bucket directory and
// links it to MarkerKey, which fails with fs.ErrExist if the name is taken
// (rename would replace it): the marker appears whole or not at all. The
// file is synced before the link and the directory after it, unless noSync.
func (l *localDir) createMarker(data []byte) error {
	f, err := os.CreateTemp(l.root, "."+MarkerKey+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil && !l.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, localFileMode)
	}
	if err != nil {
		return err
	}
	if err := l.link(tmp, filepath.Join(l.root, MarkerKey)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// A file system without hard links (vfat, many FUSE mounts):
		// created exclusively instead, written in place.
		if err := l.createMarkerExclusive(data); err != nil {
			return err
		}
	}
	if l.noSync {
		return nil
	}
	return l.syncDir(l.root)
}

// createMarkerExclusive creates MarkerKey with O_EXCL and writes data into
// it, for file systems where createMarker cannot link: the name is still
// taken by one creator only, but a crash mid-write can leave a marker that
// ReadMarker reports as ErrBadMarker.
func (l *localDir) createMarkerExclusive(data []byte) error {
	f, err := os.OpenFile(filepath.Join(l.root, MarkerKey), os.O_WRONLY|os.O_CREATE|os.O_EXCL, localFileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && !l.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
