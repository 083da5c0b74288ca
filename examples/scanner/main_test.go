package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := "clean.txt: stored, scan clean by marker\nevil.txt: refused, infected with Example.Marker\nfiles stored: 1\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestMarkerScanner(t *testing.T) {
	s := MarkerScanner{Marker: []byte("MARK")}
	tests := []struct {
		name    string
		r       io.Reader
		flagged bool
	}{
		{"absent", strings.NewReader("mark MAR K"), false},
		{"present", strings.NewReader("xxMARKxx"), true},
		{"split across reads", iotest.OneByteReader(strings.NewReader("xxMARKxx")), true},
		{"at the end", iotest.HalfReader(strings.NewReader("........MARK")), true},
		{"empty", strings.NewReader(""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Scan(context.Background(), tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if (res.Signature != "") != tt.flagged {
				t.Errorf("signature %q, want flagged=%v", res.Signature, tt.flagged)
			}
		})
	}
	if _, err := s.Scan(context.Background(), iotest.ErrReader(io.ErrClosedPipe)); err == nil {
		t.Error("a read error gave a verdict")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Scan(ctx, strings.NewReader("x")); err == nil {
		t.Error("a cancelled scan gave a verdict")
	}
}
