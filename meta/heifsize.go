package meta

import (
	"bytes"
	"encoding/binary"
)

// maxProperties bounds the item properties (ipco children) read, and the
// associations of one item.
const maxProperties = 1024

// heifSize returns the size of a HEIF (HEIC, AVIF) file's primary item:
// the image spatial extents property (ispe) associated with the item that
// pitm names (for a grid, the whole image's), and whether an image rotation
// property (irot) turns it by a quarter or three quarters, which swaps the
// displayed width and height. ok is false when any of these boxes is
// missing or malformed.
func heifSize(s *source) (w, h int, turned, ok bool) {
	m, ok := readHeifMeta(s)
	if !ok {
		return 0, 0, false, false
	}
	primary, ok := primaryItem(m.child(m.pitm))
	if !ok {
		return 0, 0, false, false
	}
	props, assoc := itemProperties(m.child(m.iprp), primary)
	found := false
	for _, idx := range assoc {
		if idx < 1 || idx > len(props) {
			continue
		}
		p := props[idx-1]
		switch p.typ {
		case "ispe":
			// FullBox version and flags, then width and height.
			r := newFieldReader(p.payload)
			r.skip(4)
			pw, ph := r.uint(4), r.uint(4)
			if r.ok && pw > 0 && ph > 0 && pw <= 1<<30 && ph <= 1<<30 && !found {
				w, h, found = int(pw), int(ph), true
			}
		case "irot":
			// Six reserved bits, then the anticlockwise angle in quarters.
			if len(p.payload) >= 1 {
				turned = p.payload[0]&3 == 1 || p.payload[0]&3 == 3
			}
		}
	}
	return w, h, turned, found
}

// primaryItem reads the item id of a pitm payload.
func primaryItem(p []byte) (uint32, bool) {
	r := newFieldReader(p)
	version := r.uint(1)
	r.skip(3)
	id := r.itemField(version != 0)
	return uint32(id), r.ok
}

// property is one child box of ipco: its type and payload.
type property struct {
	typ     string
	payload []byte
}

// itemProperties reads an iprp payload: the properties of its ipco box in
// order (an association's index is 1-based into them), and the property
// indexes that its ipma boxes associate with item id.
func itemProperties(p []byte, id uint32) (props []property, assoc []int) {
	br := bytes.NewReader(p)
	off := int64(0)
	for i := 0; i < maxChildBox && off < int64(len(p)); i++ {
		b, ok := readBoxHeader(br, off, int64(len(p)))
		if !ok {
			break
		}
		off = b.end
		switch b.typ {
		case "ipco":
			props = ipcoProperties(p[b.start:b.end])
		case "ipma":
			assoc = append(assoc, ipmaIndexes(p[b.start:b.end], id)...)
		}
	}
	return props, assoc
}

// ipcoProperties lists the child boxes of an ipco payload, at most
// maxProperties of them.
func ipcoProperties(p []byte) []property {
	var props []property
	br := bytes.NewReader(p)
	off := int64(0)
	for len(props) < maxProperties && off < int64(len(p)) {
		b, ok := readBoxHeader(br, off, int64(len(p)))
		if !ok {
			break
		}
		props = append(props, property{typ: b.typ, payload: p[b.start:b.end]})
		off = b.end
	}
	return props
}

// ipmaIndexes returns the property indexes that an ipma payload associates
// with item id (version 0: 16-bit item ids; flag 1: 15-bit indexes, else
// 7-bit; the top bit of each marks an essential property).
func ipmaIndexes(p []byte, id uint32) []int {
	if len(p) < 8 {
		return nil
	}
	version, flags := p[0], binary.BigEndian.Uint32(p)&0xffffff
	r := newFieldReader(p[4:])
	count := r.uint(4)
	for i := uint64(0); i < count && r.ok; i++ {
		item := r.itemField(version >= 1)
		n := int(r.uint(1))
		var idx []int
		for j := 0; j < n && r.ok; j++ {
			if flags&1 != 0 {
				idx = append(idx, int(r.uint(2)&0x7fff))
			} else {
				idx = append(idx, int(r.uint(1)&0x7f))
			}
		}
		if r.ok && item == uint64(id) {
			return idx
		}
	}
	return nil
}
