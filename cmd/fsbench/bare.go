package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/filestore-go/filestore/internal/fsync"
)

// Writeback of the overlap sync mode, as the durable local bucket does it:
// start the writeback of every wbChunk bytes written, and wait for what lies
// more than wbLag behind.
const (
	wbChunk = 8 << 20
	wbLag   = 32 << 20
)

// syncMode says how the bare server makes a body durable.
type syncMode string

const (
	syncEnd     syncMode = "end"     // one fdatasync after the last byte
	syncOverlap syncMode = "overlap" // writeback started while receiving, fdatasync at the end
	syncNone    syncMode = "none"    // no sync (page cache only)
)

// errBadMode: an unknown -mode or -sync value.
var errBadMode = errors.New("fsbench: unknown mode")

// bareServer is the reference for uploads: it reads a body in 1 MiB reads,
// hashes it (SHA-256) and, unless hashOnly, writes it to a new file in dir
// and syncs it as sync says; then it answers 201 with the digest and size.
// Nothing else: no names, no database, no directory fsync.
type bareServer struct {
	dir      string
	hashOnly bool
	sync     syncMode
	bufs     sync.Pool // *[]byte of 1 MiB
}

func newBareServer(dir string, hashOnly bool, sync syncMode) (*bareServer, error) {
	switch sync {
	case syncEnd, syncOverlap, syncNone:
	default:
		return nil, fmt.Errorf("%w: -sync %q (want end, overlap or none)", errBadMode, sync)
	}
	s := &bareServer{dir: dir, hashOnly: hashOnly, sync: sync}
	s.bufs.New = func() any { b := make([]byte, blockSize); return &b }
	return s, nil
}

func (s *bareServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "POST or PUT a body", http.StatusMethodNotAllowed)
		return
	}
	sum, n, err := s.receive(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"sha256":%q,"size":%d}`+"\n", sum, n)
}

// receive consumes body and returns its SHA-256 (hex) and length.
func (s *bareServer) receive(body io.Reader) (string, int64, error) {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	h := sha256.New()
	var f *os.File
	if !s.hashOnly {
		var err error
		if f, err = os.CreateTemp(s.dir, "bare-*"); err != nil {
			return "", 0, err
		}
		defer f.Close()
	}
	var n, queued, waited int64
	for {
		m, rerr := io.ReadFull(body, buf)
		if m > 0 {
			h.Write(buf[:m])
			if f != nil {
				if _, err := f.Write(buf[:m]); err != nil {
					return "", n, err
				}
			}
			n += int64(m)
			if f != nil && s.sync == syncOverlap && n-queued >= wbChunk {
				if err := fsync.StartWriteback(f, queued, n-queued); err != nil {
					return "", n, err
				}
				queued = n
				if behind := queued - wbLag; behind > waited {
					if err := fsync.WaitWriteback(f, waited, behind-waited); err != nil {
						return "", n, err
					}
					waited = behind
				}
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return "", n, rerr
		}
	}
	if f != nil && s.sync != syncNone {
		if err := fsync.Fdatasync(f); err != nil {
			return "", n, err
		}
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return "", n, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// fileServer is the reference for downloads: plain http.ServeContent of one
// file, opened for each request, as http.ServeFile does.
type fileServer struct{ path string }

func (s fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, err := os.Open(s.path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
