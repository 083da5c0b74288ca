package meta

import (
	"bytes"
	"encoding/binary"
)

// Bounds on walking container structures for the EXIF block.
const (
	maxSegments = 1024
	maxChunks   = 4096
)

// exifHeader starts the EXIF payload of a JPEG APP1 segment, and sometimes
// of a PNG eXIf or WebP EXIF chunk.
const exifHeader = "Exif\x00\x00"

// jpegExif returns the TIFF-structured payload of the first APP1 "Exif"
// segment before the image data; nil when there is none.
func jpegExif(s *source) []byte {
	var hdr [4]byte
	off := int64(2)
	for i := 0; i < maxSegments; i++ {
		if _, err := s.ReadAt(hdr[:2], off); err != nil || hdr[0] != 0xff {
			return nil
		}
		marker := hdr[1]
		switch {
		case marker == 0xff: // fill byte
			off++
			continue
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7):
			off += 2
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return nil
		}
		if _, err := s.ReadAt(hdr[2:4], off+2); err != nil {
			return nil
		}
		n := int64(binary.BigEndian.Uint16(hdr[2:4]))
		if n < 2 {
			return nil
		}
		if marker == 0xe1 && n >= 2+int64(len(exifHeader))+8 {
			payload, err := s.bytesAt(off+4, int(n-2))
			if err != nil {
				return nil
			}
			if bytes.HasPrefix(payload, []byte(exifHeader)) && isTIFFHeader(payload[len(exifHeader):]) {
				return payload[len(exifHeader):]
			}
		}
		off += 2 + n
	}
	return nil
}

// pngExif returns the payload of the eXIf chunk that precedes the image
// data; nil when there is none.
func pngExif(s *source) []byte {
	var hdr [8]byte
	off := int64(8)
	for i := 0; i < maxChunks; i++ {
		if _, err := s.ReadAt(hdr[:], off); err != nil {
			return nil
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		switch string(hdr[4:8]) {
		case "eXIf":
			if n > maxMetaBytes {
				return nil
			}
			data, err := s.bytesAt(off+8, int(n))
			if err != nil {
				return nil
			}
			return tiffPayload(data)
		case "IDAT", "IEND":
			return nil
		}
		off += 12 + n
	}
	return nil
}

// webpExif returns the payload of the EXIF chunk of an extended (VP8X)
// WebP that announces one; nil otherwise.
func webpExif(s *source) []byte {
	var hdr [8]byte
	if _, err := s.ReadAt(hdr[:], 12); err != nil || string(hdr[:4]) != "VP8X" {
		return nil
	}
	var flags [1]byte
	if _, err := s.ReadAt(flags[:], 20); err != nil || flags[0]&0x08 == 0 {
		return nil
	}
	off := int64(12)
	for i := 0; i < maxChunks; i++ {
		if _, err := s.ReadAt(hdr[:], off); err != nil {
			return nil
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		if string(hdr[:4]) == "EXIF" {
			if n > maxMetaBytes {
				return nil
			}
			data, err := s.bytesAt(off+8, int(n))
			if err != nil {
				return nil
			}
			return tiffPayload(data)
		}
		off += 8 + n + n&1
	}
	return nil
}

// tiffPayload strips an "Exif\0\0" prefix and checks the TIFF header.
func tiffPayload(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte(exifHeader))
	if !isTIFFHeader(data) {
		return nil
	}
	return data
}
