package fsync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir makes the entries of directory path durable: files created, renamed
// or removed in it survive a crash once Dir returns nil.
func Dir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Mkdirs creates dir and its missing parents with mode perm, as
// os.MkdirAll does, and returns the directories it created, top first: a
// caller that needs them durable calls Dir on the parent of each. A
// directory made meanwhile by someone else is not an error, and is not
// among those returned.
func Mkdirs(dir string, perm fs.FileMode) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("%s: not a directory", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], perm)
		if errors.Is(err, fs.ErrExist) {
			continue // made concurrently by someone else
		}
		if err != nil {
			return created, err
		}
		created = append(created, missing[i])
	}
	return created, nil
}

// MkdirsDurable is Mkdirs followed by Dir on the parent of each directory
// it created, so that they survive a crash once it returns nil.
func MkdirsDurable(dir string, perm fs.FileMode) error {
	created, err := Mkdirs(dir, perm)
	if err != nil {
		return err
	}
	for _, d := range created {
		if err := Dir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
