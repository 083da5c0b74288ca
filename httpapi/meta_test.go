package httpapi_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
	"github.com/filestore-go/filestore/meta"
)

// TestUploadTypes maps the meta.Extractor's verdicts: a type outside the
// allow list is 415 unsupported_type, bytes that contradict the extension
// or the declared type 415 type_mismatch; nothing is stored either way.
func TestUploadTypes(t *testing.T) {
	x, err := meta.New(&meta.Options{AllowedTypes: []string{"image/*"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{
		// Every content in the bucket, which must end up holding one.
		store: filestore.Options{Extractor: x, InlineMax: -1},
		cfg:   cfgCollect(&filestore.CollectOptions{StagingTTL: time.Nanosecond}),
	})
	tok := e.token("alice")
	pic := pngBytes(t)
	tests := []struct {
		name, query string
		body        []byte
		header      []string
		status      int
		code        string
	}{
		{"allowed", "?name=a.png", pic, nil, 201, ""},
		{"claimed right", "?name=b.png", pic, []string{"Content-Type", "image/png"}, 201, ""},
		{"not allowed", "?name=notes.txt", []byte("plain text"), nil, 415, "unsupported_type"},
		{"wrong extension", "?name=photo.jpg", pic, nil, 415, "type_mismatch"},
		{"wrong claim", "?name=c.png", pic, []string{"Content-Type", "image/jpeg"}, 415, "type_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("POST", "/v1/files"+tt.query, tok, bytes.NewReader(tt.body), tt.header...)
			if tt.code == "" {
				if res.status != tt.status {
					t.Fatalf("status %d: %s", res.status, res.body)
				}
				if f := decodeFile(t, res.body); f.ContentType != "image/png" || f.Meta.Width == nil || *f.Meta.Width != 3 {
					t.Errorf("content_type %q meta %+v", f.ContentType, f.Meta)
				}
				return
			}
			wantProblem(t, res, tt.status, tt.code)
		})
	}
	if _, l := e.list(tok, ""); len(l.Files) != 2 {
		t.Errorf("files %v, want the two PNGs", paths(l))
	}
	e.do("POST", "/v1/admin/gc", e.token("root", auth.ScopeAdmin), nil)
	if files := e.blobFiles(); len(files) != 1 {
		t.Errorf("bucket holds %v, want one object", files)
	}
}
