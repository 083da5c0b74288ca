package filestore

import (
	"context"
	"slices"
	"time"

	"github.com/filestore-go/filestore/dedup"
)

// pin keeps the stored objects with sha256s (hex), which the upload being
// put may reference without staging their bytes, from being deleted before
// its commit (see dedup.Catalog.Pin): a purge of an object's last
// reference meanwhile, through this Store or another, leaves the object
// for the commit. The pins last StagingTTL at most, longer than an upload
// may take to commit. It returns the objects pinned, those still live,
// with their current keys, and their SHA-256s for unpin.
func (s *Service) pin(ctx context.Context, sha256s []string) ([]dedup.StoredObject, []string, error) {
	pinned, err := s.cat.Pin(ctx, sha256s, dedup.Micros(s.opts.Now().Add(s.opts.StagingTTL)))
	if err != nil {
		return nil, nil, s.translate("put", err)
	}
	shas := make([]string, len(pinned))
	for i, o := range pinned {
		shas[i] = o.SHA256
	}
	return pinned, shas, nil
}

// pinCandidates pins cands, the objects an upload of a declared size is to
// be compared with, as pin does, and returns those it pinned, in cands'
// order.
func (s *Service) pinCandidates(ctx context.Context, cands []dedup.StoredObject) ([]dedup.StoredObject, []string, error) {
	shas := make([]string, len(cands))
	for i, c := range cands {
		shas[i] = c.SHA256
	}
	pinned, shas, err := s.pin(ctx, shas)
	if err != nil {
		return nil, nil, err
	}
	var kept []dedup.StoredObject
	for _, c := range cands {
		if i := slices.Index(shas, c.SHA256); i >= 0 {
			kept = append(kept, pinned[i])
		}
	}
	return kept, shas, nil
}

// unpin releases the pins pin took, whatever happened to the upload, and
// deletes an object that is left with neither a pin nor a reference: one
// whose last file was purged during the upload, which then did not
// reference it. A failure only leaves the pins until they expire, after
// which Collect deletes what nothing references: it is logged, not
// returned.
func (s *Service) unpin(ctx context.Context, sha256s []string) {
	if len(sha256s) == 0 {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	doomed, err := s.cat.Unpin(uctx, sha256s)
	if err != nil {
		s.log.WarnContext(ctx, "filestore: could not unpin stored objects; their pins expire", "error", err)
		return
	}
	for _, d := range doomed {
		if _, err := s.dispose(uctx, d); err != nil {
			s.log.WarnContext(ctx, "filestore: could not remove object; Collect will", "sha256", d.SHA256, "error", err)
		}
	}
}
