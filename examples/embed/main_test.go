package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
)

// TestRun: the example's output, the same on a re-run over the same
// directory (before, each run left the previous run's copy.txt in the
// trash: "after purge: 2 file(s)" on the second).
func TestRun(t *testing.T) {
	dir := t.TempDir()
	sha := regexp.MustCompile(`sha256 [0-9a-f]{12}…`)
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
	for i := 1; i <= 3; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), dir, &out); err != nil {
				t.Fatal(err)
			}
			if got := sha.ReplaceAllString(out.String(), "sha256 X"); got != want {
				t.Errorf("output:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
