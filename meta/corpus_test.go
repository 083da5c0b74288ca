package meta

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/filestore-go/filestore"
)

// hangDeadline is how long one Extract may run before the test calls it a
// hang. It detects a parser that never returns; it is not a speed check.
const hangDeadline = 10 * time.Second

// extractWithin runs Extract in a goroutine and fails the test if it does
// not return within hangDeadline.
func extractWithin(t *testing.T, e *Extractor, in *filestore.MetaInput) (*filestore.Metadata, error) {
	t.Helper()
	type result struct {
		md  *filestore.Metadata
		err error
	}
	done := make(chan result, 1)
	go func() {
		md, err := e.Extract(context.Background(), in)
		done <- result{md, err}
	}()
	select {
	case r := <-done:
		return r.md, r.err
	case <-time.After(hangDeadline):
		t.Fatalf("Extract(%q) did not return within %v", in.Name, hangDeadline)
		return nil, nil
	}
}

// TestCorpusEveryFile runs every file of the corpus, broken ones included,
// through Extract: each returns (no panic, no hang), with the content type
// of its extension and metadata that encodes as JSON.
func TestCorpusEveryFile(t *testing.T) {
	dir := corpusDir(t)
	e, _ := newTestExtractor(t, nil)
	wantType := map[string]string{".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tiff": "image/tiff", ".heif": "image/heic", ".heic": "image/heic"}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, path)
		t.Run(rel, func(t *testing.T) {
			md, err := extractWithin(t, e, input(d.Name(), readFile(t, path)))
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if want, ok := wantType[strings.ToLower(filepath.Ext(path))]; ok && md.ContentType != want {
				t.Errorf("ContentType = %q, want %q", md.ContentType, want)
			}
			if _, err := json.Marshal(md); err != nil {
				t.Errorf("metadata does not encode: %v", err)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("walked %d files, want the whole corpus (over 100)", n)
	}
}

// dumpEntry is one file's tags in the reference dump: "Image Make" ->
// "Canon".
type dumpEntry map[string]string

// parseDump reads the EXIF.py dump of the corpus, keyed by the lowercased
// path without extension (the dump names one .HEIC file .heif).
func parseDump(t *testing.T, path string) map[string]dumpEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^(.+?) \(([A-Za-z ]+)\): ?(.*)$`)
	out := map[string]dumpEntry{}
	var cur dumpEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		if name, ok := strings.CutPrefix(text, "Opening: exif-samples-master/"); ok {
			cur = dumpEntry{}
			out[dumpKey(name)] = cur
			continue
		}
		if m := line.FindStringSubmatch(text); m != nil && cur != nil {
			cur[m[1]] = m[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func dumpKey(rel string) string {
	rel = filepath.ToSlash(rel)
	return strings.ToLower(strings.TrimSuffix(rel, filepath.Ext(rel)))
}

// dumpOrientation maps EXIF.py's orientation names to their values.
func dumpOrientation() map[string]int {
	return map[string]int{
		"Horizontal (normal)":                     1,
		"Mirrored horizontal":                     2,
		"Rotated 180":                             3,
		"Mirrored vertical":                       4,
		"Mirrored horizontal then rotated 90 CCW": 5,
		"Rotated 90 CW":                           6,
		"Mirrored horizontal then rotated 90 CW":  7,
		"Rotated 90 CCW":                          8,
	}
}

// ratio parses "1407/500" or "43".
func ratio(t *testing.T, s string) float64 {
	t.Helper()
	num, den, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("bad ratio %q", s)
	}
	if !ok {
		return n
	}
	d, err := strconv.ParseFloat(den, 64)
	if err != nil || d == 0 {
		t.Fatalf("bad ratio %q", s)
	}
	return n / d
}

// dumpDegrees converts "[43, 28, 1407/500]" with ref "N" to decimal
// degrees.
func dumpDegrees(t *testing.T, v, ref string) float64 {
	t.Helper()
	parts := strings.Split(strings.Trim(v, "[]"), ",")
	deg := 0.0
	for i, p := range parts {
		deg += ratio(t, p) / []float64{1, 60, 3600}[i]
	}
	if ref == "S" || ref == "W" {
		deg = -deg
	}
	return deg
}

// expectedFromDump is what the dump says about the fields compared: make,
// model, orientation, DateTimeOriginal (with OffsetTimeOriginal) and GPS.
func expectedFromDump(t *testing.T, d dumpEntry) filestore.EXIF {
	t.Helper()
	var x filestore.EXIF
	x.Make = strings.TrimSpace(d["Image Make"])
	x.Model = strings.TrimSpace(d["Image Model"])
	if v, ok := d["Image Orientation"]; ok {
		o, known := dumpOrientation()[v]
		if !known {
			t.Fatalf("unknown orientation %q in dump", v)
		}
		x.Orientation = &o
	}
	if v := d["EXIF DateTimeOriginal"]; len(v) == 19 && v != "0000:00:00 00:00:00" {
		x.TakenAt = strings.Replace(strings.Replace(v, ":", "-", 2), " ", "T", 1) + d["EXIF OffsetTimeOriginal"]
	}
	var g filestore.GPS
	if lat, ok := d["GPS GPSLatitude"]; ok && d["GPS GPSLatitudeRef"] != "" {
		g.Lat = ptr(dumpDegrees(t, lat, d["GPS GPSLatitudeRef"]))
	}
	if lon, ok := d["GPS GPSLongitude"]; ok && d["GPS GPSLongitudeRef"] != "" {
		g.Lon = ptr(dumpDegrees(t, lon, d["GPS GPSLongitudeRef"]))
	}
	if alt, ok := d["GPS GPSAltitude"]; ok {
		a := ratio(t, alt)
		if d["GPS GPSAltitudeRef"] == "1" {
			a = -a
		}
		g.Alt = &a
	}
	if g != (filestore.GPS{}) {
		x.GPS = &g
	}
	return x
}

// compared keeps the fields of x that the dump comparison covers.
func compared(x *filestore.EXIF) filestore.EXIF {
	if x == nil {
		return filestore.EXIF{}
	}
	return filestore.EXIF{Make: x.Make, Model: x.Model, Orientation: x.Orientation, TakenAt: x.TakenAt, GPS: x.GPS}
}

// TestCorpusMatchesDump compares, for every camera image of the corpus
// (one with a Make in the reference dump), make, model, orientation,
// DateTimeOriginal and GPS with the dump; GPS in decimal degrees to 1e-5.
func TestCorpusMatchesDump(t *testing.T) {
	dir := corpusDir(t)
	dump := parseDump(t, filepath.Join(dir, "dump"))
	e, _ := newTestExtractor(t, nil)
	compareGPS := cmpopts.EquateApprox(0, 1e-5)
	checked, withGPS := 0, 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		entry, ok := dump[dumpKey(rel)]
		if !ok || entry["Image Make"] == "" {
			return nil
		}
		want := expectedFromDump(t, entry)
		md, err := extractWithin(t, e, input(d.Name(), readFile(t, path)))
		if err != nil {
			t.Errorf("%s: Extract: %v", rel, err)
			return nil
		}
		if diff := cmp.Diff(want, compared(md.Meta.EXIF), compareGPS); diff != "" {
			t.Errorf("%s: EXIF differs from the dump (-dump +got):\n%s", rel, diff)
		}
		checked++
		if want.GPS != nil {
			withGPS++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 || withGPS < 5 {
		t.Errorf("compared %d camera images (%d with GPS), want at least 20 (5)", checked, withGPS)
	}
	t.Logf("compared %d camera images with the dump, %d with GPS", checked, withGPS)
}

// TestCorpusHEIFSize: the HEIF files of the corpus have the size of their
// primary item's ispe, turned by its irot; the figures are exiftool
// 12.57's ImageSpatialExtent and Rotation for each file. A HEIF's EXIF
// orientation does not turn it again (the iPhone's says "Rotate 90 CW",
// as its irot does).
func TestCorpusHEIFSize(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "heic")
	e, _ := newTestExtractor(t, nil)
	for _, tt := range []struct {
		file string
		want filestore.Meta
	}{
		{"IMG_5195.HEIC", filestore.Meta{Width: ptr(2566), Height: ptr(3313)}},
		{"samplefilehub.heif", filestore.Meta{Width: ptr(640), Height: ptr(426)}},
		{"mobile/HMD_Nokia_8.3_5G.heif", filestore.Meta{Width: ptr(3456), Height: ptr(4608), StoredWidth: ptr(4608), StoredHeight: ptr(3456)}},
		{"mobile/HMD_Nokia_8.3_5G_hdr.heif", filestore.Meta{Width: ptr(4608), Height: ptr(3456)}},
		{"mobile/iphone_13_pro_max.HEIC", filestore.Meta{Width: ptr(3024), Height: ptr(4032), StoredWidth: ptr(4032), StoredHeight: ptr(3024)}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			md, err := e.Extract(context.Background(), input(tt.file, readFile(t, filepath.Join(dir, tt.file))))
			if err != nil {
				t.Fatal(err)
			}
			got := md.Meta
			got.EXIF = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("size (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCorpusOrientation checks the orientation set: displayed dimensions
// are the same for all eight orientations of one picture, and width and
// height are swapped, with the encoded size in StoredWidth/StoredHeight,
// exactly for orientations 5 to 8.
func TestCorpusOrientation(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "jpg", "orientation")
	e, _ := newTestExtractor(t, nil)
	for _, shape := range []struct {
		name string
		w, h int // displayed
	}{{"landscape", 600, 450}, {"portrait", 450, 600}} {
		for o := 1; o <= 8; o++ {
			name := fmt.Sprintf("%s_%d.jpg", shape.name, o)
			t.Run(name, func(t *testing.T) {
				data := readFile(t, filepath.Join(dir, name))
				cfg, err := jpeg.DecodeConfig(strings.NewReader(string(data)))
				if err != nil {
					t.Fatal(err)
				}
				want := filestore.Meta{Width: ptr(shape.w), Height: ptr(shape.h), EXIF: &filestore.EXIF{Orientation: ptr(o)}}
				if o >= 5 {
					want.StoredWidth, want.StoredHeight = ptr(cfg.Width), ptr(cfg.Height)
					if cfg.Width != shape.h || cfg.Height != shape.w {
						t.Fatalf("encoded %dx%d, want the swap of %dx%d", cfg.Width, cfg.Height, shape.w, shape.h)
					}
				}
				md, err := e.Extract(context.Background(), input(name, data))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, md.Meta); diff != "" {
					t.Errorf("Meta (-want +got):\n%s", diff)
				}
			})
		}
	}
}
