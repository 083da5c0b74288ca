package main

import (
	"errors"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		give    string
		want    int64
		wantErr bool
	}{
		{give: "4096", want: 4096},
		{give: "4KiB", want: 4096},
		{give: "1GiB", want: 1 << 30},
		{give: "4 GiB", want: 4 << 30},
		{give: "256MiB", want: 256 << 20},
		{give: "10MB", want: 10_000_000},
		{give: "7B", want: 7},
		{give: "0", want: 0},
		{give: "", wantErr: true},
		{give: "-1", wantErr: true},
		{give: "1.5GiB", wantErr: true},
		{give: "4kb", wantErr: true},
		{give: "GiB", wantErr: true},
		{give: "99999999999TiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := parseSize(tt.give)
			if tt.wantErr {
				if !errors.Is(err, errBadSize) {
					t.Fatalf("parseSize(%q) = %d, %v; want an error wrapping errBadSize", tt.give, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tt.give, got, err, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		give int64
		want string
	}{
		{4096, "4KiB"}, {1 << 30, "1GiB"}, {3 << 20, "3MiB"}, {1536, "1536B"}, {0, "0B"}, {5000, "5000B"},
	}
	for _, tt := range tests {
		if got := formatSize(tt.give); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
