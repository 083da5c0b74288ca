package filestoretest

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

// BucketFiles returns the regular files in the object key space of a local
// bucket's directory (a file:// bucket's DIR; the key space is DIR/o), as
// paths relative to DIR in lexical order: stored objects, and the
// temporary files of writes in progress or left by a crash. The bucket's
// marker (storage.MarkerKey), outside the key space, is not one of them.
// A key space that does not exist (nothing was ever stored) holds none.
// Any other error fails t.
func BucketFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	top := filepath.Join(dir, "o")
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == top {
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
