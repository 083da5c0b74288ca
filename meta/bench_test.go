package meta

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkExtract measures Extract on a typical camera JPEG (a Nikon
// COOLPIX P6000 picture with GPS, 160 KiB).
func BenchmarkExtract(b *testing.B) {
	data := readFile(b, filepath.Join("testdata", "DSCN0010.jpg"))
	e, _ := newTestExtractor(b, nil)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Extract(ctx, input("DSCN0010.jpg", data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractHostile measures Extract on EXIF built to be expensive:
// a thousand chained IFDs of thousands of valid entries each, whose Exif,
// GPS and Interoperability pointers all lead back to IFD0.
func BenchmarkExtractHostile(b *testing.B) {
	entries := []ifdEntry{{tagExifIFD, tLong, 1, 8}, {tagGPSIFD, tLong, 1, 8}, {0xa005, tLong, 1, 8}}
	for i := range 3000 {
		entries = append(entries, ifdEntry{uint16(0x1000 + i), tShort, 1, uint32(i)})
	}
	ifds := []ifdSpec{{off: 8, next: 8, entries: entries}}
	data := asJPEG(buildTIFF(40000, 8, ifds, nil))
	e, _ := newTestExtractor(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Extract(ctx, input("hostile.jpg", data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSniff measures content type detection alone.
func BenchmarkSniff(b *testing.B) {
	data := readFile(b, filepath.Join("testdata", "DSCN0010.jpg"))
	e, _ := newTestExtractor(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		e.sniff(data)
	}
}
