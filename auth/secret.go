package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/filestore-go/filestore/internal/fsync"
)

// SecretFile is the name of the generated secret in the data directory.
const SecretFile = "jwt.secret"

// generatedSecretBytes is the number of random bytes of a generated secret.
const generatedSecretBytes = 64

// GenerateSecret returns 64 random bytes, hex-encoded: 128 characters. Those
// characters (not the bytes they encode) are the HMAC key, so the secret is
// long enough for HS512.
func GenerateSecret() (string, error) {
	b := make([]byte, generatedSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: generate secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// LoadOrCreateSecret returns the secret in <dir>/jwt.secret, creating dir
// (mode 0700) and the file (mode 0600, holding GenerateSecret's characters
// and a newline) when the file does not exist. Leading and trailing white
// space in the file is not part of the secret. Creation is atomic: the file
// appears complete or not at all, and is durable, with the directories
// created for it, once it returns; when several processes race, all get the
// secret of the first. An existing secret shorter than 32 bytes, or an
// unreadable file, is an error.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	secret, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	if err := fsync.MkdirsDurable(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: secret: %w", err)
	}
	s, err := GenerateSecret()
	if err != nil {
		return nil, err
	}
	if err := createExclusive(path, []byte(s+"\n")); errors.Is(err, fs.ErrExist) {
		return readSecret(path) // another process created it first
	} else if err != nil {
		return nil, fmt.Errorf("auth: secret: %w", err)
	}
	return []byte(s), nil
}

// readSecret reads and checks a secret file.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: secret: %w", err)
	}
	defer f.Close()
	const maxSecretFile = 64 << 10
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("auth: secret: %w", err)
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("auth: secret: %s is larger than %d bytes", path, maxSecretFile)
	}
	secret := bytes.TrimSpace(data)
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("auth: secret: %s holds %d bytes, at least %d are required", path, len(secret), minSecretLen)
	}
	return secret, nil
}

// createExclusive atomically creates path with data and mode 0600: it writes
// a temporary file in the same directory, syncs it, then hard-links it to
// path, which fails with fs.ErrExist when path already exists.
func createExclusive(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
