package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filestore-go/filestore/internal/fsync"
	"github.com/google/go-cmp/cmp"
)

// syncLog records the sync calls of a local bucket, in order, with what was
// visible at the time.
type syncLog struct {
	mu     sync.Mutex
	root   string
	events []string
}

func (s *syncLog) add(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *syncLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events
	s.events = nil
	return e
}

// observe replaces l's system calls with ones that log and then do the real
// work. final is the path of the object being written.
func (s *syncLog) observe(l *localDir, final *string) {
	l.syncFile = func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		tmp := strings.HasPrefix(f.Name(), *final+".") && strings.HasSuffix(f.Name(), ".tmp")
		s.add(fmt.Sprintf("fdatasync temp=%v size=%d visible=%v", tmp, fi.Size(), exists(*final)))
		return fsync.Fdatasync(f)
	}
	l.syncDir = func(p string) error {
		rel, _ := filepath.Rel(s.root, p)
		s.add(fmt.Sprintf("fsync dir %s visible=%v", rel, exists(*final)))
		return fsync.Dir(p)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func openLocalForTest(t *testing.T, opts *Options) (*Bucket, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bucket")
	b, err := Open(t.Context(), "file://"+dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, dir
}

func writeKey(t *testing.T, b *Bucket, key string, data []byte) error {
	t.Helper()
	w, err := b.NewWriter(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	return w.Close()
}

// TestLocalCloseSyncsFileAndDirectories checks the order of the syncs: the
// temporary file's data before it becomes visible, then (once per process)
// the directories above the key's directory, then the key's directory.
func TestLocalCloseSyncsFileAndDirectories(t *testing.T) {
	b, dir := openLocalForTest(t, nil)
	log := &syncLog{root: dir}
	var final string
	log.observe(b.local, &final)

	key1 := "o/ab/" + strings.Repeat("1", 32)
	final = filepath.Join(dir, key1)
	if err := writeKey(t, b, key1, []byte("hello, world")); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want := []string{
		"fdatasync temp=true size=12 visible=false",
		"fsync dir . visible=true",    // entry of o/ in the bucket
		"fsync dir o visible=true",    // entry of o/ab/ in o/
		"fsync dir o/ab visible=true", // the rename
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("first write into a new directory (-want +got):\n%s", diff)
	}

	key2 := "o/ab/" + strings.Repeat("2", 32)
	final = filepath.Join(dir, key2)
	if err := writeKey(t, b, key2, []byte("again")); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want = []string{
		"fdatasync temp=true size=5 visible=false",
		"fsync dir o/ab visible=true",
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("second write into the same directory (-want +got):\n%s", diff)
	}

	key3 := "o/cd/" + strings.Repeat("3", 32)
	final = filepath.Join(dir, key3)
	if err := writeKey(t, b, key3, nil); err != nil {
		t.Fatalf("Close: %v", err)
	}
	want = []string{
		"fdatasync temp=true size=0 visible=false",
		"fsync dir o visible=true",
		"fsync dir o/cd visible=true",
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("first write into a sibling directory (-want +got):\n%s", diff)
	}
}

func TestLocalOpenSyncsCreatedDirectories(t *testing.T) {
	parent := t.TempDir()
	log := &syncLog{root: parent}
	l := newLocalDir(filepath.Join(parent, "a", "b"), false)
	none := ""
	log.observe(l, &none)
	if err := l.makeRoot(); err != nil {
		t.Fatal(err)
	}
	want := []string{"fsync dir . visible=false", "fsync dir a visible=false"}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("makeRoot (-want +got):\n%s", diff)
	}
	if err := l.makeRoot(); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("makeRoot of an existing directory synced %v, want nothing", got)
	}
}

func TestLocalNoSyncSyncsNothing(t *testing.T) {
	b, dir := openLocalForTest(t, &Options{NoSync: true})
	log := &syncLog{root: dir}
	var final string
	log.observe(b.local, &final)
	b.local.startWB = func(*os.File, int64, int64) error {
		log.add("writeback")
		return nil
	}
	b.local.chunk = 1
	key := b.NewKey()
	final = filepath.Join(dir, key)
	if err := writeKey(t, b, key, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("NoSync bucket made sync calls %v", got)
	}
	if !exists(final) {
		t.Errorf("object %s not visible after Close", final)
	}
}

func TestLocalSyncFailure(t *testing.T) {
	errDisk := errors.New("injected I/O error")
	tests := []struct {
		name        string
		failFile    bool
		wantVisible bool
	}{
		{name: "fdatasync fails: nothing visible", failFile: true, wantVisible: false},
		// The rename happened; the caller must treat the object as not
		// stored and delete it (or leave it to GC).
		{name: "directory fsync fails", failFile: false, wantVisible: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, dir := openLocalForTest(t, nil)
			if tt.failFile {
				b.local.syncFile = func(*os.File) error { return errDisk }
			} else {
				b.local.syncDir = func(string) error { return errDisk }
			}
			key := b.NewKey()
			err := writeKey(t, b, key, []byte("data"))
			if !errors.Is(err, errDisk) {
				t.Fatalf("Close = %v, want the injected error", err)
			}
			if got := exists(filepath.Join(dir, key)); got != tt.wantVisible {
				t.Errorf("object visible = %v, want %v", got, tt.wantVisible)
			}
			var leftovers []string
			_ = b.List(t.Context(), func(k string, _ time.Time, _ int64) error {
				if k != key {
					leftovers = append(leftovers, k)
				}
				return nil
			})
			if len(leftovers) != 0 {
				t.Errorf("temporary files left behind: %v", leftovers)
			}
		})
	}
}

// TestLocalWriteback checks that writeback starts for each chunk written and
// is waited for once it lags behind.
func TestLocalWriteback(t *testing.T) {
	b, _ := openLocalForTest(t, nil)
	var calls []string
	b.local.chunk = 64 << 10
	b.local.lag = 128 << 10
	b.local.startWB = func(f *os.File, off, n int64) error {
		calls = append(calls, fmt.Sprintf("start %d+%d", off, n))
		return fsync.StartWriteback(f, off, n) // the real system calls must work here
	}
	b.local.waitWB = func(f *os.File, off, n int64) error {
		calls = append(calls, fmt.Sprintf("wait %d+%d", off, n))
		return fsync.WaitWriteback(f, off, n)
	}
	w, err := b.NewWriter(t.Context(), b.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 40<<10)
	for range 10 { // 400 KiB
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	const k = 1 << 10
	want := []string{
		fmt.Sprintf("start %d+%d", 0, 80*k),
		fmt.Sprintf("start %d+%d", 80*k, 80*k), // 160 KiB queued: 32 KiB lag behind
		fmt.Sprintf("wait %d+%d", 0, 32*k),
		fmt.Sprintf("start %d+%d", 160*k, 80*k),
		fmt.Sprintf("wait %d+%d", 32*k, 80*k),
		fmt.Sprintf("start %d+%d", 240*k, 80*k),
		fmt.Sprintf("wait %d+%d", 112*k, 80*k),
		fmt.Sprintf("start %d+%d", 320*k, 80*k),
		fmt.Sprintf("wait %d+%d", 192*k, 80*k),
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("writeback calls (-want +got):\n%s", diff)
	}
	if w.noWB {
		t.Error("writeback was disabled by an error")
	}
}

// TestLocalListReportsCrashedTempFiles creates the temporary file that a
// writer killed mid-write leaves behind and checks that List reports it and
// Delete removes it.
func TestLocalListReportsCrashedTempFiles(t *testing.T) {
	b, dir := openLocalForTest(t, nil)
	key := b.NewKey()
	if err := writeKey(t, b, key, []byte("committed")); err != nil {
		t.Fatal(err)
	}
	tmpKey := b.NewKey() + ".18a2b3c4d5e6f708.tmp" // fileblob's temp name: key.<hex nanotime>.tmp
	tmp := filepath.Join(dir, filepath.FromSlash(tmpKey))
	if err := os.MkdirAll(filepath.Dir(tmp), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("partial"), 0o640); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Key  string
		Size int64
	}
	list := func() []entry {
		var got []entry
		if err := b.List(t.Context(), func(k string, _ time.Time, size int64) error {
			got = append(got, entry{k, size})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []entry{{key, 9}, {tmpKey, 7}}
	slices.SortFunc(want, func(a, b entry) int { return strings.Compare(a.Key, b.Key) })
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := b.Delete(t.Context(), tmpKey); err != nil {
		t.Fatalf("Delete(%q): %v", tmpKey, err)
	}
	if diff := cmp.Diff([]entry{{key, 9}}, list()); diff != "" {
		t.Errorf("List after deleting the temp file (-want +got):\n%s", diff)
	}
}

// TestLocalWriterTempFileRemoved: a writer's temporary file is removed
// before Close, as Collect removes one older than the staging TTL (deleted
// as List shows it), or the whole bucket directory goes. The rename at
// Close then finds nothing: ErrUploadGone when the bucket is there, not
// ErrNoBucket (before, both said "bucket does not exist"), and nothing is
// stored.
func TestLocalWriterTempFileRemoved(t *testing.T) {
	for _, tt := range []struct {
		name   string
		remove func(t *testing.T, b *Bucket, dir, key string)
		want   error
	}{
		{"temporary file", func(t *testing.T, b *Bucket, _, key string) {
			n := 0
			if err := b.List(t.Context(), func(k string, _ time.Time, _ int64) error {
				if !strings.HasPrefix(k, key+".") {
					return nil
				}
				n++
				return b.Delete(t.Context(), k)
			}); err != nil || n != 1 {
				t.Fatalf("deleted %d temporary files (%v); want 1", n, err)
			}
		}, ErrUploadGone},
		{"bucket directory", func(t *testing.T, _ *Bucket, dir, _ string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, ErrNoBucket},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, dir := openLocalForTest(t, nil)
			key := b.NewKey()
			w, err := b.NewWriter(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("written before")); err != nil {
				t.Fatal(err)
			}
			tt.remove(t, b, dir, key)
			if _, err := w.Write([]byte(" and after")); err != nil {
				t.Fatalf("Write after the removal: %v", err)
			}
			err = w.Close()
			other := ErrNoBucket
			if tt.want == ErrNoBucket {
				other = ErrUploadGone
			}
			if !errors.Is(err, tt.want) || errors.Is(err, other) {
				t.Errorf("Close = %v; want %v, not %v", err, tt.want, other)
			}
			if _, err := os.Stat(b.local.path(key)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the object after the failed Close: %v, want none", err)
			}
		})
	}
}

// TestDirSyncerCoalesces holds the first fsync until n more callers wait, and
// checks that a single further fsync serves all of them.
func TestDirSyncerCoalesces(t *testing.T) {
	const n = 16
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var calls int
	s := newDirSyncer("dir", func(string) error {
		calls++ // under the syncer's protocol only one fsync runs at a time
		if calls == 1 {
			started <- struct{}{}
			<-release
		}
		return nil
	})
	var waiting sync.WaitGroup
	waiting.Add(n)

	var done sync.WaitGroup
	errs := make(chan error, n+1)
	done.Add(1)
	go func() { defer done.Done(); errs <- s.sync() }()
	<-started // the first fsync is running

	s.mu.Lock()
	waiters := 0
	s.onWait = func() {
		if waiters < n {
			waiters++
			waiting.Done()
		}
	}
	s.mu.Unlock()
	for range n {
		done.Add(1)
		go func() { defer done.Done(); errs <- s.sync() }()
	}
	waiting.Wait() // all n wait behind the running fsync
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("sync: %v", err)
		}
	}
	if calls != 2 {
		t.Errorf("%d callers caused %d fsyncs, want 2 (the running one and one for all waiters)", n+1, calls)
	}
}

func TestDirSyncerReportsError(t *testing.T) {
	errDisk := errors.New("injected")
	fail := true
	s := newDirSyncer("dir", func(string) error {
		if fail {
			return errDisk
		}
		return nil
	})
	if err := s.sync(); !errors.Is(err, errDisk) {
		t.Errorf("sync = %v, want the injected error", err)
	}
	fail = false
	if err := s.sync(); err != nil {
		t.Errorf("sync after recovery = %v, want nil", err)
	}
}

// TestLocalCloseAfterFailedWrite: a Write that fails (here the file size
// limit, RLIMIT_FSIZE, as a full disk would) makes the Writer fail the
// following Writes and Close, and nothing becomes visible. Before, Close
// renamed the truncated file into place and returned nil.
func TestLocalCloseAfterFailedWrite(t *testing.T) {
	b, dir := openLocalForTest(t, nil)
	key := b.NewKey()
	w, err := b.NewWriter(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limited := syscall.Rlimit{Cur: 1 << 20, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 768<<10)
	_, err1 := w.Write(chunk)
	_, err2 := w.Write(chunk) // crosses the limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err1 != nil || !errors.Is(err2, syscall.EFBIG) {
		t.Fatalf("Writes under a 1 MiB file size limit: %v, %v; want nil, then EFBIG", err1, err2)
	}
	if _, err := w.Write(chunk); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("Write after the failed one = %v, want its error again", err)
	}
	if err := w.Close(); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("Close after a failed Write = %v, want the Write's error", err)
	}
	if exists(filepath.Join(dir, key)) {
		t.Errorf("the truncated object is visible at %s", key)
	}
	var left []string
	_ = b.List(t.Context(), func(k string, _ time.Time, _ int64) error { left = append(left, k); return nil })
	if len(left) != 0 {
		t.Errorf("keys left behind: %v", left)
	}
}

// TestMarkerWithoutHardLinks: on a file system that cannot link (vfat,
// many FUSE mounts), the marker is created exclusively instead: the first
// creator wins, the second gets ErrExists, and no temporary file is left.
func TestMarkerWithoutHardLinks(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(t.Context(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.local.link = func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	if err := b.CreateMarker(t.Context(), &Marker{Catalog: "first"}); err != nil {
		t.Fatalf("CreateMarker: %v", err)
	}
	if err := b.CreateMarker(t.Context(), &Marker{Catalog: "second"}); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateMarker: %v, want ErrExists", err)
	}
	if m, err := b.ReadMarker(t.Context()); err != nil || m.Catalog != "first" {
		t.Errorf("ReadMarker = %+v, %v; want first", m, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("bucket directory holds %v (%v), want only the marker", entries, err)
	}
}
