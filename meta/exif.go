package meta

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	exif "github.com/dsoprea/go-exif/v3"
	exifcommon "github.com/dsoprea/go-exif/v3/common"

	"github.com/filestore-go/filestore"
)

// EXIF tags read.
const (
	tagMake             = 0x010f
	tagModel            = 0x0110
	tagOrientation      = 0x0112
	tagSoftware         = 0x0131
	tagExposureTime     = 0x829a
	tagFNumber          = 0x829d
	tagISO              = 0x8827
	tagDateTimeOriginal = 0x9003
	tagOffsetTimeOrig   = 0x9011
	tagFocalLength      = 0x920a
	tagLensModel        = 0xa434
	tagGPSLatitudeRef   = 0x0001
	tagGPSLatitude      = 0x0002
	tagGPSLongitudeRef  = 0x0003
	tagGPSLongitude     = 0x0004
	tagGPSAltitudeRef   = 0x0005
	tagGPSAltitude      = 0x0006
)

// Bounds on the values read: a tag whose count is larger is ignored.
const (
	maxASCIIBytes = 1024
	maxTextRunes  = 256
	maxRationals  = 8
	maxShorts     = 8
	maxBytes      = 8
)

// exposureShortestSecs is where exposure switches from "1/n" to seconds.
const exposureShortestSecs = 0.25001

// exifParser holds go-exif's IFD mapping and tag index, loaded once: a
// TagIndex loads itself lazily on first use, which is not safe when two
// goroutines do it at once, and after loading both are only read.
type exifParser struct {
	mapping *exifcommon.IfdMapping
	tags    *exif.TagIndex
}

func newExifParser() (*exifParser, error) {
	im := exifcommon.NewIfdMapping()
	if err := exifcommon.LoadStandardIfds(im); err != nil {
		return nil, fmt.Errorf("meta: load exif ifd mapping: %w", err)
	}
	ti := exif.NewTagIndex()
	if err := exif.LoadStandardTags(ti); err != nil {
		return nil, fmt.Errorf("meta: load exif tags: %w", err)
	}
	// go-exif skips an entry whose type is not the standard one, but
	// writers use others: SRATIONAL GPS coordinates (Nokia), LONG
	// orientation or ISO. The index is this parser's own, so it can accept
	// them.
	for _, w := range []struct {
		ifd   *exifcommon.IfdIdentity
		tag   uint16
		types []exifcommon.TagTypePrimitive
	}{
		{exifcommon.IfdStandardIfdIdentity, tagOrientation, []exifcommon.TagTypePrimitive{exifcommon.TypeLong}},
		{exifcommon.IfdExifStandardIfdIdentity, tagISO, []exifcommon.TagTypePrimitive{exifcommon.TypeLong}},
		{exifcommon.IfdExifStandardIfdIdentity, tagExposureTime, []exifcommon.TagTypePrimitive{exifcommon.TypeSignedRational}},
		{exifcommon.IfdExifStandardIfdIdentity, tagFNumber, []exifcommon.TagTypePrimitive{exifcommon.TypeSignedRational}},
		{exifcommon.IfdExifStandardIfdIdentity, tagFocalLength, []exifcommon.TagTypePrimitive{exifcommon.TypeSignedRational}},
		{exifcommon.IfdGpsInfoStandardIfdIdentity, tagGPSLatitude, []exifcommon.TagTypePrimitive{exifcommon.TypeSignedRational}},
		{exifcommon.IfdGpsInfoStandardIfdIdentity, tagGPSLongitude, []exifcommon.TagTypePrimitive{exifcommon.TypeSignedRational}},
		{exifcommon.IfdGpsInfoStandardIfdIdentity, tagGPSAltitude, []exifcommon.TagTypePrimitive{exifcommon.TypeSignedRational}},
	} {
		it, err := ti.Get(w.ifd, w.tag)
		if err != nil {
			return nil, fmt.Errorf("meta: exif tag %#04x: %w", w.tag, err)
		}
		for _, t := range w.types {
			if !it.DoesSupportType(t) {
				it.SupportedTypes = append(it.SupportedTypes, t)
			}
		}
	}
	return &exifParser{mapping: im, tags: ti}, nil
}

// blobSeeker gives go-exif readers over the compacted view of a block.
type blobSeeker struct {
	ra   io.ReaderAt
	size int64
}

// GetReadSeeker implements exif.ExifBlobSeeker.
func (b blobSeeker) GetReadSeeker(off int64) (io.ReadSeeker, error) {
	r := io.NewSectionReader(b.ra, 0, b.size)
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return r, nil
}

// parse reads the EXIF fields of a TIFF-structured blob (a TIFF file, or
// the payload of a JPEG APP1, PNG eXIf, WebP EXIF or HEIF Exif item). It
// returns nil when the blob holds none of them.
func (p *exifParser) parse(blob io.ReaderAt, size int64) (*filestore.EXIF, error) {
	c, err := compactTIFF(blob, size)
	if err != nil {
		return nil, err
	}
	ie := exif.NewIfdEnumerate(p.mapping, p.tags, blobSeeker{ra: c.view, size: c.size}, c.order)
	index, err := ie.Collect(c.firstIFD)
	if err != nil {
		return nil, fmt.Errorf("meta: exif: %w", err)
	}
	if index.RootIfd == nil {
		return nil, nil
	}
	return fields(index.RootIfd), nil
}

// fields takes the extracted tags from IFD0 and its Exif and GPS IFDs.
func fields(root *exif.Ifd) *filestore.EXIF {
	x := &filestore.EXIF{
		Make:     text(root, tagMake),
		Model:    text(root, tagModel),
		Software: text(root, tagSoftware),
	}
	if v, ok := integer(root, tagOrientation); ok && v >= 1 && v <= 8 {
		o := int(v)
		x.Orientation = &o
	}
	if sub, err := root.ChildWithIfdPath(exifcommon.IfdExifStandardIfdIdentity); err == nil {
		x.Lens = text(sub, tagLensModel)
		x.TakenAt = takenAt(text(sub, tagDateTimeOriginal), text(sub, tagOffsetTimeOrig))
		if v, ok := positive(sub, tagExposureTime); ok {
			x.ExposureTime = exposure(v)
		}
		if v, ok := positive(sub, tagFNumber); ok {
			x.FNumber = &v
		}
		if v, ok := integer(sub, tagISO); ok {
			iso := int(v)
			x.ISO = &iso
		}
		if v, ok := positive(sub, tagFocalLength); ok {
			x.FocalLength = &v
		}
	}
	// go-exif's (*Ifd).GpsInfo refuses GPS IFDs without a 2.0-2.3 version
	// tag (EXIF 3.0 writes 2.4), needs latitude to report altitude, and
	// truncates altitude to whole metres; the tags are read here instead.
	if gps, err := root.ChildWithIfdPath(exifcommon.IfdGpsInfoStandardIfdIdentity); err == nil {
		x.GPS = position(gps)
	}
	if *x == (filestore.EXIF{}) {
		return nil
	}
	return x
}

// entry returns the first entry of tag in ifd of one of the types whose
// value holds 1 to max units, so that reading it allocates little.
func entry(ifd *exif.Ifd, tag uint16, max uint32, types ...exifcommon.TagTypePrimitive) (*exif.IfdTagEntry, bool) {
	for _, e := range ifd.EntriesByTagId()[tag] {
		if slices.Contains(types, e.TagType()) && e.UnitCount() >= 1 && e.UnitCount() <= max {
			return e, true
		}
	}
	return nil, false
}

// text reads an ASCII tag: up to the first NUL, UTF-8 if it is valid UTF-8
// and Latin-1 otherwise, without control characters, trimmed, at most
// maxTextRunes runes; "" when absent or empty.
func text(ifd *exif.Ifd, tag uint16) string {
	e, ok := entry(ifd, tag, maxASCIIBytes, exifcommon.TypeAscii)
	if !ok {
		return ""
	}
	raw, err := e.GetRawBytes()
	if err != nil {
		return ""
	}
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	s := string(raw)
	if !utf8.ValidString(s) {
		r := make([]rune, len(raw))
		for i, c := range raw {
			r[i] = rune(c)
		}
		s = string(r)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxTextRunes {
		s = string([]rune(s)[:maxTextRunes])
	}
	return s
}

// integer reads the first value of a SHORT or LONG tag.
func integer(ifd *exif.Ifd, tag uint16) (uint32, bool) {
	e, ok := entry(ifd, tag, maxShorts, exifcommon.TypeShort, exifcommon.TypeLong)
	if !ok {
		return 0, false
	}
	v, err := e.Value()
	if err != nil {
		return 0, false
	}
	switch v := v.(type) {
	case []uint16:
		if len(v) > 0 {
			return uint32(v[0]), true
		}
	case []uint32:
		if len(v) > 0 {
			return v[0], true
		}
	}
	return 0, false
}

// fraction is one RATIONAL or SRATIONAL value.
type fraction struct {
	num, den float64
}

// fractions reads a RATIONAL or SRATIONAL tag.
func fractions(ifd *exif.Ifd, tag uint16) ([]fraction, bool) {
	e, ok := entry(ifd, tag, maxRationals, exifcommon.TypeRational, exifcommon.TypeSignedRational)
	if !ok {
		return nil, false
	}
	v, err := e.Value()
	if err != nil {
		return nil, false
	}
	var out []fraction
	switch v := v.(type) {
	case []exifcommon.Rational:
		for _, r := range v {
			out = append(out, fraction{float64(r.Numerator), float64(r.Denominator)})
		}
	case []exifcommon.SignedRational:
		for _, r := range v {
			out = append(out, fraction{float64(r.Numerator), float64(r.Denominator)})
		}
	}
	return out, len(out) > 0
}

// positive reads the first value of a rational tag, when it is a number
// above zero.
func positive(ifd *exif.Ifd, tag uint16) (float64, bool) {
	r, ok := fractions(ifd, tag)
	if !ok || r[0].den == 0 {
		return 0, false
	}
	v := r[0].num / r[0].den
	return v, v > 0 && !math.IsInf(v, 0)
}

// exposure formats an exposure time in seconds as photographers write it:
// "1/160" below a quarter second, else seconds to a tenth ("0.5", "2").
func exposure(secs float64) string {
	if secs < exposureShortestSecs {
		return "1/" + strconv.FormatFloat(math.Round(1/secs), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(secs*10)/10, 'f', -1, 64)
}

// takenAt turns DateTimeOriginal ("2008:05:30 15:56:01") into
// "2008-05-30T15:56:01" and appends OffsetTimeOriginal ("+02:00") when it
// is well formed. A date that is blank, all zeros or out of range gives "".
func takenAt(dt, offset string) string {
	if len(dt) < 19 {
		return ""
	}
	dt = dt[:19]
	for i, c := range []byte(dt) {
		want := byte(0)
		switch i {
		case 4, 7:
			want = ':'
		case 10:
			want = ' '
		case 13, 16:
			want = ':'
		}
		if want != 0 && c != want && !(i == 10 && c == 'T') && !((i == 4 || i == 7) && c == '-') {
			return ""
		}
		if want == 0 && (c < '0' || c > '9') {
			return ""
		}
	}
	num := func(a, b int) int { n, _ := strconv.Atoi(dt[a:b]); return n }
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	// A day the month does not have, or an hour past 23, is no time a
	// client could parse (RFC 3339); a leap second (60) is one.
	if year == 0 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 60 ||
		day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return ""
	}
	s := dt[:4] + "-" + dt[5:7] + "-" + dt[8:10] + "T" + dt[11:19]
	if isZoneOffset(offset) {
		s += offset
	}
	return s
}

// isZoneOffset accepts "+HH:MM" and "-HH:MM" within ±14:00.
func isZoneOffset(s string) bool {
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return false
	}
	for _, i := range []int{1, 2, 4, 5} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	h, _ := strconv.Atoi(s[1:3])
	m, _ := strconv.Atoi(s[4:6])
	return m <= 59 && (h < 14 || h == 14 && m == 0)
}

// position reads latitude, longitude and altitude from the GPS IFD. A
// coordinate needs its reference (N/S, E/W) and valid rationals; altitude
// counts as above sea level unless GPSAltitudeRef is 1.
func position(gps *exif.Ifd) *filestore.GPS {
	g := &filestore.GPS{}
	if v, ok := coordinate(gps, tagGPSLatitude, tagGPSLatitudeRef, "N", "S", 90); ok {
		g.Lat = &v
	}
	if v, ok := coordinate(gps, tagGPSLongitude, tagGPSLongitudeRef, "E", "W", 180); ok {
		g.Lon = &v
	}
	if r, ok := fractions(gps, tagGPSAltitude); ok && r[0].den != 0 {
		alt := r[0].num / r[0].den
		if e, ok := entry(gps, tagGPSAltitudeRef, maxBytes, exifcommon.TypeByte); ok {
			if raw, err := e.GetRawBytes(); err == nil && len(raw) > 0 && raw[0] == 1 {
				alt = -alt
			}
		}
		g.Alt = &alt
	}
	if g.Lat == nil && g.Lon == nil && g.Alt == nil {
		return nil
	}
	return g
}

// coordinate reads degrees, minutes and seconds (one to three
// non-negative rationals) as decimal degrees, negative for the second
// reference letter, within ±limit. A 0/0 minute or second counts as 0;
// 0/0 degrees is no coordinate (a receiver without a fix writes every
// part 0/0), not 0°.
func coordinate(gps *exif.Ifd, tag, refTag uint16, pos, neg string, limit float64) (float64, bool) {
	ref := strings.ToUpper(text(gps, refTag))
	if ref != pos && ref != neg {
		return 0, false
	}
	r, ok := fractions(gps, tag)
	if !ok || len(r) > 3 || r[0].den == 0 {
		return 0, false
	}
	v := 0.0
	for i, scale := range []float64{1, 60, 3600}[:len(r)] {
		switch {
		case r[i].num < 0 || r[i].den < 0:
			return 0, false
		case r[i].den != 0:
			v += r[i].num / r[i].den / scale
		case r[i].num != 0:
			return 0, false
		}
	}
	if v > limit {
		return 0, false
	}
	if ref == neg {
		v = -v
	}
	return v, true
}
