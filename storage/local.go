package storage

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/filestore-go/filestore/internal/fsync"
)

// Permissions of what a local bucket creates (before the umask).
const (
	localDirMode  fs.FileMode = 0o750
	localFileMode fs.FileMode = 0o640
)

// A local writer starts the writeback of every writebackChunk bytes it
// writes (see fsync.StartWriteback), and waits for the writeback of what lies more
// than writebackLag bytes behind (see fsync.WaitWriteback). The final fdatasync
// then finds at most about writebackLag+writebackChunk bytes still to write,
// and one writer leaves no more dirty pages than that.
const (
	writebackChunk = 8 << 20
	writebackLag   = 32 << 20
)

// localDir holds the durability machinery of a file:// bucket: fsyncs of
// files and directories, and the coalescing of directory fsyncs.
type localDir struct {
	root   string // absolute path of the bucket directory
	noSync bool

	// The system calls, replaceable by tests to observe and order them.
	syncFile func(f *os.File) error
	syncDir  func(path string) error
	link     func(oldname, newname string) error
	startWB  func(f *os.File, off, n int64) error
	waitWB   func(f *os.File, off, n int64) error
	chunk    int64 // writeback range size
	lag      int64 // how far behind the writer the writeback is waited for
	// noCoalesce makes every commit fsync its directory itself (benchmarks
	// compare it with the coalesced default).
	noCoalesce bool

	mu      sync.Mutex
	syncers map[string]*dirSyncer // by directory path
	durable map[string]bool       // directories whose entry in their parent is known to be durable
}

func newLocalDir(root string, noSync bool) *localDir {
	return &localDir{
		root:     root,
		noSync:   noSync,
		syncFile: fsync.Fdatasync,
		syncDir:  fsync.Dir,
		link:     os.Link,
		startWB:  fsync.StartWriteback,
		waitWB:   fsync.WaitWriteback,
		chunk:    writebackChunk,
		lag:      writebackLag,
		syncers:  make(map[string]*dirSyncer),
		durable:  map[string]bool{root: true},
	}
}

// rootExists reports whether the bucket directory is there.
func (l *localDir) rootExists() bool {
	fi, err := os.Stat(l.root)
	return err == nil && fi.IsDir()
}

// fileblobAttrsExt is the file name suffix fileblob reserves for its
// metadata files: it refuses keys that end in it.
const fileblobAttrsExt = ".attrs"

// path returns the file of the object key (a key that passed checkKey): the
// bucket directory joined with the key, "/" being the path separator, which
// is where fileblob puts it (its escaping changes none of the characters
// checkKey allows).
func (l *localDir) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// open opens the file of the object key for reading. A directory is not an
// object: like fileblob, open reports it as fs.ErrNotExist.
func (l *localDir) open(key string) (*os.File, error) {
	f, err := os.Open(l.path(key))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = &fs.PathError{Op: "open", Path: f.Name(), Err: fs.ErrNotExist}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// syncer returns the dirSyncer of directory path.
func (l *localDir) syncer(path string) *dirSyncer {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.syncers[path]
	if s == nil {
		s = newDirSyncer(path, func(p string) error { return l.syncDir(p) })
		l.syncers[path] = s
	}
	return s
}

// commitDir makes durable the rename just done into directory dir (a
// directory under l.root): it fsyncs dir, coalesced with concurrent commits,
// and, the first time this process uses dir, every directory between l.root
// and dir's parent, so that dir's own entry cannot be lost either.
func (l *localDir) commitDir(dir string) error {
	rel, err := filepath.Rel(l.root, dir)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("directory %s outside bucket %s", dir, l.root)
	}
	// Ancestors from the top: root/o before root/o/ab.
	var chain []string
	for d := dir; d != l.root; d = filepath.Dir(d) {
		chain = append(chain, d)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if err := l.ensureEntry(chain[i]); err != nil {
			return err
		}
	}
	if l.noCoalesce {
		return l.syncDir(dir)
	}
	return l.syncer(dir).sync()
}

// ensureEntry makes the entry of directory d in its parent durable, once per
// process.
func (l *localDir) ensureEntry(d string) error {
	l.mu.Lock()
	known := l.durable[d]
	l.mu.Unlock()
	if known {
		return nil
	}
	if err := l.syncer(filepath.Dir(d)).sync(); err != nil {
		return err
	}
	l.mu.Lock()
	l.durable[d] = true
	l.mu.Unlock()
	return nil
}

// makeRoot creates the bucket directory if missing and, unless noSync, makes
// the entries of what it created durable.
func (l *localDir) makeRoot() error {
	created, err := fsync.Mkdirs(l.root, localDirMode)
	if err != nil {
		return err
	}
	if l.noSync {
		return nil
	}
	for _, d := range created {
		if err := l.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
