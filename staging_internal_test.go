package filestore

import (
	"math"
	"testing"
	"time"
)

func TestKeyTTL(t *testing.T) {
	const hex = "3f9a0c1d2e3f405162738495a6b7c8d9"
	tests := []struct {
		key  string
		want time.Duration
		ok   bool
	}{
		{"o/3f/" + hex + "-t86400000", 24 * time.Hour, true},
		{"o/3f/" + hex + "-t86400000.12345.tmp", 24 * time.Hour, true}, // a local writer's temporary file
		{"o/3f/" + hex + "-t0", 0, true},
		{"o/3f/" + hex + "-t99999999999999999", time.Duration(math.MaxInt64), true},
		{"o/3f/" + hex, 0, false}, // an older build's key
		{"o/3f/" + hex + ".12345.tmp", 0, false},
		{"o/3f/" + hex + "-t", 0, false},
		{"o/3f/" + hex + "-tx1", 0, false},
		{"o/3f/" + hex + "-t-5", 0, false},
		{"o/a-t5/" + hex, 0, false}, // only the last segment counts
	}
	for _, tt := range tests {
		if got, ok := keyTTL(tt.key); got != tt.want || ok != tt.ok {
			t.Errorf("keyTTL(%q) = %v, %v; want %v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		key  string
		ttl  time.Duration
		keep bool
		want time.Duration
	}{
		{"o/3f/" + hex + "-t86400000", time.Minute, true, 24 * time.Hour},
		{"o/3f/" + hex + "-t60000", time.Hour, true, time.Hour},
		{"o/3f/" + hex + "-t86400000", time.Minute, false, time.Minute},
		{"o/3f/" + hex, time.Minute, true, time.Minute},
	} {
		if got := stagingAge(tt.key, tt.ttl, tt.keep); got != tt.want {
			t.Errorf("stagingAge(%q, %v, %v) = %v, want %v", tt.key, tt.ttl, tt.keep, got, tt.want)
		}
	}
}
