package seek

import (
	"errors"
	"io"
	"testing"
)

func TestPosition(t *testing.T) {
	tests := []struct {
		name              string
		cur, size, offset int64
		whence            int
		want              int64
		err               error
	}{
		{"start", 5, 100, 10, io.SeekStart, 10, nil},
		{"current", 5, 100, 10, io.SeekCurrent, 15, nil},
		{"current back", 5, 100, -5, io.SeekCurrent, 0, nil},
		{"end", 5, 100, -10, io.SeekEnd, 90, nil},
		{"past the end", 5, 100, 10, io.SeekEnd, 110, nil},
		{"before the start", 5, 100, -6, io.SeekCurrent, 0, ErrNegative},
		{"negative start", 5, 100, -1, io.SeekStart, 0, ErrNegative},
		{"end of nothing", 0, 0, -1, io.SeekEnd, 0, ErrNegative},
		{"bad whence", 5, 100, 0, 3, 0, ErrWhence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Position(tt.cur, tt.size, tt.offset, tt.whence)
			if got != tt.want || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("Position(%d, %d, %d, %d) = %d, %v; want %d, %v", tt.cur, tt.size, tt.offset, tt.whence, got, err, tt.want, tt.err)
			}
		})
	}
}
