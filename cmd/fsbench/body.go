package main

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
)

// blockSize is the size of the generated pattern and of every write of a
// generated body: large writes keep the client's system calls few (io.Copy
// would cut the body into 32 KiB pieces).
const blockSize = 1 << 20

// pattern is a block of pseudo-random bytes that every generated body is made
// of: each block of a body is the pattern with its first 16 bytes replaced by
// a stamp (the body's seed and the block's index), so no two bodies, and no
// two blocks of one body, are equal, while generating costs one 16-byte copy
// per MiB. It is read-only once made.
type pattern []byte

// newPattern returns the pattern for key (the same key gives the same
// pattern, so a body is reproducible from its seed).
func newPattern(key uint64) pattern {
	p := make([]byte, blockSize)
	r := rand.NewChaCha8([32]byte{0: byte(key), 1: byte(key >> 8), 2: byte(key >> 16), 3: byte(key >> 24),
		4: byte(key >> 32), 5: byte(key >> 40), 6: byte(key >> 48), 7: byte(key >> 56)})
	_, _ = r.Read(p) // ChaCha8.Read never fails
	return p
}

// buffer returns a copy of p for one worker to generate bodies in: a body
// only ever rewrites a block's stamp, so the copy is made once per worker.
func (p pattern) buffer() []byte { return append([]byte(nil), p...) }

// body is one generated request body of size bytes. It streams: it never
// holds more than one block, which it borrows from its worker (buf).
type body struct {
	seed uint64
	size int64
	buf  []byte // from pattern.buffer, owned by the worker; its stamp is overwritten
	off  int64  // Read position
}

// newBody returns the body of size bytes for seed, generated in buf (from
// pattern.buffer; one per worker, as bodies that share it must not be read
// concurrently).
func newBody(buf []byte, seed uint64, size int64) *body {
	return &body{seed: seed, size: size, buf: buf}
}

// stamp makes b.buf block number i of the body.
func (b *body) stamp(i int64) {
	// The stamp is the first 16 bytes of the block.
	binary.LittleEndian.PutUint64(b.buf[0:8], b.seed)
	binary.LittleEndian.PutUint64(b.buf[8:16], uint64(i))
}

// WriteTo writes the whole body (from the current Read position, which must
// be a block boundary) to w in writes of up to one block.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for b.off < b.size {
		i := b.off / blockSize
		b.stamp(i)
		end := min(b.size-b.off, blockSize)
		m, err := w.Write(b.buf[:end])
		n += int64(m)
		b.off += int64(m)
		if err != nil {
			return n, err
		}
		if int64(m) < end {
			return n, io.ErrShortWrite
		}
	}
	return n, nil
}

// Read implements io.Reader, for callers that want one (tests); WriteTo is
// the fast path.
func (b *body) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	i, in := b.off/blockSize, b.off%blockSize
	b.stamp(i)
	n := copy(p, b.buf[in:min(int64(len(b.buf)), in+b.size-b.off)])
	b.off += int64(n)
	return n, nil
}
