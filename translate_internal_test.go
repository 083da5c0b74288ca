package filestore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/filestore-go/filestore/dedup"
	"github.com/filestore-go/filestore/storage"
)

// TestTranslateUnavailable: a dependency that cannot serve the operation
// now is ErrUnavailable (503), not the caller's deadline: a catalogue
// operation without an answer within its try timeout, and an upload that
// waited its longest for the S3 writers' memory.
func TestTranslateUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"catalogue without an answer", fmt.Errorf("dedup: stat: %w within TryTimeout 30s (timeout: context deadline exceeded)", dedup.ErrNoAnswer)},
		{"S3 upload memory all in use", fmt.Errorf("storage: write %q: waiting for upload memory: %w: waited 1m0s", "k", storage.ErrBusy)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{}
			err := s.translate("put", tt.err)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("translate = %v; want ErrUnavailable, not DeadlineExceeded", err)
			}
		})
	}
}
