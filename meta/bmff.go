package meta

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

// maxBrands bounds how many compatible brands of an ftyp box are read.
const maxBrands = 64

// bmffType names an ISO base media file (MP4, QuickTime, HEIF, AVIF, 3GP,
// ...) by the brands of its ftyp box: a specific major brand decides;
// otherwise the first specific compatible brand; otherwise the generic
// container the brands name (image/heif for mif1/msf1, video/mp4 for
// isom/mp41/...). A QuickTime movie without ftyp is recognised by its
// first atom. "" when b is none of these.
func bmffType(b []byte) string {
	if len(b) >= 16 && string(b[4:8]) == "ftyp" {
		size := int(binary.BigEndian.Uint32(b))
		if size < 16 {
			return ""
		}
		end := min(size, len(b), 16+4*maxBrands)
		major := string(b[8:12])
		var compat []string
		for i := 16; i+4 <= end; i += 4 {
			compat = append(compat, string(b[i:i+4]))
		}
		return brandsType(major, compat)
	}
	if len(b) >= 8 && b[0] == 0 && binary.BigEndian.Uint32(b) >= 8 {
		switch string(b[4:8]) {
		case "moov", "mdat", "wide", "pnot", "free", "skip":
			return typeMOV
		}
	}
	return ""
}

// brandsType applies bmffType's rule to the brands of an ftyp box.
func brandsType(major string, compat []string) string {
	if t, generic := brandType(major); t != "" && !generic {
		return t
	}
	for _, c := range compat {
		if t, generic := brandType(c); t != "" && !generic {
			return t
		}
	}
	if t, _ := brandType(major); t != "" {
		return t
	}
	for _, c := range compat {
		if t, _ := brandType(c); t != "" {
			return t
		}
	}
	return ""
}

// brandType is the media type an ftyp brand stands for, and whether the
// brand is a generic container brand that a more specific one overrides.
func brandType(brand string) (mime string, generic bool) {
	switch brand {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs":
		return typeHEIC, false
	case "avif", "avis":
		return typeAVIF, false
	case "mif1", "msf1", "mif2", "miaf":
		return typeHEIF, true
	case "qt  ":
		return typeMOV, false
	case "M4A ", "M4B ", "M4P ":
		return typeM4A, false
	case "M4V ", "M4VH", "M4VP":
		return typeM4V, false
	case "crx ":
		return typeCR3, false
	case "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9",
		"mp41", "mp42", "mp71", "avc1", "dash", "mmp4", "MSNV", "F4V ", "F4P ",
		"NDAS", "NDSC", "NDSH", "NDSM", "NDSP", "NDSS", "NDXC", "NDXH", "NDXM", "NDXP", "NDXS":
		return typeMP4, true
	}
	switch {
	case strings.HasPrefix(brand, "3g2"):
		return type3G2, false
	case strings.HasPrefix(brand, "3gp"), strings.HasPrefix(brand, "3gg"),
		strings.HasPrefix(brand, "3gs"), strings.HasPrefix(brand, "3ge"), strings.HasPrefix(brand, "3gr"):
		return type3GP, false
	}
	return "", false
}

// box is one ISO BMFF box: its type and where its payload lies.
type box struct {
	typ        string
	start, end int64 // payload, absolute
}

// Bounds on walking boxes.
const (
	maxTopBoxes  = 256
	maxChildBox  = 4096
	maxMetaBytes = 1 << 20
)

// readBoxHeader reads the box header at off within [off, limit).
func readBoxHeader(r io.ReaderAt, off, limit int64) (box, bool) {
	if limit-off < 8 {
		return box{}, false
	}
	var h [16]byte
	if _, err := r.ReadAt(h[:8], off); err != nil {
		return box{}, false
	}
	size := int64(binary.BigEndian.Uint32(h[:4]))
	hdr := int64(8)
	switch size {
	case 0:
		size = limit - off
	case 1:
		if limit-off < 16 {
			return box{}, false
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			return box{}, false
		}
		u := binary.BigEndian.Uint64(h[8:16])
		if u > uint64(limit-off) {
			return box{}, false
		}
		size, hdr = int64(u), 16
	}
	if size < hdr || size > limit-off {
		return box{}, false
	}
	return box{typ: string(h[4:8]), start: off + hdr, end: off + size}, true
}

// heifMeta is the top-level meta box of a HEIF (HEIC, AVIF) file: its
// payload, and where in it its children lie (zero boxes when absent).
type heifMeta struct {
	payload                      []byte
	iinf, iloc, idat, pitm, iprp box
}

// readHeifMeta finds the top-level meta box within the first maxTopBoxes
// boxes and reads its payload (at most maxMetaBytes) within the source's
// budget; ok is false when there is none or it cannot be read.
func readHeifMeta(s *source) (*heifMeta, bool) {
	var meta box
	found := false
	off := int64(0)
	for i := 0; i < maxTopBoxes && off < s.size; i++ {
		b, ok := readBoxHeader(s, off, s.size)
		if !ok {
			return nil, false
		}
		if b.typ == "meta" {
			meta, found = b, true
			break
		}
		off = b.end
	}
	if !found || meta.end-meta.start < 4 || meta.end-meta.start > maxMetaBytes {
		return nil, false
	}
	payload, err := s.bytesAt(meta.start, int(meta.end-meta.start))
	if err != nil {
		return nil, false
	}
	m := &heifMeta{payload: payload}
	br := bytes.NewReader(payload)
	off = 4 // FullBox version and flags
	for i := 0; i < maxChildBox && off < int64(len(payload)); i++ {
		b, ok := readBoxHeader(br, off, int64(len(payload)))
		if !ok {
			break
		}
		switch b.typ {
		case "iinf":
			m.iinf = b
		case "iloc":
			m.iloc = b
		case "idat":
			m.idat = b
		case "pitm":
			m.pitm = b
		case "iprp":
			m.iprp = b
		}
		off = b.end
	}
	return m, true
}

// child returns the payload of child box b.
func (m *heifMeta) child(b box) []byte { return m.payload[b.start:b.end] }

// heifExif returns the TIFF-structured EXIF of a HEIF (HEIC, AVIF) file:
// the item of type "Exif" found through the meta box's iinf and iloc, read
// within the source's budget. nil when there is none or it cannot be read.
func heifExif(s *source) []byte {
	m, ok := readHeifMeta(s)
	if !ok {
		return nil
	}
	id, ok := exifItemID(m.child(m.iinf))
	if !ok {
		return nil
	}
	ext, method, ok := itemExtents(m.child(m.iloc), id)
	if !ok {
		return nil
	}
	var data []byte
	for _, x := range ext {
		if int64(len(data))+x.length > maxMetaBytes {
			return nil
		}
		var part []byte
		switch method {
		case 0:
			var err error
			part, err = s.bytesAt(x.offset, int(x.length))
			if err != nil {
				return nil
			}
		case 1:
			if x.offset < 0 || x.offset+x.length > m.idat.end-m.idat.start {
				return nil
			}
			part = m.payload[m.idat.start+x.offset : m.idat.start+x.offset+x.length]
		default:
			return nil
		}
		data = append(data, part...)
	}
	return exifPayloadTIFF(data)
}

// exifPayloadTIFF finds the TIFF header in the payload of a HEIF Exif
// item: a 4-byte offset to it, then (usually) "Exif\0\0" and the header.
func exifPayloadTIFF(data []byte) []byte {
	if len(data) < 4 {
		return nil
	}
	skip := int64(binary.BigEndian.Uint32(data))
	if at := 4 + skip; at < int64(len(data)) && isTIFFHeader(data[at:]) {
		return data[at:]
	}
	// Some writers count the offset differently; look near the start.
	for i := 4; i < min(len(data), 64); i++ {
		if isTIFFHeader(data[i:]) {
			return data[i:]
		}
	}
	return nil
}

// isTIFFHeader reports whether b starts with a TIFF byte-order mark and 42.
func isTIFFHeader(b []byte) bool {
	return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
}

// exifItemID finds the id of the item of type "Exif" in an iinf payload.
func exifItemID(p []byte) (uint32, bool) {
	if len(p) < 4 {
		return 0, false
	}
	version := p[0]
	off := 6
	if version != 0 {
		off = 8
	}
	br := bytes.NewReader(p)
	for i := 0; i < maxChildBox && off < len(p); i++ {
		b, ok := readBoxHeader(br, int64(off), int64(len(p)))
		if !ok {
			return 0, false
		}
		off = int(b.end)
		if b.typ != "infe" || b.end-b.start < 4 {
			continue
		}
		e := p[b.start:b.end]
		var id uint32
		var typ []byte
		switch e[0] {
		case 2:
			if len(e) < 12 {
				continue
			}
			id, typ = uint32(binary.BigEndian.Uint16(e[4:])), e[8:12]
		case 3:
			if len(e) < 14 {
				continue
			}
			id, typ = binary.BigEndian.Uint32(e[4:]), e[10:14]
		default:
			continue
		}
		if string(typ) == "Exif" {
			return id, true
		}
	}
	return 0, false
}

// extent is one piece of an item's data.
type extent struct {
	offset, length int64
}

// maxExtents bounds the extents of one item.
const maxExtents = 64

// itemExtents reads the extents of item id from an iloc payload, with the
// item's construction method (0: file offsets, 1: offsets in idat).
func itemExtents(p []byte, id uint32) ([]extent, int, bool) {
	r := newFieldReader(p)
	version := r.uint(1)
	r.skip(3)
	sizes := r.uint(1)
	offSize, lenSize := int(sizes>>4), int(sizes&15)
	sizes = r.uint(1)
	baseSize, idxSize := int(sizes>>4), int(sizes&15)
	if version == 0 {
		idxSize = 0
	}
	count := r.itemField(version >= 2)
	for i := uint64(0); i < count && r.ok; i++ {
		itemID := r.itemField(version >= 2)
		method := 0
		if version == 1 || version == 2 {
			method = int(r.uint(2) & 15)
		}
		r.skip(2) // data_reference_index
		base := r.uint(baseSize)
		n := r.uint(2)
		if n > maxExtents {
			return nil, 0, false
		}
		var ext []extent
		for j := uint64(0); j < n && r.ok; j++ {
			r.skip(idxSize)
			o := r.uint(offSize)
			l := r.uint(lenSize)
			if o > 1<<62 || l > 1<<62 || base > 1<<62 {
				return nil, 0, false
			}
			ext = append(ext, extent{offset: int64(base + o), length: int64(l)})
		}
		if r.ok && uint32(itemID) == id && uint64(uint32(itemID)) == itemID {
			return ext, method, len(ext) > 0
		}
	}
	return nil, 0, false
}

// fieldReader reads big-endian fields of 0 to 8 bytes; after a short read
// ok is false and every further read gives 0.
type fieldReader struct {
	b  []byte
	at int
	ok bool
}

func newFieldReader(b []byte) *fieldReader { return &fieldReader{b: b, ok: true} }

// uint reads an n-byte unsigned field.
func (r *fieldReader) uint(n int) uint64 {
	if !r.ok || n < 0 || n > 8 || n > len(r.b)-r.at {
		r.ok = false
		return 0
	}
	var v uint64
	for _, c := range r.b[r.at : r.at+n] {
		v = v<<8 | uint64(c)
	}
	r.at += n
	return v
}

// itemField reads a 16-bit field, or a 32-bit one when wide (item ids and
// counts that a box's version widens).
func (r *fieldReader) itemField(wide bool) uint64 {
	if wide {
		return r.uint(4)
	}
	return r.uint(2)
}

// skip passes over n bytes.
func (r *fieldReader) skip(n int) {
	if !r.ok || n < 0 || n > len(r.b)-r.at {
		r.ok = false
		return
	}
	r.at += n
}
