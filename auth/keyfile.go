package auth

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
)

// Limits on key files.
const (
	maxKeyFileSize = 1 << 20 // bytes
	maxKeys        = 100     // keys (PEM blocks or JWKs) in one file
)

// readKeyFile reads the key file at path, refusing anything but a regular
// file of at most maxKeyFileSize bytes. The FileInfo is that of the opened
// file, so it describes exactly the bytes returned.
func readKeyFile(path string) (os.FileInfo, []byte, error) {
	// Stat before opening: opening a FIFO for reading would block.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxKeyFileSize {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, maxKeyFileSize)
	}
	return fi, data, nil
}

// parseKeyFile parses a key file: a JWK Set or JWK when it starts with "{",
// PEM otherwise. JWKs that cannot be used are skipped with a warning; any
// other problem is an error.
func parseKeyFile(data []byte, log *slog.Logger, path string) ([]verificationKey, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJWKS(trimmed, log, path)
	}
	return parsePEM(trimmed)
}

// parseJWKS parses a JWK Set ({"keys": [...]}) or a single JWK.
func parseJWKS(data []byte, log *slog.Logger, path string) ([]verificationKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
		Kty  string            `json:"kty"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWK Set: %w", err)
	}
	var raws []json.RawMessage
	switch {
	case doc.Keys != nil:
		raws = doc.Keys
	case doc.Kty != "":
		raws = []json.RawMessage{data}
	default:
		return nil, errors.New(`invalid JWK Set: no "keys" array (nor a single JWK with "kty")`)
	}
	if len(raws) > maxKeys {
		return nil, fmt.Errorf("JWK Set has %d keys, at most %d are supported", len(raws), maxKeys)
	}
	var keys []verificationKey
	for i, raw := range raws {
		k, err := parseJWK(raw)
		if err != nil {
			log.Warn("auth: ignoring unusable key in key file", "file", path, "index", i, "kid", k.kid, "err", err.Error())
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWK Set has no usable key (of %d)", len(raws))
	}
	return keys, nil
}

// parseJWK parses one JWK. On error the returned key still carries the kid,
// for the warning.
func parseJWK(raw []byte) (verificationKey, error) {
	var meta struct {
		Kid    string          `json:"kid"`
		KeyOps json.RawMessage `json:"key_ops"`
	}
	_ = json.Unmarshal(raw, &meta) // best effort, for the warning and key_ops
	k := verificationKey{origin: originJWKS, kid: meta.Kid}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return k, err
	}
	k.kid = jwk.KeyID
	if _, ok := jwk.Key.([]byte); ok {
		return k, errors.New(`symmetric ("oct") keys are not taken from key files; configure the secret instead`)
	}
	if !jwk.IsPublic() {
		return k, errors.New("key file holds private key material; publish only public keys")
	}
	if jwk.Use == "enc" {
		return k, errors.New(`key is for encryption ("use": "enc")`)
	}
	if meta.KeyOps != nil {
		// go-jose does not read key_ops (RFC 7517 4.3): a key that
		// lists its operations must list "verify".
		var ops []string
		if err := json.Unmarshal(meta.KeyOps, &ops); err != nil {
			return k, errors.New(`"key_ops" is not an array of strings`)
		}
		if !slices.Contains(ops, "verify") {
			return k, fmt.Errorf(`key is not for verifying signatures ("key_ops": %q)`, ops)
		}
	}
	algs, err := publicKeyAlgorithms(jwk.Key)
	if err != nil {
		return k, err
	}
	if jwk.Algorithm != "" {
		pinned := jose.SignatureAlgorithm(jwk.Algorithm)
		if !slices.Contains(algs, pinned) {
			return k, fmt.Errorf("alg %q cannot be used with this key (it allows %v)", jwk.Algorithm, algs)
		}
		algs = []jose.SignatureAlgorithm{pinned}
	}
	k.algs, k.key = algs, jwk.Key
	return k, nil
}

// parsePEM parses every PEM block of a key file: PKIX "PUBLIC KEY", PKCS #1
// "RSA PUBLIC KEY" and X.509 "CERTIFICATE" (only the public key is used;
// validity and chain are not checked).
func parsePEM(data []byte) ([]verificationKey, error) {
	var keys []verificationKey
	rest := data
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if i == maxKeys {
			return nil, fmt.Errorf("PEM file has more than %d blocks", maxKeys)
		}
		pub, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", i, block.Type, err)
		}
		// Encoding as a JWK applies go-jose's own key checks (it refuses,
		// for example, low-order Ed25519 keys).
		if _, err := (jose.JSONWebKey{Key: pub}).MarshalJSON(); err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", i, block.Type, err)
		}
		algs, err := publicKeyAlgorithms(pub)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", i, block.Type, err)
		}
		keys = append(keys, verificationKey{origin: originPEM, algs: algs, key: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("neither a PEM public key nor a JWK Set")
	}
	return keys, nil
}

// parsePEMBlock returns the public key of one PEM block.
func parsePEMBlock(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, errors.New("private key in key file; configure the public key")
		}
		return nil, errors.New("unsupported PEM block type")
	}
}
