package storage_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/filestore-go/filestore/storage"
)

// FuzzOpenRange runs a program of seeks, reads and LimitReads calls on
// OpenRange's reader of a mem:// object (the reader of every remote
// bucket) and on a bytes.Reader over the same bytes, and fails when they
// answer differently: the windows of its range requests, however the
// reads fall, must never show in what is read. Each operation takes 3
// bytes of prog: its kind and a 16-bit argument.
func FuzzOpenRange(f *testing.F) {
	f.Add(uint16(1000), []byte{2, 0, 100, 2, 0, 200})                                // two reads on
	f.Add(uint16(5000), []byte{0, 0x10, 0, 2, 0x10, 0, 2, 0x10, 0})                  // seek, then reads across the end
	f.Add(uint16(300), []byte{3, 0, 50, 2, 0, 40, 2, 0, 40, 1, 0xff, 0xf0, 2, 0, 9}) // a limit, reads past it, a seek back
	f.Add(uint16(0), []byte{2, 0, 1, 0, 0, 5, 2, 0, 1})                              // an empty object
	ctx := f.Context()
	b, err := storage.Open(ctx, "mem://", nil)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	f.Fuzz(func(t *testing.T, size uint16, prog []byte) {
		if len(prog) > 3*64 {
			prog = prog[:3*64]
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i/256)
		}
		key := b.NewKey()
		put(t, b, key, data, 64<<10)
		defer b.Delete(t.Context(), key)
		r, err := b.OpenRange(t.Context(), key, int64(size))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		limit := r.(interface{ LimitReads(int64) })
		want := bytes.NewReader(data)
		for i := 0; i+3 <= len(prog); i += 3 {
			arg := int64(binary.BigEndian.Uint16(prog[i+1:]))
			var got, exp string
			switch prog[i] % 4 {
			case 0:
				got, exp = seekResult(r.Seek(arg, io.SeekStart)), seekResult(want.Seek(arg, io.SeekStart))
			case 1:
				off := arg - 1<<15 // either way
				got, exp = seekResult(r.Seek(off, io.SeekCurrent)), seekResult(want.Seek(off, io.SeekCurrent))
			case 2:
				n := int(arg % 4096)
				got, exp = readResult(r, n), readResult(want, n)
			case 3:
				limit.LimitReads(arg)
				continue
			}
			if got != exp {
				t.Fatalf("operation %d (% x) on %d bytes: %s, want %s", i/3, prog[i:i+3], size, got, exp)
			}
		}
	})
}

func seekResult(pos int64, err error) string {
	return fmt.Sprintf("seek %d, error %v", pos, err != nil)
}

// readResult reads n bytes with io.ReadFull and describes the outcome.
func readResult(r io.Reader, n int) string {
	p := make([]byte, n)
	k, err := io.ReadFull(r, p)
	return fmt.Sprintf("read %d %x, eof %v, error %v", k, p[:k], err == io.EOF || err == io.ErrUnexpectedEOF, err != nil && err != io.EOF && err != io.ErrUnexpectedEOF)
}
