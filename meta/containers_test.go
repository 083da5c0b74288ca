package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
)

// bmffBox encodes an ISO BMFF box.
func bmffBox(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

// heifWithExif builds a HEIC whose Exif item lives in the meta box's idat
// (iloc version 1, construction method 1).
func heifWithExif(tiff []byte) []byte {
	exifItem := append(binary.BigEndian.AppendUint32(nil, 6), "Exif\x00\x00"...)
	exifItem = append(exifItem, tiff...)
	infe := func(id uint16, typ string) []byte {
		p := []byte{2, 0, 0, 0}
		p = binary.BigEndian.AppendUint16(p, id)
		p = append(p, 0, 0)
		p = append(p, typ...)
		return bmffBox("infe", append(p, 0))
	}
	iinf := bmffBox("iinf", []byte{0, 0, 0, 0, 0, 2}, infe(1, "hvc1"), infe(2, "Exif"))
	iloc := []byte{1, 0, 0, 0, 0x44, 0x00} // version 1; offset and length 4 bytes
	iloc = binary.BigEndian.AppendUint16(iloc, 1)
	iloc = binary.BigEndian.AppendUint16(iloc, 2) // item 2
	iloc = binary.BigEndian.AppendUint16(iloc, 1) // construction method 1 (idat)
	iloc = binary.BigEndian.AppendUint16(iloc, 0) // data reference
	iloc = binary.BigEndian.AppendUint16(iloc, 1) // one extent
	iloc = binary.BigEndian.AppendUint32(iloc, 0)
	iloc = binary.BigEndian.AppendUint32(iloc, uint32(len(exifItem)))
	hdlr := bmffBox("hdlr", make([]byte, 8), []byte("pict"), make([]byte, 13))
	meta := bmffBox("meta", []byte{0, 0, 0, 0}, hdlr, iinf, bmffBox("iloc", iloc), bmffBox("idat", exifItem))
	return append(ftyp("heic", "mif1", "heic")[:24], meta...)
}

func TestHEIFExifInIdat(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	md, err := e.Extract(context.Background(), input("a.heic", heifWithExif(exifTIFF())))
	if err != nil {
		t.Fatal(err)
	}
	if md.ContentType != "image/heic" {
		t.Errorf("ContentType = %q, want image/heic", md.ContentType)
	}
	if diff := cmp.Diff(exifTIFFFields(), md.Meta.EXIF, approx()); diff != "" {
		t.Errorf("EXIF (-want +got):\n%s", diff)
	}
}

// pngWithExif inserts an eXIf chunk after the IHDR chunk of a PNG.
func pngWithExif(png, tiff []byte) []byte {
	const ihdrEnd = 8 + 8 + 13 + 4
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(tiff)))
	chunk = append(chunk, "eXIf"...)
	chunk = append(chunk, tiff...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := append([]byte{}, png[:ihdrEnd]...)
	out = append(out, chunk...)
	return append(out, png[ihdrEnd:]...)
}

// webpWithExif makes an extended WebP (VP8X) of a lossless w×h image with
// an EXIF chunk after the image data.
func webpWithExif(w, h int, tiff []byte) []byte {
	simple := webpBytes(w, h)
	vp8l := simple[12:]
	vp8x := []byte("VP8X")
	vp8x = binary.LittleEndian.AppendUint32(vp8x, 10)
	vp8x = append(vp8x, 0x08, 0, 0, 0) // EXIF flag
	vp8x = append(vp8x, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	exif := []byte("EXIF")
	exif = binary.LittleEndian.AppendUint32(exif, uint32(len(tiff)))
	exif = append(exif, tiff...)
	if len(tiff)%2 == 1 {
		exif = append(exif, 0)
	}
	body := append(append(append([]byte("WEBP"), vp8x...), vp8l...), exif...)
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

// TestExifInPNGAndWebP finds EXIF in a PNG eXIf chunk and in a WebP EXIF
// chunk; its orientation 8 swaps the displayed size of the 7×5 images.
func TestExifInPNGAndWebP(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	want := filestore.Meta{Width: ptr(5), Height: ptr(7), StoredWidth: ptr(7), StoredHeight: ptr(5), EXIF: exifTIFFFields()}
	for _, tt := range []struct {
		name string
		give []byte
	}{
		{"a.png", pngWithExif(pngBytes(t, 7, 5), exifTIFF())},
		{"a.webp", webpWithExif(7, 5, exifTIFF())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md, err := e.Extract(context.Background(), input(tt.name, tt.give))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, md.Meta, approx()); diff != "" {
				t.Errorf("Meta (-want +got):\n%s", diff)
			}
		})
	}
}

// heifImage builds a HEIF whose meta box holds pitm (when primary is not
// zero), an ipco with props and an ipma of the given version and flags
// associating each item with 1-based property indexes.
func heifImage(primary uint32, props [][]byte, ipmaVersion byte, ipmaFlags byte, assoc map[uint32][]uint16) []byte {
	var children [][]byte
	children = append(children, []byte{0, 0, 0, 0}, bmffBox("hdlr", make([]byte, 8), []byte("pict"), make([]byte, 13)))
	if primary != 0 {
		children = append(children, bmffBox("pitm", []byte{0, 0, 0, 0}, binary.BigEndian.AppendUint16(nil, uint16(primary))))
	}
	ipma := []byte{ipmaVersion, 0, 0, ipmaFlags}
	ipma = binary.BigEndian.AppendUint32(ipma, uint32(len(assoc)))
	for _, item := range []uint32{1, 2} {
		idx, ok := assoc[item]
		if !ok {
			continue
		}
		if ipmaVersion < 1 {
			ipma = binary.BigEndian.AppendUint16(ipma, uint16(item))
		} else {
			ipma = binary.BigEndian.AppendUint32(ipma, item)
		}
		ipma = append(ipma, byte(len(idx)))
		for _, i := range idx {
			if ipmaFlags&1 != 0 {
				ipma = binary.BigEndian.AppendUint16(ipma, 0x8000|i) // essential
			} else {
				ipma = append(ipma, 0x80|byte(i))
			}
		}
	}
	children = append(children, bmffBox("iprp", bmffBox("ipco", props...), bmffBox("ipma", ipma)))
	return append(ftyp("heic", "mif1", "heic")[:24], bmffBox("meta", children...)...)
}

// ispe is an image spatial extents property.
func ispe(w, h uint32) []byte {
	return bmffBox("ispe", []byte{0, 0, 0, 0}, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h))
}

// irot is an image rotation property of angle quarter turns anticlockwise.
func irot(angle byte) []byte { return bmffBox("irot", []byte{angle}) }

// TestHEIFSize: the size of a HEIF is its primary item's ispe, swapped (the
// encoded size then in StoredWidth/StoredHeight) when its irot turns it by
// one or three quarters; anything missing or out of range gives none.
func TestHEIFSize(t *testing.T) {
	hvcC := bmffBox("hvcC", make([]byte, 23))
	tests := []struct {
		name string
		file []byte
		want filestore.Meta
	}{
		{"ispe, 7-bit indexes", heifImage(1, [][]byte{hvcC, ispe(640, 426)}, 0, 0, map[uint32][]uint16{1: {1, 2}}),
			filestore.Meta{Width: ptr(640), Height: ptr(426)}},
		{"32-bit item ids, 15-bit indexes", heifImage(1, [][]byte{hvcC, ispe(4032, 3024)}, 1, 1, map[uint32][]uint16{1: {1, 2}}),
			filestore.Meta{Width: ptr(4032), Height: ptr(3024)}},
		{"a quarter turn", heifImage(1, [][]byte{ispe(4608, 3456), irot(1)}, 0, 0, map[uint32][]uint16{1: {1, 2}}),
			filestore.Meta{Width: ptr(3456), Height: ptr(4608), StoredWidth: ptr(4608), StoredHeight: ptr(3456)}},
		{"three quarters", heifImage(1, [][]byte{irot(3), ispe(30, 20)}, 0, 0, map[uint32][]uint16{1: {1, 2}}),
			filestore.Meta{Width: ptr(20), Height: ptr(30), StoredWidth: ptr(30), StoredHeight: ptr(20)}},
		{"a half turn", heifImage(1, [][]byte{ispe(30, 20), irot(2)}, 0, 0, map[uint32][]uint16{1: {1, 2}}),
			filestore.Meta{Width: ptr(30), Height: ptr(20)}},
		{"the primary item's, not a thumbnail's", heifImage(2, [][]byte{ispe(160, 120), ispe(3000, 2000)}, 0, 0, map[uint32][]uint16{1: {1}, 2: {2}}),
			filestore.Meta{Width: ptr(3000), Height: ptr(2000)}},
		{"the primary item has no ispe", heifImage(2, [][]byte{ispe(160, 120), hvcC}, 0, 0, map[uint32][]uint16{1: {1}, 2: {2}}),
			filestore.Meta{}},
		{"no pitm", heifImage(0, [][]byte{ispe(640, 426)}, 0, 0, map[uint32][]uint16{1: {1}}),
			filestore.Meta{}},
		{"indexes out of range", heifImage(1, [][]byte{ispe(640, 426)}, 0, 0, map[uint32][]uint16{1: {0, 2, 127}}),
			filestore.Meta{}},
		{"a zero extent", heifImage(1, [][]byte{ispe(0, 426)}, 0, 0, map[uint32][]uint16{1: {1}}),
			filestore.Meta{}},
		{"a truncated ispe", heifImage(1, [][]byte{bmffBox("ispe", []byte{0, 0, 0, 0, 0, 0, 2})}, 0, 0, map[uint32][]uint16{1: {1}}),
			filestore.Meta{}},
		{"an AVIF", append(ftyp("avif", "mif1", "miaf")[:24], heifImage(1, [][]byte{ispe(1920, 1080), irot(1)}, 0, 0, map[uint32][]uint16{1: {1, 2}})[24:]...),
			filestore.Meta{Width: ptr(1080), Height: ptr(1920), StoredWidth: ptr(1920), StoredHeight: ptr(1080)}},
	}
	e, rec := newTestExtractor(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, want := "a.heic", "image/heic"
			if string(tt.file[8:12]) == "avif" {
				name, want = "a.avif", "image/avif"
			}
			md, err := e.Extract(context.Background(), input(name, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if md.ContentType != want {
				t.Errorf("ContentType = %q, want %s", md.ContentType, want)
			}
			if diff := cmp.Diff(tt.want, md.Meta); diff != "" {
				t.Errorf("Meta (-want +got):\n%s", diff)
			}
		})
	}
	if w := rec.warnings(); len(w) != 0 {
		t.Errorf("warnings logged: %v", w)
	}
}
