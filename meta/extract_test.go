package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/filestore-go/filestore"
)

// approx compares the float fields (degrees, f-numbers) to 1e-9.
func approx() cmp.Option { return cmpopts.EquateApprox(0, 1e-9) }

// TestTestdata pins the metadata of the committed images, so the tests
// check real files on a fresh clone. The values agree with the corpus's
// reference dump (see TestCorpusMatchesDump).
func TestTestdata(t *testing.T) {
	tests := []struct {
		file string
		want filestore.Metadata
	}{
		{"Canon_40D.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(100), Height: ptr(68),
			EXIF: &filestore.EXIF{Make: "Canon", Model: "Canon EOS 40D", Software: "GIMP 2.4.5",
				TakenAt: "2008-05-30T15:56:01", Orientation: ptr(1), ExposureTime: "1/160",
				FNumber: ptr(7.1), ISO: ptr(100), FocalLength: ptr(135.0)},
		}}},
		{"Nikon_D70.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(100), Height: ptr(66),
			EXIF: &filestore.EXIF{Make: "NIKON CORPORATION", Model: "NIKON D70", Software: "GIMP 2.4.5",
				TakenAt: "2008-03-15T09:52:01", Orientation: ptr(1), ExposureTime: "1/200",
				FNumber: ptr(9.0), ISO: ptr(200), FocalLength: ptr(100.0)},
		}}},
		{"DSCN0010.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(640), Height: ptr(480),
			EXIF: &filestore.EXIF{Make: "NIKON", Model: "COOLPIX P6000", Software: "Nikon Transfer 1.1 W",
				TakenAt: "2008-10-22T16:28:39", Orientation: ptr(1),
				// [43, 28, 1407/500] N and [11, 53, 645599999/100000000] E.
				GPS:          &filestore.GPS{Lat: ptr(43 + 28/60.0 + 1407/500.0/3600), Lon: ptr(11 + 53/60.0 + 6.45599999/3600)},
				ExposureTime: "1/75", FNumber: ptr(5.9), ISO: ptr(64), FocalLength: ptr(24.0)},
		}}},
		{"67-0_length_string.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(4032), Height: ptr(2012),
			EXIF: &filestore.EXIF{Make: "samsung", Model: "SM-G930F", Orientation: ptr(1),
				GPS: &filestore.GPS{Lat: ptr(51 + 1.5/60), Lon: ptr(7 + 35/60.0 + 31/3600.0), Alt: ptr(340.0)}},
		}}},
		{"landscape_1.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(600), Height: ptr(450), EXIF: &filestore.EXIF{Orientation: ptr(1)},
		}}},
		{"landscape_6.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(600), Height: ptr(450), StoredWidth: ptr(450), StoredHeight: ptr(600),
			EXIF: &filestore.EXIF{Orientation: ptr(6)},
		}}},
		{"Arbitro.tiff", filestore.Metadata{ContentType: "image/tiff", Meta: filestore.Meta{
			Width: ptr(174), Height: ptr(38), EXIF: &filestore.EXIF{Orientation: ptr(1)},
		}}},
		{"samplefilehub.heif", filestore.Metadata{ContentType: "image/heic", Meta: filestore.Meta{
			// exiftool 12.57: ImageSpatialExtent 640x426.
			Width: ptr(640), Height: ptr(426), EXIF: &filestore.EXIF{Orientation: ptr(1)},
		}}},
		{"image02206.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(65), Height: ptr(65),
		}}},
		{"33-type_error.jpg", filestore.Metadata{ContentType: "image/jpeg", Meta: filestore.Meta{
			Width: ptr(2560), Height: ptr(1600),
			EXIF: &filestore.EXIF{Make: "Canon", Model: "Canon PowerShot G9", Software: "GIMP 2.6.11",
				TakenAt: "2008-05-25T19:31:26", Orientation: ptr(1), ExposureTime: "1/1250",
				FNumber: ptr(5.0), ISO: ptr(80), FocalLength: ptr(7.4)},
		}}},
	}
	e, rec := newTestExtractor(t, nil)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			md, err := e.Extract(context.Background(), input(tt.file, readFile(t, filepath.Join("testdata", tt.file))))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, md, approx()); diff != "" {
				t.Errorf("Extract (-want +got):\n%s", diff)
			}
		})
	}
	if w := rec.warnings(); len(w) != 0 {
		t.Errorf("warnings logged: %v", w)
	}
	if len(tests) != len(testdataFiles(t)) {
		t.Errorf("%d testdata images, %d pinned", len(testdataFiles(t)), len(tests))
	}
}

func TestGeneratedImageDimensions(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	tests := []struct {
		name string
		give []byte
	}{
		{"a.jpg", jpegBytes(t, 7, 5)},
		{"a.png", pngBytes(t, 7, 5)},
		{"a.gif", gifBytes(t, 7, 5)},
		{"a.bmp", bmpBytes(t, 7, 5)},
		{"a.tiff", tiffBytes(t, 7, 5)},
		{"a.webp", webpBytes(7, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := e.Extract(context.Background(), input(tt.name, tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(filestore.Meta{Width: ptr(7), Height: ptr(5)}, md.Meta); diff != "" {
				t.Errorf("Meta (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRawPreviewSize: a TIFF-based raw (DNG, NEF, ARW) whose first image
// is a reduced-resolution preview (NewSubfileType 1) and whose image is in
// a SubIFD gets no size rather than the preview's; a first image that is
// not marked as one keeps its size.
func TestRawPreviewSize(t *testing.T) {
	raw := func(subfileType ifdEntry) []byte {
		ifd0 := ifdSpec{off: 8, entries: []ifdEntry{
			subfileType, {256, tLong, 1, 32}, {257, tLong, 1, 24}, {258, tShort, 3, 600},
			{259, tShort, 1, 1}, {262, tShort, 1, 2}, {273, tLong, 1, 1024}, {277, tShort, 1, 3},
			{278, tLong, 1, 24}, {279, tLong, 1, 32 * 24 * 3}, {330, tLong, 1, 300},
		}}
		sub := ifdSpec{off: 300, entries: []ifdEntry{
			{254, tLong, 1, 0}, {256, tLong, 1, 6000}, {257, tLong, 1, 4000}, {258, tShort, 1, 16},
			{259, tShort, 1, 1}, {262, tShort, 1, 32803}, {273, tLong, 1, 4096}, {277, tShort, 1, 1},
			{278, tLong, 1, 4000}, {279, tLong, 1, 6000 * 4000 * 2},
		}}
		return buildTIFF(1024+32*24*3+64, 8, []ifdSpec{ifd0, sub}, map[uint32][]byte{600: {8, 0, 8, 0, 8, 0}})
	}
	e, _ := newTestExtractor(t, nil)
	for _, tt := range []struct {
		name string
		give []byte
		want filestore.Meta
	}{
		{"preview, LONG", raw(ifdEntry{254, tLong, 1, 1}), filestore.Meta{}},
		{"preview, SHORT", raw(ifdEntry{254, tShort, 1, 1}), filestore.Meta{}},
		{"preview and mask bits", raw(ifdEntry{254, tLong, 1, 5}), filestore.Meta{}},
		{"full resolution", raw(ifdEntry{254, tLong, 1, 0}), filestore.Meta{Width: ptr(32), Height: ptr(24)}},
		{"a page of many", raw(ifdEntry{254, tLong, 1, 2}), filestore.Meta{Width: ptr(32), Height: ptr(24)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md, err := e.Extract(context.Background(), input("photo.dng", tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if md.ContentType != "image/tiff" {
				t.Errorf("content type %s, want image/tiff", md.ContentType)
			}
			if diff := cmp.Diff(tt.want, md.Meta); diff != "" {
				t.Errorf("Meta (-want +got):\n%s", diff)
			}
		})
	}
}

// exifTIFF is a well-formed TIFF-structured EXIF block with IFD0, an Exif
// IFD and a GPS IFD, built by hand so that every field's value is known.
func exifTIFF() []byte {
	return buildTIFF(1024, 8, []ifdSpec{
		{off: 8, entries: []ifdEntry{
			{tagMake, tASCII, 6, 200},
			{tagModel, tASCII, 4, inline([]byte("X-1\x00"))},
			{tagOrientation, tShort, 1, 8},
			{tagSoftware, tASCII, 8, 220},
			{tagExifIFD, tLong, 1, 300},
			{tagGPSIFD, tLong, 1, 600},
		}},
		{off: 300, entries: []ifdEntry{
			{tagExposureTime, tRational, 1, 240},
			{tagFNumber, tRational, 1, 248},
			{tagISO, tShort, 1, 400},
			{tagDateTimeOriginal, tASCII, 20, 256},
			{tagOffsetTimeOrig, tASCII, 7, 280},
			{tagFocalLength, tRational, 1, 288},
			{tagLensModel, tASCII, 4, inline([]byte("L50\x00"))},
		}},
		{off: 600, entries: []ifdEntry{
			{tagGPSLatitudeRef, tASCII, 2, inline([]byte("S\x00"))},
			{tagGPSLatitude, tRational, 3, 700},
			{tagGPSLongitudeRef, tASCII, 2, inline([]byte("W\x00"))},
			{tagGPSLongitude, tSRational, 3, 724},
			{tagGPSAltitudeRef, tByte, 1, 1},
			{tagGPSAltitude, tRational, 1, 748},
		}},
	}, map[uint32][]byte{
		200: []byte("Maker\x00"),
		220: []byte("Edit\t1 \x00"),
		240: rationalBytes(3, 10),
		248: rationalBytes(28, 10),
		256: []byte("2024:02:29 23:59:60\x00"),
		280: []byte("-03:30\x00"),
		288: rationalBytes(50, 1),
		700: rationalBytes(33, 1, 51, 1, 3540, 100),
		724: rationalBytes(151, 1, 12, 1, 0, 0),
		748: rationalBytes(1025, 10),
	})
}

// exifTIFFFields are the fields of exifTIFF.
func exifTIFFFields() *filestore.EXIF {
	return &filestore.EXIF{
		Make: "Maker", Model: "X-1", Lens: "L50", Software: "Edit1",
		TakenAt: "2024-02-29T23:59:60-03:30", Orientation: ptr(8),
		GPS:          &filestore.GPS{Lat: ptr(-(33 + 51/60.0 + 35.4/3600)), Lon: ptr(-(151 + 12/60.0)), Alt: ptr(-102.5)},
		ExposureTime: "0.3", FNumber: ptr(2.8), ISO: ptr(400), FocalLength: ptr(50.0),
	}
}

func TestEXIFFields(t *testing.T) {
	want := exifTIFFFields()
	e, _ := newTestExtractor(t, nil)
	for _, tt := range []struct {
		name string
		give []byte
	}{
		{"block.tiff", exifTIFF()},
		{"block.jpg", asJPEG(exifTIFF())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md, err := e.Extract(context.Background(), input(tt.name, tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, md.Meta.EXIF, approx()); diff != "" {
				t.Errorf("EXIF (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTakenAtAndExposure(t *testing.T) {
	for _, tt := range []struct {
		dt, offset, want string
	}{
		{"2008:05:30 15:56:01", "", "2008-05-30T15:56:01"},
		{"2008:05:30 15:56:01", "+02:00", "2008-05-30T15:56:01+02:00"},
		{"2008:05:30 15:56:01", "+2:00", "2008-05-30T15:56:01"},
		{"2008:05:30 15:56:01", "Z", "2008-05-30T15:56:01"},
		{"2008-05-30T15:56:01", "", "2008-05-30T15:56:01"},
		{"0000:00:00 00:00:00", "", ""},
		{"    :  :     :  :  ", "", ""},
		{"2008:13:30 15:56:01", "", ""},
		{"2008:05:30", "", ""},
		// Days a month does not have, and hours past 23: not times.
		{"2021:02:29 10:00:00", "", ""},
		{"2024:02:29 10:00:00", "", "2024-02-29T10:00:00"},
		{"2021:04:31 10:00:00", "", ""},
		{"2021:12:31 23:59:60", "", "2021-12-31T23:59:60"},
		{"2021:06:01 24:00:00", "", ""},
		{"2021:06:01 24:30:00", "", ""},
		// Offsets beyond ±14:00 are dropped, the date kept.
		{"2021:06:01 10:00:00", "+14:00", "2021-06-01T10:00:00+14:00"},
		{"2021:06:01 10:00:00", "-12:45", "2021-06-01T10:00:00-12:45"},
		{"2021:06:01 10:00:00", "+14:59", "2021-06-01T10:00:00"},
		{"2021:06:01 10:00:00", "-15:00", "2021-06-01T10:00:00"},
	} {
		if got := takenAt(tt.dt, tt.offset); got != tt.want {
			t.Errorf("takenAt(%q, %q) = %q, want %q", tt.dt, tt.offset, got, tt.want)
		}
	}
	for _, tt := range []struct {
		give float64
		want string
	}{
		{1.0 / 160, "1/160"}, {10.0 / 1600, "1/160"}, {0.25, "1/4"}, {0.3, "0.3"}, {0.5, "0.5"}, {2, "2"}, {2.5, "2.5"}, {1.0 / 3, "0.3"}, {1.0 / 4.5, "1/5"},
	} {
		if got := exposure(tt.give); got != tt.want {
			t.Errorf("exposure(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

// hostileAllocMax bounds what one Extract of TestHostileEXIF's inputs (at
// most 40 KB) may allocate in all. Measured: at most 791 KB (the TIFF
// whose IFD0 claims 65535 entries: image/tiff's DecodeConfig reads 12
// bytes of each), 90 KB for the others; a parser that trusts a count
// of the input allocates up to gigabytes.
const hostileAllocMax = 4 << 20

// TestHostileEXIF feeds EXIF structures built to make a parser loop,
// recurse or allocate without bound. Each must give exactly the fields
// that are sound, as a TIFF and inside a JPEG, and allocate at most
// hostileAllocMax bytes (the whole Extract, counted by the runtime; the
// tests of this package do not run in parallel).
func TestHostileEXIF(t *testing.T) {
	make8 := map[uint32][]byte{200: []byte("Maker\x00")}
	tests := []struct {
		name string
		give []byte
		want *filestore.EXIF
	}{
		{
			name: "IFD chain and child pointers loop back to IFD0",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, next: 8, entries: []ifdEntry{
				{tagMake, tASCII, 6, 200},
				{tagExifIFD, tLong, 1, 8},
				{tagGPSIFD, tLong, 1, 8},
				{tagOrientation, tShort, 1, 3},
			}}}, make8),
			want: &filestore.EXIF{Make: "Maker", Orientation: ptr(3)},
		},
		{
			name: "entry count far beyond the blob",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, count: ptr(uint16(0xffff)), entries: []ifdEntry{
				{tagMake, tASCII, 6, 200},
			}}}, make8),
			want: &filestore.EXIF{Make: "Maker"},
		},
		{
			name: "value counts of gigabytes",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, entries: []ifdEntry{
				{tagMake, tASCII, 0x7fffffff, 200},
				{tagModel, tASCII, 0xffffffff, 200},
				{tagSoftware, tASCII, 6, 200},
				{tagGPSIFD, tLong, 1, 100},
			}}, {off: 100, entries: []ifdEntry{
				{tagGPSLatitudeRef, tASCII, 2, inline([]byte("N\x00"))},
				{tagGPSLatitude, tRational, 0x20000000, 300},
				{tagGPSAltitude, tRational, 1, 300},
			}}}, map[uint32][]byte{200: []byte("Maker\x00"), 300: rationalBytes(7, 2)}),
			want: &filestore.EXIF{Software: "Maker", GPS: &filestore.GPS{Alt: ptr(3.5)}},
		},
		{
			name: "a thousand IFDs in a chain, each pointing to an Exif IFD",
			give: func() []byte {
				var ifds []ifdSpec
				for i := range 1000 {
					off := uint32(8 + 30*i)
					ifds = append(ifds, ifdSpec{off: off, next: off + 30, entries: []ifdEntry{
						{tagExifIFD, tLong, 1, 8}, {tagMake, tASCII, 6, 40000},
					}})
				}
				return buildTIFF(40100, 8, ifds, map[uint32][]byte{40000: []byte("Maker\x00")})
			}(),
			want: &filestore.EXIF{Make: "Maker"},
		},
		{
			name: "an IFD of a thousand repeated child pointers",
			give: func() []byte {
				entries := []ifdEntry{{tagOrientation, tShort, 1, 6}}
				for range 1000 {
					entries = append(entries, ifdEntry{tagExifIFD, tLong, 1, 8}, ifdEntry{tagGPSIFD, tLong, 1, 8})
				}
				return buildTIFF(30000, 8, []ifdSpec{{off: 8, entries: entries}}, nil)
			}(),
			want: &filestore.EXIF{Orientation: ptr(6)},
		},
		{
			name: "child pointers outside the blob",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, entries: []ifdEntry{
				{tagMake, tASCII, 6, 200},
				{tagExifIFD, tLong, 1, 0xfffffff0},
				{tagGPSIFD, tLong, 1, 2},
			}}}, make8),
			want: &filestore.EXIF{Make: "Maker"},
		},
		{
			name: "zero denominators and bad references",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, entries: []ifdEntry{
				{tagExifIFD, tLong, 1, 100},
				{tagGPSIFD, tLong, 1, 200},
				{tagOrientation, tShort, 1, 9},
			}}, {off: 100, entries: []ifdEntry{
				{tagFNumber, tRational, 1, 400},
				{tagExposureTime, tRational, 1, 400},
				{tagDateTimeOriginal, tASCII, 4, inline([]byte("now\x00"))},
			}}, {off: 200, entries: []ifdEntry{
				{tagGPSLatitudeRef, tASCII, 2, inline([]byte("Q\x00"))},
				{tagGPSLatitude, tRational, 3, 410},
				{tagGPSLongitudeRef, tASCII, 2, inline([]byte("E\x00"))},
				{tagGPSLongitude, tRational, 3, 410},
				{tagGPSAltitude, tRational, 1, 400},
			}}}, map[uint32][]byte{400: rationalBytes(5, 0), 410: rationalBytes(1, 0, 2, 1, 3, 1)}),
			want: nil,
		},
		{
			// A receiver without a fix: 0/0 is undefined, not 0°. A 0/0
			// second of a coordinate whose degrees are known counts as 0.
			name: "coordinates of 0/0 degrees",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, entries: []ifdEntry{
				{tagMake, tASCII, 6, 200},
				{tagGPSIFD, tLong, 1, 100},
			}}, {off: 100, entries: []ifdEntry{
				{tagGPSLatitudeRef, tASCII, 2, inline([]byte("N\x00"))},
				{tagGPSLatitude, tRational, 3, 300},
				{tagGPSLongitudeRef, tASCII, 2, inline([]byte("W\x00"))},
				{tagGPSLongitude, tRational, 3, 330},
			}}}, map[uint32][]byte{200: []byte("Maker\x00"), 300: rationalBytes(0, 0, 0, 0, 0, 0), 330: rationalBytes(4, 1, 30, 1, 0, 0)}),
			want: &filestore.EXIF{Make: "Maker", GPS: &filestore.GPS{Lon: ptr(-4.5)}},
		},
		{
			name: "child pointer of the TIFF IFD type (13)",
			give: buildTIFF(512, 8, []ifdSpec{{off: 8, entries: []ifdEntry{
				{tagExifIFD, 13, 1, 100},
			}}, {off: 100, entries: []ifdEntry{
				{tagISO, tShort, 1, 800},
			}}}, nil),
			want: &filestore.EXIF{ISO: ptr(800)},
		},
		{
			name: "IFD0 outside the blob",
			give: buildTIFF(64, 0xffff, nil, nil),
			want: nil,
		},
	}
	e, rec := newTestExtractor(t, nil)
	for _, tt := range tests {
		for _, c := range []struct {
			name string
			data []byte
		}{{"x.tiff", tt.give}, {"x.jpg", asJPEG(tt.give)}} {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				md, err := extractWithin(t, e, input(c.name, c.data))
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatal(err)
				}
				if n := after.TotalAlloc - before.TotalAlloc; n > hostileAllocMax {
					t.Errorf("Extract of %d bytes allocated %d bytes, want at most %d", len(c.data), n, hostileAllocMax)
				}
				if diff := cmp.Diff(tt.want, md.Meta.EXIF, approx()); diff != "" {
					t.Errorf("EXIF (-want +got):\n%s", diff)
				}
			})
		}
	}
	if w := rec.warnings(); len(w) != 0 {
		t.Errorf("warnings logged: %v", w)
	}
}

// TestRangeReadsBounded uses a 1 GiB content (synthetic, zeros but for its
// headers): metadata past Head is found with a few range reads, and what
// cannot be found within MaxRead stops at MaxRead.
func TestRangeReadsBounded(t *testing.T) {
	const size = 1 << 30
	const maxRead = 256 << 10
	ifdAt := int64(size - 4096)
	hdr := []byte("II*\x00\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(ifdAt))
	// IFD0 holds only inline values, so its bytes can sit anywhere.
	ifd := buildTIFF(4096, 8, []ifdSpec{{off: 8, entries: []ifdEntry{
		{0x100, tShort, 1, 3000}, // ImageWidth
		{0x101, tShort, 1, 2000}, // ImageLength
		{0x102, tShort, 1, 8},    // BitsPerSample
		{0x106, tShort, 1, 1},    // PhotometricInterpretation
		{tagMake, tASCII, 4, inline([]byte("Far\x00"))},
	}}}, nil)[8:]
	// JPEG whose frame header never comes: APP15 segments all the way.
	jpegParts := map[int64][]byte{0: {0xff, 0xd8}}
	for off := int64(2); off < 8<<20; off += 65537 {
		jpegParts[off] = []byte{0xff, 0xef, 0xff, 0xff}
	}
	tests := []struct {
		name     string
		file     *sparseFile
		want     filestore.Metadata
		maxBytes int64
	}{
		{
			name: "far.tiff",
			file: &sparseFile{size: size, parts: map[int64][]byte{0: hdr, ifdAt: ifd}},
			want: filestore.Metadata{ContentType: "image/tiff", Meta: filestore.Meta{
				Width: ptr(3000), Height: ptr(2000), EXIF: &filestore.EXIF{Make: "Far"}}},
			maxBytes: 2 * blockSize,
		},
		{
			name:     "endless.jpg",
			file:     &sparseFile{size: size, parts: jpegParts},
			want:     filestore.Metadata{ContentType: "image/jpeg"},
			maxBytes: maxRead,
		},
	}
	e, _ := newTestExtractor(t, &Options{MaxRead: maxRead})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := make([]byte, filestore.HeadSize)
			tt.file.ReadAt(head, 0)
			content := &countingReaderAt{ra: tt.file}
			md, err := extractWithin(t, e, &filestore.MetaInput{Name: tt.name, Head: head, Size: size, Content: content})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, md); diff != "" {
				t.Errorf("Extract (-want +got):\n%s", diff)
			}
			if content.bytes > tt.maxBytes {
				t.Errorf("read %d bytes beyond Head in %d calls, want at most %d", content.bytes, content.calls, tt.maxBytes)
			}
		})
	}
}

// cancellingReaderAt cancels the upload's context on its first read, as a
// client hanging up mid-extraction would.
type cancellingReaderAt struct {
	ra     io.ReaderAt
	cancel context.CancelFunc
	calls  int
}

func (c *cancellingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	c.cancel()
	return c.ra.ReadAt(p, off)
}

func TestContextCancelledDuringRangeReads(t *testing.T) {
	// A JPEG of APP15 segments, 64 KiB each: every step needs another
	// range read.
	parts := map[int64][]byte{0: {0xff, 0xd8}}
	for off := int64(2); off < 8<<20; off += 65537 {
		parts[off] = []byte{0xff, 0xef, 0xff, 0xff}
	}
	file := &sparseFile{size: 8 << 20, parts: parts}
	head := make([]byte, 16)
	file.ReadAt(head, 0)
	e, _ := newTestExtractor(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	content := &cancellingReaderAt{ra: file, cancel: cancel}
	md, err := e.Extract(ctx, &filestore.MetaInput{Name: "a.jpg", Head: head, Size: file.size, Content: content})
	if !errors.Is(err, context.Canceled) || md != nil {
		t.Fatalf("Extract = %v, %v; want nil, an error wrapping context.Canceled", md, err)
	}
	if content.calls != 1 {
		t.Errorf("%d range reads, want 1 (none after the cancellation)", content.calls)
	}

	data := readFile(t, filepath.Join("testdata", "Arbitro.tiff"))
	if _, err = e.Extract(ctx, input("a.tiff", data)); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract with a cancelled context = %v, want context.Canceled", err)
	}
}

// panickingReaderAt injects a fault: a content reader that panics, as a
// broken parser would.
type panickingReaderAt struct{}

func (panickingReaderAt) ReadAt([]byte, int64) (int, error) { panic("injected fault") }

func TestParserPanicIsRecovered(t *testing.T) {
	data := readFile(t, filepath.Join("testdata", "Arbitro.tiff"))
	e, rec := newTestExtractor(t, nil)
	md, err := e.Extract(context.Background(), &filestore.MetaInput{
		Name: "a.tiff", Head: data[:16], Size: int64(len(data)), Content: panickingReaderAt{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&filestore.Metadata{ContentType: "image/tiff"}, md); diff != "" {
		t.Errorf("Extract (-want +got):\n%s", diff)
	}
	want := []logged{
		{Level: slog.LevelWarn, Msg: "meta: parser panicked; metadata is partial", Stage: "exif"},
		{Level: slog.LevelWarn, Msg: "meta: parser panicked; metadata is partial", Stage: "dimensions"},
	}
	if diff := cmp.Diff(want, rec.warnings()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// failingReaderAt injects a storage fault.
type failingReaderAt struct{}

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("bucket unreachable") }

func TestReadErrorGivesPartialMetadata(t *testing.T) {
	data := readFile(t, filepath.Join("testdata", "Arbitro.tiff"))
	e, rec := newTestExtractor(t, nil)
	md, err := e.Extract(context.Background(), &filestore.MetaInput{
		Name: "a.tiff", Head: data[:16], Size: int64(len(data)), Content: failingReaderAt{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&filestore.Metadata{ContentType: "image/tiff"}, md); diff != "" {
		t.Errorf("Extract (-want +got):\n%s", diff)
	}
	want := []logged{{Level: slog.LevelWarn, Msg: "meta: reading the content failed; metadata is partial"}}
	if diff := cmp.Diff(want, rec.warnings()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestNilInput(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	if _, err := e.Extract(context.Background(), nil); !errors.Is(err, filestore.ErrInvalidArgument) {
		t.Errorf("Extract(nil) = %v, want ErrInvalidArgument", err)
	}
}

func TestHeadOnly(t *testing.T) {
	// Without Content, only Head is read; a small file is all Head.
	data := readFile(t, filepath.Join("testdata", "Canon_40D.jpg"))
	e, _ := newTestExtractor(t, nil)
	md, err := e.Extract(context.Background(), &filestore.MetaInput{Name: "a.jpg", Head: data, Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(filestore.Meta{Width: ptr(100), Height: ptr(68)}, filestore.Meta{Width: md.Meta.Width, Height: md.Meta.Height}); diff != "" || md.Meta.EXIF == nil {
		t.Errorf("Meta %+v (-want +got):\n%s", md.Meta, diff)
	}
}

// TestConcurrentExtract runs one Extractor from many goroutines (go-exif's
// tag index is shared); run with -race.
func TestConcurrentExtract(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	files := testdataFiles(t)
	want := map[string]*filestore.Metadata{}
	for _, f := range files {
		md, err := e.Extract(context.Background(), input(f, readFile(t, f)))
		if err != nil {
			t.Fatal(err)
		}
		want[f] = md
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(files))
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range files {
				md, err := e.Extract(context.Background(), input(f, readFile(t, f)))
				if err != nil {
					errs <- err.Error()
					continue
				}
				if diff := cmp.Diff(want[f], md); diff != "" {
					errs <- f + ": " + diff
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestNothingPrintedByDefault checks that go-exif, which logs through
// dsoprea/go-logging, prints nothing: a child test process extracts every
// testdata image and the hostile blocks, and its output must be only the
// test framework's.
func TestNothingPrintedByDefault(t *testing.T) {
	if os.Getenv("META_QUIET_CHILD") == "1" {
		e, err := New(&Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		inputs := [][]byte{exifTIFF(), asJPEG(exifTIFF()), buildTIFF(512, 8, []ifdSpec{{off: 8, next: 8, count: ptr(uint16(0xffff))}}, nil)}
		for _, f := range testdataFiles(t) {
			inputs = append(inputs, readFile(t, f))
		}
		for i, data := range inputs {
			e.Extract(context.Background(), input(string(rune('a'+i))+".bin", data))
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestNothingPrintedByDefault$", "-test.count=1")
	cmd.Env = append(os.Environ(), "META_QUIET_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "PASS" && !strings.HasPrefix(line, "coverage:") {
			t.Errorf("child printed %q; want nothing but PASS", line)
		}
	}
}
