package meta

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// Real bytes of each format, made with encoders where the standard library
// or golang.org/x/image has one, and as minimal valid headers otherwise.

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(40 * x), uint8(60 * y), 128, 255})
		}
	}
	return img
}

func encoded(t testing.TB, enc func(*bytes.Buffer, image.Image) error, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(t testing.TB, w, h int) []byte {
	return encoded(t, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) }, w, h)
}

func jpegBytes(t testing.TB, w, h int) []byte {
	return encoded(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }, w, h)
}

func gifBytes(t testing.TB, w, h int) []byte {
	return encoded(t, func(b *bytes.Buffer, m image.Image) error { return gif.Encode(b, m, nil) }, w, h)
}

func bmpBytes(t testing.TB, w, h int) []byte {
	return encoded(t, func(b *bytes.Buffer, m image.Image) error { return bmp.Encode(b, m) }, w, h)
}

func tiffBytes(t testing.TB, w, h int) []byte {
	return encoded(t, func(b *bytes.Buffer, m image.Image) error { return tiff.Encode(b, m, nil) }, w, h)
}

// webpBytes is a lossless WebP header (VP8L) for a w×h image.
func webpBytes(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14
	vp8l := []byte{0x2f, byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24), 0, 0, 0}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+len(vp8l)))
	b.WriteString("WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(len(vp8l)))
	b.Write(vp8l)
	return b.Bytes()
}

// ftyp is an ISO BMFF file start: an ftyp box with the brands, and an
// empty free box.
func ftyp(major string, compat ...string) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(16+4*len(compat)))
	b.WriteString("ftyp" + major + "\x00\x00\x00\x00")
	for _, c := range compat {
		b.WriteString(c)
	}
	b.Write([]byte{0, 0, 0, 8})
	b.WriteString("free")
	return b.Bytes()
}

func pdfBytes() []byte {
	return []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

// zipBytes makes a ZIP archive of the named entries; a "mimetype" entry is
// stored, as EPUB and OpenDocument require.
func zipBytes(t testing.TB, entries ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e[0], Method: zip.Deflate}
		if e[0] == "mimetype" {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func docxBytes(t testing.TB) []byte {
	return zipBytes(t,
		[2]string{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		[2]string{"_rels/.rels", `<?xml version="1.0"?><Relationships/>`},
		[2]string{"word/document.xml", `<?xml version="1.0"?><w:document/>`},
	)
}

func gzipBytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("hello, gzip"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sevenZipBytes() []byte {
	b := []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04}
	return append(b, make([]byte, 24)...)
}

// webmBytes is an EBML header with the given DocType.
func webmBytes(docType string) []byte {
	body := append([]byte{0x42, 0x82, 0x80 | byte(len(docType))}, docType...)
	body = append(body, 0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02)
	b := append([]byte{0x1a, 0x45, 0xdf, 0xa3, 0x80 | byte(len(body))}, body...)
	return append(b, 0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
}

// mp3Bytes is an ID3v2.4 tag (when id3) followed by an MPEG-1 Layer III
// frame header.
func mp3Bytes(id3 bool) []byte {
	var b []byte
	if id3 {
		b = []byte("ID3\x04\x00\x00\x00\x00\x00\x00")
	}
	b = append(b, 0xff, 0xfb, 0x90, 0x64)
	return append(b, make([]byte, 413)...)
}

func wavBytes() []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(0))
	return b.Bytes()
}

// oggBytes is a first Ogg page whose packet starts with first.
func oggBytes(first string) []byte {
	b := []byte("OggS\x00\x02")
	b = append(b, make([]byte, 8+4+4+4)...) // granule, serial, sequence, CRC
	b = append(b, 1, byte(len(first)))
	return append(b, first...)
}

func elfBytes() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 0x3e) // x86-64
	binary.LittleEndian.PutUint32(b[20:], 1)
	return b
}

func peBytes() []byte {
	b := make([]byte, 0x100)
	copy(b, "MZ")
	binary.LittleEndian.PutUint16(b[2:], 0x90)
	binary.LittleEndian.PutUint16(b[4:], 3)
	binary.LittleEndian.PutUint16(b[8:], 4)
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x84:], 0x8664)
	return b
}

func dosBytes() []byte {
	b := peBytes()
	binary.LittleEndian.PutUint32(b[0x3c:], 0)
	copy(b[0x80:], "\xb4\x4c\xcd\x21")
	return b
}

func machoBytes() []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint32(b, 0xfeedfacf)
	binary.LittleEndian.PutUint32(b[4:], 0x01000007) // x86-64
	binary.LittleEndian.PutUint32(b[12:], 2)         // MH_EXECUTE
	return b
}

func fatMachoBytes() []byte {
	b := make([]byte, 48)
	binary.BigEndian.PutUint32(b, 0xcafebabe)
	binary.BigEndian.PutUint32(b[4:], 2)
	return b
}

func javaClassBytes() []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint32(b, 0xcafebabe)
	binary.BigEndian.PutUint16(b[6:], 52)
	return b
}

func unknownBytes() []byte {
	return []byte("\x13\x37\x00\x42 not a known format \x00\x01\x02\x03\xfe")
}
