package meta

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/filestore-go/filestore"
)

// maxSeed bounds the fuzz seeds: files are cut to their first maxSeed
// bytes, which hold the headers and EXIF that matter. The fuzzer mutates
// and, above all, minimises small inputs far faster.
const maxSeed = 8 << 10

// FuzzExtract feeds arbitrary bytes and names to Extract. It must return
// (no panic; the fuzzer reports a hang), with either metadata that holds
// sound values or a type-policy error.
func FuzzExtract(f *testing.F) {
	for _, file := range testdataFiles(f) {
		f.Add(seed(readFile(f, file)), filepath.Base(file))
	}
	for _, seed := range []struct {
		name string
		data []byte
	}{
		{"a.tiff", exifTIFF()},
		{"a.jpg", asJPEG(exifTIFF())},
		{"a.heic", heifWithExif(exifTIFF())},
		{"turned.heic", heifImage(1, [][]byte{ispe(4608, 3456), irot(1)}, 1, 1, map[uint32][]uint16{1: {1, 2}})},
		{"a.png", pngWithExif(pngBytes(f, 7, 5), exifTIFF())},
		{"a.webp", webpWithExif(7, 5, exifTIFF())},
		{"loop.tiff", buildTIFF(256, 8, []ifdSpec{{off: 8, next: 8, entries: []ifdEntry{{tagExifIFD, tLong, 1, 8}, {tagGPSIFD, tLong, 1, 8}}}}, nil)},
		{"a.gif", gifBytes(f, 3, 2)},
		{"a.bmp", bmpBytes(f, 3, 2)},
		{"a.zip", docxBytes(f)},
		{"a.mp4", ftyp("isom", "mp41")},
		{"a.exe", peBytes()},
		{"a.txt", []byte("hello\n")},
	} {
		f.Add(seed.data, seed.name)
	}
	if os.Getenv("FILESTORE_CORPUS") != "" || corpusPresent() {
		addCorpusSeeds(f)
	}
	e, err := New(&Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		md, err := e.Extract(context.Background(), input(name, data))
		if err != nil {
			if !errors.Is(err, filestore.ErrTypeMismatch) && !errors.Is(err, filestore.ErrTypeNotAllowed) {
				t.Fatalf("Extract: unexpected error %v", err)
			}
			return
		}
		checkMetadata(t, md)
	})
}

// checkMetadata asserts what holds for any metadata Extract returns.
func checkMetadata(t *testing.T, md *filestore.Metadata) {
	t.Helper()
	if md.ContentType == "" || bareType(md.ContentType) == "" {
		t.Errorf("ContentType %q is not a media type", md.ContentType)
	}
	m := md.Meta
	if (m.Width == nil) != (m.Height == nil) || (m.Width != nil && (*m.Width <= 0 || *m.Height <= 0)) {
		t.Errorf("bad dimensions %v x %v", m.Width, m.Height)
	}
	if m.StoredWidth != nil && (m.Width == nil || *m.StoredWidth != *m.Height || *m.StoredHeight != *m.Width || *m.Width == *m.Height) {
		t.Errorf("stored size %v x %v for displayed %v x %v", m.StoredWidth, m.StoredHeight, m.Width, m.Height)
	}
	if x := m.EXIF; x != nil {
		if *x == (filestore.EXIF{}) {
			t.Error("empty EXIF instead of nil")
		}
		if x.Orientation != nil && (*x.Orientation < 1 || *x.Orientation > 8) {
			t.Errorf("orientation %d", *x.Orientation)
		}
		if g := x.GPS; g != nil {
			for _, v := range []*float64{g.Lat, g.Lon, g.Alt} {
				if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
					t.Errorf("GPS value %v", *v)
				}
			}
			if (g.Lat != nil && math.Abs(*g.Lat) > 90) || (g.Lon != nil && math.Abs(*g.Lon) > 180) {
				t.Errorf("GPS out of range: %v, %v", g.Lat, g.Lon)
			}
		}
	}
	if _, err := json.Marshal(md); err != nil {
		t.Errorf("metadata does not encode: %v", err)
	}
}

// corpusPresent reports whether the shared corpus is at its usual place.
func corpusPresent() bool {
	_, err := os.Stat(filepath.Join("..", "..", "shared", "corpus", "exif-samples", "dump"))
	return err == nil
}

// addCorpusSeeds adds the files of the shared corpus.
func addCorpusSeeds(f *testing.F) {
	dir := corpusDir(f)
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f.Add(seed(readFile(f, path)), d.Name())
		return nil
	})
}

// seed cuts data to maxSeed bytes.
func seed(data []byte) []byte { return data[:min(len(data), maxSeed)] }
