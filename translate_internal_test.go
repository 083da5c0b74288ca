package filestore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/filestore-go/filestore/dedup"
)

// TestTranslateNoAnswer: a catalogue operation that got no answer within
// its try timeout is the database being unavailable (503), not the
// caller's deadline.
func TestTranslateNoAnswer(t *testing.T) {
	s := &Service{}
	err := s.translate("stat", fmt.Errorf("dedup: stat: %w within TryTimeout 30s (timeout: context deadline exceeded)", dedup.ErrNoAnswer))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("translate = %v; want ErrUnavailable, not DeadlineExceeded", err)
	}
}
