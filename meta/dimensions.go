package meta

import (
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/filestore-go/filestore"
)

// dimensions decodes the encoded width and height of an image of type t
// with that format's DecodeConfig (no decoder registry is involved); ok is
// false for other types and for images whose header does not decode.
func dimensions(s *source, t string) (w, h int, ok bool) {
	// A *io.SectionReader is also an io.ReaderAt, which tiff.DecodeConfig
	// uses instead of reading the whole content into memory.
	r := s.reader()
	var cfg image.Config
	var err error
	switch t {
	case typeJPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case typePNG:
		cfg, err = png.DecodeConfig(r)
	case typeGIF:
		cfg, err = gif.DecodeConfig(r)
	case typeWebP:
		cfg, err = webp.DecodeConfig(r)
	case typeBMP:
		cfg, err = bmp.DecodeConfig(r)
	case typeTIFF:
		if tiffPreview(s, s.size) {
			return 0, 0, false
		}
		cfg, err = tiff.DecodeConfig(r)
	default:
		return 0, 0, false
	}
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// tagNewSubfileType is the TIFF tag whose bit 0 marks an image as a
// reduced-resolution copy of another one in the same file.
const tagNewSubfileType = 0x00fe

// tiffPreview reports whether the first image of a TIFF-structured file
// (the one tiff.DecodeConfig reads) is a reduced-resolution copy: in DNG
// and the TIFF-based camera raws it is a thumbnail, and the image itself
// is in a SubIFD. Its size is not the image's, so none is reported.
func tiffPreview(ra io.ReaderAt, size int64) bool {
	order, first, err := tiffHeader(ra, size)
	if err != nil {
		return false
	}
	entries, err := readIFD(ra, size, order, first, kindSubfile)
	if err != nil || len(entries) == 0 {
		return false
	}
	e := entries[0]
	var v uint32
	switch order.Uint16(e[2:]) {
	case 3: // SHORT
		v = uint32(order.Uint16(e[8:]))
	case 4: // LONG
		v = order.Uint32(e[8:])
	default:
		return false
	}
	return order.Uint32(e[4:]) >= 1 && v&1 != 0
}

// exifTurned reports whether x's orientation (5 to 8) turns the image by
// a quarter, which swaps its displayed width and height.
func exifTurned(x *filestore.EXIF) bool {
	return x != nil && x.Orientation != nil && *x.Orientation >= 5 && *x.Orientation <= 8
}

// setDimensions records the size as displayed, width and height swapped
// when the image is turned by a quarter, and then the encoded size as
// well when it differs from the displayed one.
func setDimensions(m *filestore.Meta, w, h int, turned bool) {
	dw, dh := w, h
	if turned {
		dw, dh = h, w
	}
	m.Width, m.Height = &dw, &dh
	if dw != w {
		sw, sh := w, h
		m.StoredWidth, m.StoredHeight = &sw, &sh
	}
}
