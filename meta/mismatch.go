package meta

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/filestore-go/filestore"
)

// Format families: the sniffed types one claim accepts. A type not listed
// in family is its own family.
const (
	famText     = "text"
	famJPEG     = "jpeg"
	famPNG      = "png"
	famGIF      = "gif"
	famWebP     = "webp"
	famBMP      = "bmp"
	famTIFF     = "tiff"
	famHEIF     = "heif"
	famAVIF     = "avif"
	famPDF      = "pdf"
	famZIP      = "zip"
	famGZIP     = "gzip"
	fam7Z       = "7z"
	famCFB      = "ole2"
	famBMFF     = "iso-bmff-media"
	famMatroska = "matroska"
	famMP3      = "mp3"
	famWAV      = "wav"
	famOgg      = "ogg"
	famAVI      = "avi"
	famFLAC     = "flac"
	famPE       = "windows-executable"
	famELF      = "elf"
	famMachO    = "mach-o"
	famClass    = "java-class"
)

// family is the family of a sniffed media type.
func family(t string) string {
	switch t {
	case typeJPEG:
		return famJPEG
	case typePNG:
		return famPNG
	case typeGIF:
		return famGIF
	case typeWebP:
		return famWebP
	case typeBMP:
		return famBMP
	case typeTIFF, typeCR2:
		return famTIFF
	case typeHEIC, typeHEIF:
		return famHEIF
	case typeAVIF:
		return famAVIF
	case typePDF:
		return famPDF
	case typeZIP, typeDOCX, typeXLSX, typePPTX, typeEPUB:
		return famZIP
	case typeGZIP:
		return famGZIP
	case type7Z:
		return fam7Z
	case typeCFB, typeDOC, typeXLS, typePPT:
		return famCFB
	case typeMP4, typeMOV, typeM4A, typeM4V, type3GP, type3G2:
		return famBMFF
	case typeWebM, typeMKV:
		return famMatroska
	case typeMP3:
		return famMP3
	case typeWAV:
		return famWAV
	case typeOGG, typeOGV:
		return famOgg
	case typeAVI:
		return famAVI
	case typeFLAC:
		return famFLAC
	case typePE, typeDOS:
		return famPE
	case typeELF:
		return famELF
	case typeMachO:
		return famMachO
	case typeClass:
		return famClass
	case typeRTF, typePS:
		return famText
	}
	switch {
	case strings.HasPrefix(t, typeODF):
		return famZIP
	case strings.HasPrefix(t, "text/"):
		return famText
	}
	return t
}

// extensionClaim is what a file name's extension claims: the families its
// content may be; nil when the extension claims nothing checkable. The
// extension is read after trailing dots, white space and invisible
// characters, which Windows drops when it saves a file (or no one sees):
// "report.pdf." and "report.pdf " claim PDF.
func extensionClaim(name string) []string {
	name = strings.TrimRightFunc(name, func(r rune) bool {
		return r == '.' || unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
	})
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	switch ext {
	case "jpg", "jpeg", "jpe", "jfif", "jif", "pjpeg", "pjp":
		return []string{famJPEG}
	case "png", "apng":
		return []string{famPNG}
	case "gif":
		return []string{famGIF}
	case "webp":
		return []string{famWebP}
	case "bmp", "dib":
		return []string{famBMP}
	case "tif", "tiff", "cr2", "dng", "nef", "arw":
		return []string{famTIFF}
	case "heic", "heics":
		return []string{famHEIF}
	case "heif", "heifs", "hif":
		return []string{famHEIF, famAVIF}
	case "avif", "avifs":
		return []string{famAVIF}
	case "pdf":
		return []string{famPDF}
	case "zip", "docx", "docm", "dotx", "dotm", "xlsx", "xlsm", "xltx", "xltm",
		"pptx", "pptm", "potx", "potm", "ppsx", "ppsm",
		"odt", "ods", "odp", "odg", "odf", "odc", "odb", "ott", "ots", "otp", "otg",
		"epub", "jar", "war", "ear", "apk", "aab", "xpi", "ipa", "kmz", "whl", "nupkg",
		"vsix", "cbz", "3mf", "xps", "oxps", "appx", "msix", "usdz":
		return []string{famZIP}
	case "gz", "tgz", "gzip", "svgz":
		return []string{famGZIP}
	case "7z":
		return []string{fam7Z}
	case "doc", "dot", "xls", "xlt", "ppt", "pot", "pps", "msi", "msg":
		return []string{famCFB}
	case "mp4", "m4v", "m4a", "m4b", "m4p", "mov", "qt", "3gp", "3gpp", "3g2", "f4v", "f4a":
		return []string{famBMFF}
	case "webm", "mkv", "mka", "mk3d", "mks":
		return []string{famMatroska}
	case "mp3", "mp2", "mpga":
		return []string{famMP3}
	case "wav", "wave":
		return []string{famWAV}
	case "ogg", "oga", "ogv", "ogx", "opus", "spx":
		return []string{famOgg}
	case "avi":
		return []string{famAVI}
	case "flac":
		return []string{famFLAC}
	case "exe", "dll", "sys", "scr", "cpl", "ocx", "efi", "drv":
		return []string{famPE}
	case "so", "elf", "ko":
		return []string{famELF}
	case "dylib":
		return []string{famMachO}
	case "class":
		return []string{famClass}
	case "txt", "text", "csv", "tsv", "md", "markdown", "json", "ndjson", "xml", "html", "htm",
		"xhtml", "css", "js", "mjs", "svg", "yaml", "yml", "log", "ini", "toml", "rst", "tex",
		"srt", "vtt", "ics", "vcf", "rtf":
		return []string{famText}
	}
	return nil
}

// declaredClaim is what a declared content type claims; nil for "",
// application/octet-stream, an unparseable value and types the sniffer
// cannot confirm or refute.
func declaredClaim(declared string, tail []tailType) []string {
	t := bareType(declared)
	switch t {
	case "", typeOctetStream:
		return nil
	case "image/heif", "image/heif-sequence":
		return []string{famHEIF, famAVIF}
	case "image/heic-sequence":
		return []string{famHEIF}
	case "image/avif-sequence":
		return []string{famAVIF}
	case "image/x-canon-cr2", "image/x-adobe-dng", "image/x-nikon-nef", "image/x-sony-arw":
		return []string{famTIFF}
	case "application/java-archive", "application/x-java-archive",
		"application/vnd.android.package-archive":
		return []string{famZIP}
	case "application/x-dosexec", "application/exe", "application/x-exe", "application/x-winexe":
		return []string{famPE}
	case "application/x-sharedlib", "application/x-pie-executable", "application/x-object":
		return []string{famELF}
	case "application/x-mach-o-executable":
		return []string{famMachO}
	case "application/x-java-class", "application/java":
		return []string{famClass}
	case "application/x-msi", "application/vnd.ms-outlook":
		return []string{famCFB}
	case "audio/3gpp", "audio/3gpp2":
		return []string{famBMFF}
	case "audio/webm", "audio/x-matroska":
		return []string{famMatroska}
	case "application/ogg", "audio/opus", "audio/vorbis", "audio/x-ogg":
		return []string{famOgg}
	case "application/json", "application/xml", "application/javascript", "application/x-javascript",
		"application/ecmascript", "image/svg+xml", "application/xhtml+xml", "application/x-sh",
		"application/yaml", "application/x-yaml", "application/toml", "application/sql":
		return []string{famText}
	}
	if strings.HasSuffix(t, "+json") || strings.HasSuffix(t, "+xml") {
		return []string{famText}
	}
	c := canonicalType(t)
	if f := family(c); f != c {
		return []string{f}
	}
	for _, tt := range tail {
		if tt.mimeOf() == c {
			return []string{c}
		}
	}
	return nil
}

// checkMismatch applies the mismatch rule: when the content is of a known
// type, the extension and the declared type, each when it claims
// something, must admit its family (see admits). Unknown content
// (application/octet-stream) is never rejected by this rule.
func checkMismatch(name, declared, sniffed string, tail []tailType) error {
	f := family(sniffed)
	if sniffed == typeOctetStream {
		return nil
	}
	if c := extensionClaim(name); c != nil && !admits(c, f) {
		return fmt.Errorf("meta: the extension of %q claims %s, but the content is %s: %w",
			name, claimed(c), sniffed, filestore.ErrTypeMismatch)
	}
	if c := declaredClaim(declared, tail); c != nil && !admits(c, f) {
		return fmt.Errorf("meta: the declared content type %q claims %s, but the content is %s: %w",
			declared, claimed(c), sniffed, filestore.ErrTypeMismatch)
	}
	return nil
}

// admits reports whether a claim admits content of family f: it names f,
// or f is text and the claim is of a legacy Office format (.doc, .xls,
// .ppt), whose names RTF, HTML and CSV files commonly carry and Office
// opens. Text never passes for any other binary format: every binary
// family has a signature that is sniffed before text, and text is only
// content whose first MiB holds no control byte that binary formats are
// full of.
func admits(claim []string, f string) bool {
	return slices.Contains(claim, f) || (f == famText && slices.Contains(claim, famCFB))
}

// claimed names the types of the families of a claim, for messages.
func claimed(families []string) string {
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = familyType(f)
	}
	return strings.Join(names, " or ")
}

// familyType is the usual media type of a family.
func familyType(f string) string {
	switch f {
	case famText:
		return "text/*"
	case famJPEG:
		return typeJPEG
	case famPNG:
		return typePNG
	case famGIF:
		return typeGIF
	case famWebP:
		return typeWebP
	case famBMP:
		return typeBMP
	case famTIFF:
		return typeTIFF
	case famHEIF:
		return typeHEIF
	case famAVIF:
		return typeAVIF
	case famPDF:
		return typePDF
	case famZIP:
		return typeZIP
	case famGZIP:
		return typeGZIP
	case fam7Z:
		return type7Z
	case famCFB:
		return typeCFB
	case famBMFF:
		return typeMP4
	case famMatroska:
		return typeMKV
	case famMP3:
		return typeMP3
	case famWAV:
		return typeWAV
	case famOgg:
		return typeOGG
	case famAVI:
		return typeAVI
	case famFLAC:
		return typeFLAC
	case famPE:
		return typePE
	case famELF:
		return typeELF
	case famMachO:
		return typeMachO
	case famClass:
		return typeClass
	}
	return f
}
