package meta

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"

	"github.com/h2non/filetype"
	"github.com/h2non/filetype/matchers"
	"github.com/h2non/filetype/types"
)

// tailType is one of filetype's matchers that sniff tries after the formats
// it checks itself, with the media type to report when filetype's is not
// the registered one.
type tailType struct {
	kind types.Type
	mime string
}

// tailTypes lists, in the order tried, the rest of filetype's formats.
// filetype.Match walks its registry in map order, so two matchers that
// accept the same bytes would answer differently from run to run; an
// explicit order keeps the answer deterministic. The formats sniff checks
// itself (stricter than filetype's prefixes) are not repeated here.
func tailTypes() []tailType {
	return []tailType{
		{matchers.TypeRar, ""},
		{matchers.TypeBz2, ""},
		{matchers.TypeXz, ""},
		{matchers.TypeZstd, ""},
		{matchers.TypeTar, ""},
		{matchers.TypeCab, ""},
		{matchers.TypeRpm, ""},
		{matchers.TypeDeb, ""},
		{matchers.TypeAr, ""},
		{matchers.TypeLz, ""},
		{matchers.TypeZ, ""},
		{matchers.TypeCrx, ""},
		{matchers.TypeSwf, ""},
		{matchers.TypeNes, ""},
		{matchers.TypeDcm, ""},
		{matchers.TypeIso, ""},
		{matchers.TypeEot, "application/vnd.ms-fontobject"},
		{matchers.TypeWoff, "font/woff"},
		{matchers.TypeWoff2, "font/woff2"},
		{matchers.TypeTtf, "font/ttf"},
		{matchers.TypeOtf, "font/otf"},
		{matchers.TypeMidi, ""},
		{matchers.TypeAiff, "audio/aiff"},
		{matchers.TypeAmr, ""},
		{matchers.TypeAac, ""},
		{matchers.TypeFlv, ""},
		{matchers.TypeWmv, ""},
		{matchers.TypeMpeg, ""},
		{matchers.TypeJpeg2000, ""},
		{matchers.TypeJxr, ""},
		{matchers.TypePsd, ""},
		{matchers.TypeIco, ""},
		{matchers.TypeDwg, ""},
		{matchers.TypeWasm, ""},
		{matchers.TypeDex, ""},
		{matchers.TypeDey, ""},
	}
}

// mimeOf is the media type to report for t.
func (t tailType) mimeOf() string {
	if t.mime != "" {
		return t.mime
	}
	return t.kind.MIME.Value
}

// sniff returns the media type of the content whose first bytes are b.
// Formats with a strict signature come first, then text (by
// http.DetectContentType, over all of b), then filetype's looser
// signatures, which are not trusted over text; unknown bytes are
// application/octet-stream.
func (e *Extractor) sniff(b []byte) string {
	if len(b) == 0 {
		return typeOctetStream
	}
	if t := sniffStrict(b); t != "" {
		return t
	}
	if t := sniffText(b); t != "" {
		return t
	}
	for _, t := range e.tail {
		if filetype.IsType(b, t.kind) {
			return t.mimeOf()
		}
	}
	return typeOctetStream
}

// sniffStrict recognises the formats whose signatures are checked beyond a
// short prefix; "" when none matches.
func sniffStrict(b []byte) string {
	switch {
	case matchers.Jpeg(b):
		return typeJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return typePNG
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return typeGIF
	case isBMP(b):
		return typeBMP
	case matchers.CR2(b):
		return typeCR2
	case matchers.Tiff(b):
		return typeTIFF
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return typePDF
	case bytes.HasPrefix(b, []byte(`{\rtf`)):
		return typeRTF
	case bytes.HasPrefix(b, []byte("%!PS")):
		return typePS
	case matchers.Zip(b):
		return zipType(b)
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b, 0x08}):
		return typeGZIP
	case bytes.HasPrefix(b, []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}):
		return type7Z
	case bytes.HasPrefix(b, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}):
		return cfbType(b)
	case bytes.HasPrefix(b, []byte("SQLite format 3\x00")):
		return typeSQL
	case bytes.HasPrefix(b, []byte("fLaC")):
		return typeFLAC
	case bytes.HasPrefix(b, []byte("OggS\x00")):
		return oggType(b)
	}
	if t := riffType(b); t != "" {
		return t
	}
	if t := bmffType(b); t != "" {
		return t
	}
	if t := ebmlType(b); t != "" {
		return t
	}
	if t := executableType(b); t != "" {
		return t
	}
	if isMP3(b) {
		return typeMP3
	}
	return ""
}

// sniffText recognises text: http.DetectContentType's text/* answer
// (text/plain, text/html, text/xml, with a charset), provided no byte of b
// (beyond the 512 DetectContentType looks at) is one that never occurs in
// text. Bytes free of those that DetectContentType took for a binary
// format by a short printable prefix ("BM...") are text/plain too, since
// the strict checks above have already refused them. "" when b is not text.
func sniffText(b []byte) string {
	t := http.DetectContentType(b)
	if strings.HasPrefix(t, "text/") && strings.Contains(t, "utf-16") {
		return t
	}
	for _, c := range b {
		if c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f) {
			return ""
		}
	}
	if strings.HasPrefix(t, "text/") {
		return t
	}
	return "text/plain; charset=utf-8"
}

// isBMP checks "BM" and a known DIB header size, so that text starting
// with "BM" is not taken for a bitmap.
func isBMP(b []byte) bool {
	if len(b) < 26 || b[0] != 'B' || b[1] != 'M' {
		return false
	}
	switch binary.LittleEndian.Uint32(b[14:18]) {
	case 12, 16, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// zipType tells apart the ZIP containers that announce themselves in their
// first entries: OOXML (filetype's matchers), and EPUB and OpenDocument (a
// stored first entry "mimetype"). Any other ZIP is application/zip.
func zipType(b []byte) string {
	switch {
	case matchers.Docx(b):
		return typeDOCX
	case matchers.Xlsx(b):
		return typeXLSX
	case matchers.Pptx(b):
		return typePPTX
	}
	const hdr = 30
	if len(b) < hdr || !bytes.HasPrefix(b, []byte("PK\x03\x04")) {
		return typeZIP
	}
	method := binary.LittleEndian.Uint16(b[8:])
	size := int(binary.LittleEndian.Uint32(b[18:]))
	nameLen := int(binary.LittleEndian.Uint16(b[26:]))
	extraLen := int(binary.LittleEndian.Uint16(b[28:]))
	start := hdr + nameLen + extraLen
	if method != 0 || string(b[hdr:min(hdr+nameLen, len(b))]) != "mimetype" || start >= len(b) {
		return typeZIP
	}
	v := b[start:min(start+maxMimetype, len(b))]
	if size > 0 && size <= len(v) {
		v = v[:size]
	} else if i := bytes.Index(v, []byte("PK")); size == 0 && i > 0 {
		// Written with a data descriptor: the entry ends at the next
		// signature.
		v = v[:i]
	} else {
		return typeZIP
	}
	if t := string(v); t == typeEPUB {
		return t
	} else if rest, ok := strings.CutPrefix(t, typeODF); ok && rest != "" &&
		strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz0123456789.+-") == "" {
		return t
	}
	return typeZIP
}

// maxMimetype bounds the "mimetype" entry of a ZIP container.
const maxMimetype = 100

// cfbType names a Compound File Binary (OLE2) document by filetype's
// Word, Excel and PowerPoint checks; others (MSI, MSG, ...) are
// application/x-ole-storage.
func cfbType(b []byte) string {
	if len(b) > 513 {
		switch {
		case matchers.Doc(b):
			return typeDOC
		case matchers.Xls(b):
			return typeXLS
		case matchers.Ppt(b):
			return typePPT
		}
	}
	return typeCFB
}

// oggType is video/ogg for a Theora stream, else audio/ogg.
func oggType(b []byte) string {
	if len(b) > 27 {
		start := 27 + int(b[26])
		if start < len(b) && bytes.HasPrefix(b[start:], []byte("\x80theora")) {
			return typeOGV
		}
	}
	return typeOGG
}

// riffType reads the form type of a RIFF file.
func riffType(b []byte) string {
	if len(b) < 12 {
		return ""
	}
	switch string(b[:4]) {
	case "RIFF":
		switch string(b[8:12]) {
		case "WEBP":
			return typeWebP
		case "WAVE":
			return typeWAV
		case "AVI ":
			return typeAVI
		}
	case "RF64", "BW64":
		if string(b[8:12]) == "WAVE" {
			return typeWAV
		}
	}
	return ""
}

// ebmlType tells WebM from other Matroska files by the EBML DocType, with
// filetype's matchers.
func ebmlType(b []byte) string {
	switch {
	case matchers.Webm(b):
		return typeWebM
	case matchers.Mkv(b):
		return typeMKV
	}
	return ""
}

// executableType recognises ELF, PE (and plain DOS MZ), Mach-O (thin and
// fat) and Java class files, which share Mach-O's fat magic.
func executableType(b []byte) string {
	if len(b) >= 20 && bytes.HasPrefix(b, []byte("\x7fELF")) &&
		(b[4] == 1 || b[4] == 2) && (b[5] == 1 || b[5] == 2) && b[6] == 1 {
		return typeELF
	}
	if len(b) >= 64 && b[0] == 'M' && b[1] == 'Z' {
		lfanew := int64(binary.LittleEndian.Uint32(b[0x3c:]))
		if lfanew+4 <= int64(len(b)) && string(b[lfanew:lfanew+4]) == "PE\x00\x00" {
			return typePE
		}
		lastPage := binary.LittleEndian.Uint16(b[2:])
		pages := binary.LittleEndian.Uint16(b[4:])
		hdrParagraphs := binary.LittleEndian.Uint16(b[8:])
		if lastPage < 512 && pages > 0 && hdrParagraphs >= 2 {
			return typeDOS
		}
		return ""
	}
	if len(b) >= 28 {
		switch binary.BigEndian.Uint32(b) {
		case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
			return typeMachO
		case 0xcafebabe, 0xcafebabf:
			// A fat Mach-O counts its architectures (a handful); a class
			// file has its version here (major 45 and up).
			if n := binary.BigEndian.Uint32(b[4:]); n > 0 && n < 20 {
				return typeMachO
			}
			if b[3] == 0xbe {
				return typeClass
			}
		}
	}
	return ""
}

// isMP3 accepts an ID3v2 tag or an MPEG audio frame header of Layer II or
// III whose version, bit rate and sampling rate fields are all valid.
// Layer I is left out: its headers include FF FE, the byte order mark of
// UTF-16LE text.
func isMP3(b []byte) bool {
	if len(b) >= 10 && bytes.HasPrefix(b, []byte("ID3")) {
		return b[3] >= 2 && b[3] <= 4 && b[4] != 0xff &&
			(b[6]|b[7]|b[8]|b[9])&0x80 == 0
	}
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return false
	}
	version := (b[1] >> 3) & 3
	layer := (b[1] >> 1) & 3
	bitrate := b[2] >> 4
	rate := (b[2] >> 2) & 3
	return version != 1 && (layer == 1 || layer == 2) && bitrate != 0 && bitrate != 15 && rate != 3
}
