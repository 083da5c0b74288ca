package meta

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
)

// go-exif walks every IFD it can reach (the IFD0 chain, each IFD's Exif,
// GPS and Interoperability children and their chains) before it returns,
// and it recovers an internal panic, with a stack trace, for each entry
// that is not a child pointer. A hostile block can make that walk long
// (overlapping IFDs, loops through child pointers, thousands of entries).
// So go-exif is not given the IFDs of the block: compactTIFF walks them
// itself, with fixed bounds, and appends after the block a compact copy
// holding only the entries extracted, in an IFD0, an Exif IFD and a GPS
// IFD without "next" links. Entries are copied as they are (their values
// stay where the block has them), except that the two child pointers point
// to the copies. go-exif then parses at most three IFDs of a few entries
// each.

// Bounds of the walk.
const (
	maxIFDEntries = 1024
	ifdEntrySize  = 12
)

// Child IFD pointer tags.
const (
	tagExifIFD = 0x8769
	tagGPSIFD  = 0x8825
)

var errEXIFStructure = errors.New("meta: exif structure out of bounds")

// ifdKind is which IFD entries are taken from.
type ifdKind int

const (
	kindIFD0 ifdKind = iota
	kindExif
	kindGPS
	// kindSubfile is IFD0 read for its NewSubfileType alone (tiffPreview).
	kindSubfile
)

// wantedTag reports whether fields reads tag from an IFD of kind k, or
// follows it (child pointers).
func wantedTag(k ifdKind, tag uint16) bool {
	switch k {
	case kindIFD0:
		switch tag {
		case tagMake, tagModel, tagOrientation, tagSoftware, tagExifIFD, tagGPSIFD:
			return true
		}
	case kindExif:
		switch tag {
		case tagExposureTime, tagFNumber, tagISO, tagDateTimeOriginal, tagOffsetTimeOrig, tagFocalLength, tagLensModel:
			return true
		}
	case kindGPS:
		return tag >= tagGPSLatitudeRef && tag <= tagGPSAltitude
	case kindSubfile:
		return tag == tagNewSubfileType
	}
	return false
}

// byteOrder reads and appends in a block's byte order.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// compacted is a TIFF-structured block with the compact IFDs appended.
type compacted struct {
	view     io.ReaderAt
	size     int64
	order    byteOrder
	firstIFD uint32
}

// withTail reads a block followed by a tail.
type withTail struct {
	ra   io.ReaderAt
	size int64
	tail []byte
}

// ReadAt implements io.ReaderAt.
func (w *withTail) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errEXIFStructure
	}
	n := 0
	if off < w.size {
		k := min(int64(len(p)), w.size-off)
		m, err := w.ra.ReadAt(p[:k], off)
		if int64(m) < k {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return m, err
		}
		n = m
	}
	if n == len(p) {
		return n, nil
	}
	at := off + int64(n) - w.size
	if at >= int64(len(w.tail)) {
		return n, io.EOF
	}
	n += copy(p[n:], w.tail[at:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// compactTIFF checks the TIFF header of a block of size bytes and builds
// the compact IFDs. It fails when IFD0 cannot be read.
func compactTIFF(ra io.ReaderAt, size int64) (*compacted, error) {
	order, first, err := tiffHeader(ra, size)
	if err != nil {
		return nil, err
	}
	// Offsets are 32-bit: the copies must be addressable.
	size = min(size, math.MaxUint32-3*(2+ifdEntrySize*maxIFDEntries+4)-1)
	ifd0, err := readIFD(ra, size, order, first, kindIFD0)
	if err != nil {
		return nil, err
	}
	var exifIFD, gpsIFD [][]byte
	for _, e := range ifd0 {
		child := int64(order.Uint32(e[8:]))
		switch order.Uint16(e) {
		case tagExifIFD:
			exifIFD, _ = readIFD(ra, size, order, child, kindExif)
		case tagGPSIFD:
			gpsIFD, _ = readIFD(ra, size, order, child, kindGPS)
		}
	}

	var top [][]byte
	for _, e := range ifd0 {
		switch order.Uint16(e) {
		case tagExifIFD:
			if exifIFD == nil {
				continue
			}
		case tagGPSIFD:
			if gpsIFD == nil {
				continue
			}
		}
		top = append(top, append([]byte(nil), e...))
	}
	base := size + size&1
	exifAt := base + ifdBytes(top)
	gpsAt := exifAt + ifdBytes(exifIFD)
	for _, e := range top {
		var at int64
		switch order.Uint16(e) {
		case tagExifIFD:
			at = exifAt
		case tagGPSIFD:
			at = gpsAt
		default:
			continue
		}
		// A pointer is one LONG, whatever type the writer gave it (some
		// write the TIFF IFD type, 13, which go-exif would skip).
		order.PutUint16(e[2:], 4)
		order.PutUint32(e[4:], 1)
		order.PutUint32(e[8:], uint32(at))
	}
	tail := make([]byte, base-size, base-size+ifdBytes(top)+ifdBytes(exifIFD)+ifdBytes(gpsIFD))
	for _, entries := range [][][]byte{top, exifIFD, gpsIFD} {
		tail = order.AppendUint16(tail, uint16(len(entries)))
		for _, e := range entries {
			tail = append(tail, e...)
		}
		tail = order.AppendUint32(tail, 0)
	}
	return &compacted{
		view:     &withTail{ra: ra, size: size, tail: tail},
		size:     size + int64(len(tail)),
		order:    order,
		firstIFD: uint32(base),
	}, nil
}

// tiffHeader reads the header of a TIFF-structured block of size bytes: its
// byte order and the offset of IFD0.
func tiffHeader(ra io.ReaderAt, size int64) (byteOrder, int64, error) {
	var hdr [8]byte
	if size < int64(len(hdr)) {
		return nil, 0, errEXIFStructure
	}
	if _, err := ra.ReadAt(hdr[:], 0); err != nil {
		return nil, 0, err
	}
	var order byteOrder
	switch string(hdr[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return nil, 0, errEXIFStructure
	}
	return order, int64(order.Uint32(hdr[4:])), nil
}

// readIFD reads the IFD of kind k at off and returns the first entry of
// each wanted tag, among at most maxIFDEntries entries that lie inside the
// block; nil when the IFD's entry count cannot be read.
func readIFD(ra io.ReaderAt, size int64, order byteOrder, off int64, k ifdKind) ([][]byte, error) {
	if off < 8 || off > size-2 {
		return nil, errEXIFStructure
	}
	var c [2]byte
	if _, err := ra.ReadAt(c[:], off); err != nil {
		return nil, err
	}
	n := min(int64(order.Uint16(c[:])), (size-off-2)/ifdEntrySize, maxIFDEntries)
	buf := make([]byte, n*ifdEntrySize)
	if _, err := ra.ReadAt(buf, off+2); err != nil {
		return nil, err
	}
	seen := map[uint16]bool{}
	var out [][]byte
	for i := 0; i < len(buf); i += ifdEntrySize {
		e := buf[i : i+ifdEntrySize]
		tag := order.Uint16(e)
		if wantedTag(k, tag) && !seen[tag] {
			seen[tag] = true
			out = append(out, e)
		}
	}
	if out == nil {
		out = [][]byte{}
	}
	return out, nil
}

// ifdBytes is the size of an IFD of these entries.
func ifdBytes(entries [][]byte) int64 { return int64(2 + ifdEntrySize*len(entries) + 4) }
