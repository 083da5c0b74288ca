package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// scan runs the Scanner over r. A panic in Scan (a third-party scanner's
// bug) is recovered and logged at error level with its value and stack,
// and becomes an error of the scanner's, to which the scan policy applies
// as to a scanner that cannot answer: Put calls scan in a goroutine of its
// own, where no recover of its caller's could catch the panic.
func (s *Service) scan(ctx context.Context, r io.Reader) (res *ScanResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "filestore: scanner panicked", "panic", p, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("scanner panicked: %v", p)
		}
	}()
	return s.opts.Scanner.Scan(ctx, r)
}

// extract runs the MetaExtractor over in. Metadata it does not return,
// with no error either, is an error, as a scanner's missing verdict is.
func (s *Service) extract(ctx context.Context, in *MetaInput) (*Metadata, error) {
	md, err := s.opts.Extractor.Extract(ctx, in)
	if err == nil && md == nil {
		err = errors.New("the metadata extractor returned no metadata and no error")
	}
	return md, err
}
