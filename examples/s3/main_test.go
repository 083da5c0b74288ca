package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/filestore-go/filestore/internal/testenv"
)

// TestRun needs FILESTORE_TEST_S3 and FILESTORE_TEST_POSTGRES (see
// .ci/services); without them it skips, or fails when CI=true.
func TestRun(t *testing.T) {
	bucket := testenv.S3URL(t)
	database := testenv.PostgresDatabase(t)
	var out bytes.Buffer
	if err := run(context.Background(), database, bucket, &out); err != nil {
		t.Fatal(err)
	}
	want := "stored a.txt and b.txt, 1048576 bytes each, same sha256: true\n" +
		"last bytes of b.txt: \" PostgreSQL. \"\n" +
		"purged both\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
