package filestoretest

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

// BucketFiles returns the regular files under a local bucket's directory
// (a file:// bucket's DIR), as paths relative to it in lexical order:
// stored objects, and the temporary files of writes in progress or left by
// a crash. A directory that does not exist (nothing was ever stored) holds
// none. Any other error fails t.
func BucketFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bucket files: %v", err)
	}
	return files
}
