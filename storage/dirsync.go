package storage

import "sync"

// dirSyncer coalesces fsyncs of one directory (group commit). A caller that
// renamed an entry into the directory calls sync, which returns once an fsync
// that started after the call has finished. Callers that arrive while an fsync
// runs wait for it to end, and then one of them runs a single fsync for all of
// them, so N concurrent commits into one directory cost about two fsyncs
// instead of N. The caller's goroutine runs the fsync: no goroutines are
// started.
type dirSyncer struct {
	path  string
	fsync func(path string) error

	mu      sync.Mutex
	cond    sync.Cond // signalled (with mu) when an fsync finishes
	running bool      // an fsync is under way
	started uint64    // number of fsyncs started
	done    uint64    // number of the last finished fsync
	err     error     // its result
	onWait  func()    // test hook: called (with mu held) before a caller waits
}

func newDirSyncer(path string, fsync func(string) error) *dirSyncer {
	s := &dirSyncer{path: path, fsync: fsync}
	s.cond.L = &s.mu
	return s
}

// sync returns the result of the first fsync of s.path that started after
// sync was called (or of a later one, if several finished meanwhile).
func (s *dirSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An fsync already running may have started before our rename; only the
	// next one to start is sure to cover it.
	want := s.started + 1
	for s.done < want {
		if s.running {
			if s.onWait != nil {
				s.onWait()
			}
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := s.fsync(s.path)
		s.mu.Lock()
		s.running = false
		s.done, s.err = n, err
		s.cond.Broadcast()
	}
	return s.err
}
