// Package meta is filestore's MetaExtractor: it finds what an upload is
// from its bytes (the content type), the size of an image as displayed and
// as stored, and its EXIF, and it applies a type policy before commit.
//
//	x, err := meta.New(&meta.Options{AllowedTypes: []string{"image/*", "application/pdf"}})
//	st, err := filestore.Open(ctx, filestore.Options{Extractor: x})
//
// # Content type
//
// The type comes from the first bytes (MetaInput.Head) alone, never from
// the name or the client's claim. Signatures are checked with
// github.com/h2non/filetype's matchers in a fixed order (filetype.Match
// walks a map, whose order varies), strict checks first; these formats get
// exactly these types:
//
//	JPEG        image/jpeg           ZIP         application/zip (1)
//	PNG         image/png            GZIP        application/gzip
//	GIF         image/gif            7z          application/x-7z-compressed
//	WebP        image/webp           MP4         video/mp4 (2)
//	BMP         image/bmp            QuickTime   video/quicktime (2)
//	TIFF        image/tiff           M4A         audio/mp4 (2)
//	HEIC        image/heic (2)       WebM        video/webm
//	HEIF        image/heif (2)       MP3         audio/mpeg
//	AVIF        image/avif (2)       WAV         audio/wav
//	PDF         application/pdf      Ogg         audio/ogg (video/ogg for Theora)
//	ELF         application/x-executable
//	PE          application/vnd.microsoft.portable-executable (plain DOS MZ:
//	            application/x-dosexec)
//	Mach-O      application/x-mach-binary (thin and fat; a Java class file,
//	            which shares the fat magic, is application/java-vm)
//
// (1) OOXML (docx, xlsx, pptx), EPUB and OpenDocument files that announce
// themselves in their first entries get their own types; any other ZIP
// container (jar, apk, ...) is application/zip. (2) ISO BMFF files are
// named by their ftyp brands: a specific major brand decides, then the
// first specific compatible brand (heic/heix/hevc... image/heic,
// avif/avis image/avif, "qt  " video/quicktime, M4A audio/mp4, M4V
// video/x-m4v, 3gp* video/3gpp), then the generic container (mif1/msf1
// image/heif, isom/mp41/mp42... video/mp4).
//
// Other formats filetype knows (rar, xz, zstd, fonts, ...) come next,
// after text: bytes http.DetectContentType calls text, with no byte that
// never occurs in text anywhere in Head, are text/plain, text/html or
// text/xml with a charset. Everything else, and empty content, is
// application/octet-stream. SVG is reported as text (text/xml or
// text/plain), never image/svg+xml, so that it is never served inline as
// an image.
//
// # Dimensions and EXIF
//
// Width and height come from the DecodeConfig of the sniffed format itself
// (image/jpeg, image/png, image/gif, golang.org/x/image/webp, bmp and
// tiff), not from a decoder registry; for HEIF (HEIC, AVIF), which no Go
// library decodes, from the image spatial extents (ispe) of the primary
// item (pitm) through the item property boxes (ipco, ipma). They are as
// displayed: EXIF orientations 5 to 8 swap them, or for HEIF the quarter
// turns of the primary item's irot (a HEIF's EXIF orientation only
// describes that rotation, as MIAF has it), and StoredWidth and
// StoredHeight then give the encoded size (only when it differs from the
// displayed one). A TIFF whose first image is marked as a reduced-resolution
// copy (NewSubfileType bit 0: the preview of a DNG or of a TIFF-based
// camera raw) gets no size, since the preview's is not the image's.
//
// EXIF is read with github.com/dsoprea/go-exif/v3 from a JPEG's APP1
// segment, a TIFF's own IFDs, a PNG eXIf chunk, a WebP EXIF chunk or the
// Exif item of a HEIF (HEIC, AVIF) file: make, model, lens (LensModel),
// software, taken_at (DateTimeOriginal as YYYY-MM-DDTHH:MM:SS, with
// OffsetTimeOriginal appended when the file has it; never converted),
// orientation (1 to 8), GPS latitude and longitude in decimal degrees
// (signed by their N/S, E/W references; a coordinate without a valid
// reference is left out) and altitude in metres (negative when
// GPSAltitudeRef is 1), exposure time ("1/160", or seconds from a quarter
// second up), f-number, ISO and focal length. Only what is present and
// valid is reported; a blank or all-zero date, a day the month does not
// have or an hour past 23, an offset beyond ±14:00 (the date is kept), an
// unknown orientation, a zero denominator (0/0 degrees, which a receiver
// without a fix writes, is no coordinate; a 0/0 minute or second counts
// as 0) are left out; a value written with a common
// non-standard type (SRATIONAL coordinates, a LONG orientation or ISO) is
// read all the same. GPS is read from the GPS IFD's tags rather
// than with (*exif.Ifd).GpsInfo, which refuses GPS version 2.4 (EXIF 3.0),
// needs a latitude to report an altitude and truncates the altitude to
// whole metres.
//
// # Bounds
//
// Everything is read from Head where it can be. TIFF and HEIF metadata,
// WebP's trailing EXIF chunk and a JPEG frame header past Head are read
// from MetaInput.Content with range reads of 64 KiB blocks, at most
// Options.MaxRead bytes per Extract, each after a check of the context;
// nothing reads a whole file. go-exif is not given an EXIF block's IFDs
// as they are: they are walked first with fixed bounds (at most 1024
// entries per IFD, entries inside the block, no "next IFD" links, one
// Exif and one GPS IFD), and go-exif parses a compact copy, appended to
// the block, of the entries that are extracted, so loops, overlapping IFDs
// and huge entry counts cost nothing; tag values are read only when their
// size is small. Container walks (JPEG segments, PNG and
// RIFF chunks, ISO BMFF boxes) have fixed step counts. A panic in any
// parser is recovered: the metadata is partial and a warning is logged.
// go-exif logs through github.com/dsoprea/go-logging, which prints nothing
// unless the program registers an adapter with it.
//
// # Type policy
//
// Two rules are applied to the sniffed type before anything is parsed.
//
// The allow list (Options.AllowedTypes, ParseAllowList) holds patterns
// "type/subtype", "type/*" or "*/*", matched against the sniffed type
// without its parameters; aliases in patterns are canonicalised
// ("image/jpg" is image/jpeg, "audio/x-wav" audio/wav). A type no pattern
// matches gives an error wrapping filestore.ErrTypeNotAllowed.
//
// The mismatch rule: when the content is of a known type, the name's
// extension (read after any trailing dots, white space and invisible
// characters: "report.pdf." claims PDF) and the declared content type
// (MetaInput.DeclaredType), each when it claims something, must claim that
// type's family; otherwise the error wraps filestore.ErrTypeMismatch. Text
// content claimed as a binary format ("cat.png" holding HTML) is such a
// mismatch, except against the legacy Office formats (doc, xls, ppt, ...),
// whose names RTF, HTML and CSV files commonly carry. Unknown
// (application/octet-stream) content is never rejected by this rule, nor is
// anything against an extension or a declared type the table does not
// list (".dat", "application/x-custom"); "" and application/octet-stream
// claim nothing. The rule comes first: a disguised file is reported as a
// mismatch even when the allow list would also refuse it. The families:
//
//	family     sniffed types              extensions claiming it               declared types claiming it (and aliases)
//	jpeg       image/jpeg                 jpg jpeg jpe jfif jif pjpeg pjp      image/jpeg image/jpg image/pjpeg
//	png        image/png                  png apng                             image/png image/x-png image/apng
//	gif        image/gif                  gif                                  image/gif
//	webp       image/webp                 webp                                 image/webp
//	bmp        image/bmp                  bmp dib                              image/bmp image/x-bmp image/x-ms-bmp
//	tiff       image/tiff, x-canon-cr2    tif tiff cr2 dng nef arw             image/tiff image/x-tiff raw types
//	heif       image/heic, image/heif     heic heics; heif heifs hif (3)       image/heic; image/heif (3)
//	avif       image/avif                 avif avifs; heif heifs hif (3)       image/avif; image/heif (3)
//	pdf        application/pdf            pdf                                  application/pdf application/x-pdf
//	zip        application/zip, OOXML,    zip docx xlsx pptx (and macro and    application/zip x-zip-compressed,
//	           EPUB, OpenDocument         template forms) odt ods odp odg epub java-archive, android apk, epub+zip,
//	                                      jar war apk aab xpi ipa kmz whl      OOXML and OpenDocument types
//	                                      nupkg vsix cbz 3mf xps appx msix
//	gzip       application/gzip           gz tgz gzip svgz                     application/gzip application/x-gzip
//	7z         application/x-7z-...       7z                                   application/x-7z-compressed
//	ole2       msword, ms-excel, ms-      doc dot xls xlt ppt pot pps msi msg  application/msword, vnd.ms-excel, ...
//	           powerpoint, x-ole-storage
//	iso-bmff   video/mp4, video/quick-    mp4 m4v m4a m4b m4p mov qt 3gp 3gpp  video/mp4 video/quicktime audio/mp4
//	media      time, audio/mp4, video/x-  3g2 f4v f4a                          audio/x-m4a video/x-m4v video/3gpp ...
//	           m4v, video/3gpp(2)
//	matroska   video/webm, x-matroska     webm mkv mka mk3d mks                video/webm audio/webm video/x-matroska
//	mp3        audio/mpeg                 mp3 mp2 mpga                         audio/mpeg audio/mp3 audio/x-mp3
//	wav        audio/wav                  wav wave                             audio/wav audio/x-wav audio/wave
//	ogg        audio/ogg, video/ogg       ogg oga ogv ogx opus spx             audio/ogg video/ogg application/ogg
//	avi, flac  video/x-msvideo, audio/    avi; flac                            video/x-msvideo video/avi; audio/flac
//	           flac
//	windows-   PE, x-dosexec              exe dll sys scr cpl ocx efi drv      vnd.microsoft.portable-executable,
//	executable                                                                 x-msdownload, x-dosexec
//	elf        application/x-executable   so elf ko                            x-executable x-elf x-sharedlib
//	mach-o     application/x-mach-binary  dylib                                application/x-mach-binary
//	java-class application/java-vm        class                                application/java-vm
//	text       text/*, rtf, postscript    txt csv tsv md json xml html htm     text/*, application/json, xml,
//	                                      css js svg yaml yml log ini toml     javascript, image/svg+xml, +json,
//	                                      rst tex srt vtt ics vcf rtf ...      +xml types
//
// (3) A HEIF container may hold HEVC (HEIC) or AV1 (AVIF) images, so the
// generic .heif extension and image/heif accept both; .heic and image/heic
// claim HEVC, .avif and image/avif AV1. Every other type filetype knows
// (rar, xz, fonts, ...) is its own family, claimed by its own declared
// type. Only the last extension counts (".tar.gz" claims gzip), case
// insensitively.
//
// So a ".jpg" that is a PE executable, a ".png" that is a ZIP and a
// ".txt" that is an ELF binary are refused; ".jpeg", ".jpe" and ".jpg"
// accept the same bytes, a ".docx" that sniffs as a plain ZIP is accepted,
// a ".mov" holding an isom MP4 is accepted, and a ".jpg" of plain text, or
// of bytes the sniffer does not know, is accepted with the content type
// the bytes have.
package meta
