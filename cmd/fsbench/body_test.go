package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recorder records the length of every write.
type recorder struct {
	bytes.Buffer
	writes []int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return r.Buffer.Write(p)
}

// expected builds the body of seed and size the slow way, from its
// definition: each MiB block is the pattern with its first 16 bytes
// replaced by the seed and the block's index (little endian).
func expected(pat pattern, seed uint64, size int64) []byte {
	out := make([]byte, 0, size)
	for i := int64(0); int64(len(out)) < size; i++ {
		blk := append([]byte(nil), pat...)
		binary.LittleEndian.PutUint64(blk[0:], seed)
		binary.LittleEndian.PutUint64(blk[8:], uint64(i))
		out = append(out, blk[:min(int64(len(blk)), size-int64(len(out)))]...)
	}
	return out
}

func TestBodyWriteTo(t *testing.T) {
	pat := newPattern(patternKey)
	tests := []struct {
		name       string
		size       int64
		wantWrites []int
	}{
		{"4KiB", 4 << 10, []int{4 << 10}},
		{"one block", blockSize, []int{blockSize}},
		{"2.5 blocks", 5 * blockSize / 2, []int{blockSize, blockSize, blockSize / 2}},
		{"1 byte", 1, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			n, err := newBody(pat.buffer(), 42, tt.size).WriteTo(&rec)
			if err != nil || n != tt.size {
				t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, tt.size)
			}
			if diff := cmp.Diff(tt.wantWrites, rec.writes); diff != "" {
				t.Errorf("write sizes (-want +got):\n%s", diff)
			}
			if !bytes.Equal(rec.Bytes(), expected(pat, 42, tt.size)) {
				t.Error("WriteTo wrote other bytes than the body's definition")
			}
		})
	}
}

func TestBodyReadMatchesWriteTo(t *testing.T) {
	pat := newPattern(patternKey)
	size := int64(3*blockSize + 123)
	var rec recorder
	if _, err := newBody(pat.buffer(), 7, size).WriteTo(&rec); err != nil {
		t.Fatal(err)
	}
	// Read in odd pieces that straddle blocks.
	got, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{newBody(pat.buffer(), 7, size)}, size+10))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, rec.Bytes()) {
		t.Fatalf("Read gave %d bytes that differ from WriteTo's %d", len(got), rec.Len())
	}
}

func TestBodiesDifferBySeedAndBlock(t *testing.T) {
	pat := newPattern(patternKey)
	buf := pat.buffer()
	sum := func(seed uint64, size int64) [32]byte {
		var rec recorder
		if _, err := newBody(buf, seed, size).WriteTo(&rec); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(rec.Bytes())
	}
	if sum(1, 4096) == sum(2, 4096) {
		t.Error("bodies of seeds 1 and 2 are equal")
	}
	first, again := sum(1, 4096), sum(1, 4096)
	if first != again {
		t.Error("the body of seed 1 is not reproducible")
	}
	var rec recorder
	if _, err := newBody(buf, 1, 2*blockSize).WriteTo(&rec); err != nil {
		t.Fatal(err)
	}
	b := rec.Bytes()
	if bytes.Equal(b[:blockSize], b[blockSize:]) {
		t.Error("the two blocks of one body are equal")
	}
	if !bytes.Equal(newPattern(patternKey), pat) || bytes.Equal(newPattern(patternKey+1), pat) {
		t.Error("patterns are not a function of their key")
	}
}
