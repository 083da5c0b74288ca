package auth

import (
	"os"
)

// maybeReload re-reads the key file when it is due for a check (at most once
// per interval, by the injected clock) and has changed since it was last
// read. Only one goroutine checks at a time; the others go on with the
// current keys. A file that cannot be read or parsed keeps the current keys
// (and the cached tokens); new keys drop every cached token.
func (v *Verifier) maybeReload() {
	if v.path == "" || v.interval < 0 || v.closed.Load() {
		return
	}
	now := v.now()
	if now.UnixNano() < v.nextCheck.Load() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.UnixNano() < v.nextCheck.Load() {
		return // another goroutine checked meanwhile
	}
	v.nextCheck.Store(now.Add(v.interval).UnixNano())

	fi, err := os.Stat(v.path)
	if err == nil && sameFile(fi, v.fileInfo) {
		return
	}
	var data []byte
	if err == nil {
		fi, data, err = readKeyFile(v.path)
	}
	if err != nil {
		// Missing or unreadable: retried at the next check, but warned about
		// once per distinct error.
		if msg := err.Error(); msg != v.readErr {
			v.readErr = msg
			v.log.Warn("auth: key file reload failed, keeping the previous keys", "file", v.path, "err", msg)
		}
		return
	}
	v.readErr = ""
	v.fileInfo = fi // this version is not parsed (nor warned about) again
	keys, err := parseKeyFile(data, v.log, v.path)
	if err != nil {
		v.log.Warn("auth: key file reload failed, keeping the previous keys", "file", v.path, "err", err.Error())
		return
	}
	v.keys.Store(newKeySet(v.secretKeys, keys))
	// Entries name the key set that verified them, so one stored by a
	// verification still running with the old keys is never used; clearing
	// frees the memory now.
	v.cache.clear()
	v.log.Info("auth: key file reloaded", "file", v.path, "keys", len(keys))
}

// sameFile reports whether a and b describe the same version of a file: the
// same file (device and inode), size and modification time.
func sameFile(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
