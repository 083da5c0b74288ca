package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), t.TempDir(), &out); err != nil {
		t.Fatal(err)
	}
	sha := regexp.MustCompile(`sha256 [0-9a-f]{12}…`)
	got := sha.ReplaceAllString(out.String(), "sha256 X")
	want := `stored notes/hello.txt: 18 bytes, text/plain; charset=utf-8, sha256 X
listed notes/copy.txt
listed notes/hello.txt
read from byte 7: "filestore!\n"
renamed to greeting.txt
in the trash, its content is gone: not found = true
restored greeting.txt, deleted_at <nil>
another owner sees: not found = true
after purge: 1 file(s), 1 object(s)
`
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
