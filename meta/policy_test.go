package meta

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/filestore-go/filestore"
)

// outcome is what a policy test compares: the sniffed type, or the error.
type outcome struct {
	Type string
	Err  error
}

func extractOutcome(t *testing.T, e *Extractor, name, declared string, data []byte) outcome {
	t.Helper()
	in := input(name, data)
	in.DeclaredType = declared
	md, err := e.Extract(context.Background(), in)
	if err != nil {
		return outcome{Err: err}
	}
	return outcome{Type: md.ContentType}
}

func TestContentTypes(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	tests := []struct {
		name string
		give []byte
		want string
	}{
		{"photo.jpg", jpegBytes(t, 3, 2), "image/jpeg"},
		{"photo.png", pngBytes(t, 3, 2), "image/png"},
		{"anim.gif", gifBytes(t, 3, 2), "image/gif"},
		{"photo.webp", webpBytes(3, 2), "image/webp"},
		{"photo.bmp", bmpBytes(t, 3, 2), "image/bmp"},
		{"scan.tiff", tiffBytes(t, 3, 2), "image/tiff"},
		{"photo.heic", ftyp("heic", "mif1", "heic"), "image/heic"},
		{"photo.heic", ftyp("mif1", "mif1", "heix"), "image/heic"},
		{"photo.heif", ftyp("mif1", "mif1", "miaf"), "image/heif"},
		{"photo.avif", ftyp("avif", "mif1", "miaf", "MA1B"), "image/avif"},
		{"doc.pdf", pdfBytes(), "application/pdf"},
		{"a.zip", zipBytes(t, [2]string{"hello.txt", "hello"}), "application/zip"},
		{"a.docx", docxBytes(t), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"a.epub", zipBytes(t, [2]string{"mimetype", "application/epub+zip"}, [2]string{"META-INF/container.xml", "<container/>"}), "application/epub+zip"},
		{"a.odt", zipBytes(t, [2]string{"mimetype", "application/vnd.oasis.opendocument.text"}, [2]string{"content.xml", "<x/>"}), "application/vnd.oasis.opendocument.text"},
		{"a.gz", gzipBytes(t), "application/gzip"},
		{"a.7z", sevenZipBytes(), "application/x-7z-compressed"},
		{"clip.mp4", ftyp("isom", "isom", "iso2", "avc1", "mp41"), "video/mp4"},
		{"clip.mov", ftyp("qt  ", "qt  "), "video/quicktime"},
		{"song.m4a", ftyp("M4A ", "M4A ", "mp42", "isom"), "audio/mp4"},
		{"clip.3gp", ftyp("3gp4", "isom", "3gp4"), "video/3gpp"},
		{"clip.webm", webmBytes("webm"), "video/webm"},
		{"clip.mkv", webmBytes("matroska"), "video/x-matroska"},
		{"song.mp3", mp3Bytes(true), "audio/mpeg"},
		{"song.mp3", mp3Bytes(false), "audio/mpeg"},
		{"sound.wav", wavBytes(), "audio/wav"},
		{"sound.ogg", oggBytes("\x01vorbis"), "audio/ogg"},
		{"clip.ogv", oggBytes("\x80theora"), "video/ogg"},
		{"prog", elfBytes(), "application/x-executable"},
		{"prog.exe", peBytes(), "application/vnd.microsoft.portable-executable"},
		{"prog.com", dosBytes(), "application/x-dosexec"},
		{"prog", machoBytes(), "application/x-mach-binary"},
		{"prog", fatMachoBytes(), "application/x-mach-binary"},
		{"Main.class", javaClassBytes(), "application/java-vm"},
		{"notes.txt", []byte("hello, world\n"), "text/plain; charset=utf-8"},
		{"page.html", []byte("<!DOCTYPE html><html><body>hi</body></html>"), "text/html; charset=utf-8"},
		{"gift.txt", []byte("GIFT list: socks\n"), "text/plain; charset=utf-8"},
		{"bm.txt", []byte("BMW and BMX are not bitmaps, nor is this line.\n"), "text/plain; charset=utf-8"},
		{"mz.txt", []byte("MZ Corp annual report, which is not a DOS program at all.\nIt is text through and through.\n"), "text/plain; charset=utf-8"},
		{"utf16.txt", []byte("\xff\xfeh\x00i\x00\n\x00"), "text/plain; charset=utf-16le"},
		{"utf16be.txt", []byte("\xfe\xff\x00h\x00i\x00\n"), "text/plain; charset=utf-16be"},
		{"blob.bin", unknownBytes(), "application/octet-stream"},
		{"empty", nil, "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.name, func(t *testing.T) {
			got := extractOutcome(t, e, tt.name, "", tt.give)
			if diff := cmp.Diff(outcome{Type: tt.want}, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("Extract(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestMismatchRule(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	jpg := jpegBytes(t, 3, 2)
	zipped := zipBytes(t, [2]string{"hello.txt", "hello"})
	mismatch := outcome{Err: filestore.ErrTypeMismatch}
	tests := []struct {
		name, declared string
		give           []byte
		want           outcome
	}{
		// Disguised content.
		{"photo.jpg", "", peBytes(), mismatch},
		{"photo.jpg", "", dosBytes(), mismatch},
		{"image.png", "", zipped, mismatch},
		{"photo.jpg", "", pngBytes(t, 3, 2), mismatch},
		{"song.mp3", "", elfBytes(), mismatch},
		{"doc.pdf", "", machoBytes(), mismatch},
		{"clip.mp4", "", ftyp("heic", "mif1"), mismatch},
		{"photo.avif", "", ftyp("heic", "mif1"), mismatch},
		{"notes.txt", "", peBytes(), mismatch},
		{"data.csv", "", zipped, mismatch},
		{"photo", "image/png", jpg, mismatch},
		{"upload", "image/jpeg", peBytes(), mismatch},
		{"upload", "text/plain", elfBytes(), mismatch},
		{"photo.jpg", "image/png; charset=binary", jpg, mismatch},
		// Aliases of one format.
		{"photo.jpeg", "", jpg, outcome{Type: "image/jpeg"}},
		{"photo.JPE", "", jpg, outcome{Type: "image/jpeg"}},
		{"photo", "image/jpg", jpg, outcome{Type: "image/jpeg"}},
		{"photo", "image/pjpeg", jpg, outcome{Type: "image/jpeg"}},
		{"scan.tif", "image/tiff", tiffBytes(t, 3, 2), outcome{Type: "image/tiff"}},
		{"photo.heic", "image/heif", ftyp("mif1", "mif1", "miaf"), outcome{Type: "image/heif"}},
		{"photo.heif", "image/heic", ftyp("heic", "mif1"), outcome{Type: "image/heic"}},
		{"photo.heif", "", ftyp("avif", "mif1"), outcome{Type: "image/avif"}},
		{"sound.wav", "audio/x-wav", wavBytes(), outcome{Type: "audio/wav"}},
		{"sound.wave", "audio/vnd.wave", wavBytes(), outcome{Type: "audio/wav"}},
		{"clip.mov", "video/quicktime", ftyp("isom", "isom", "mp41"), outcome{Type: "video/mp4"}},
		{"clip.mp4", "video/mp4", ftyp("qt  ", "qt  "), outcome{Type: "video/quicktime"}},
		{"song.m4a", "audio/x-m4a", ftyp("M4A ", "M4A ", "isom"), outcome{Type: "audio/mp4"}},
		{"song.m4a", "audio/mp4", ftyp("isom", "mp42"), outcome{Type: "video/mp4"}},
		{"clip.mkv", "video/webm", webmBytes("webm"), outcome{Type: "video/webm"}},
		{"song.opus", "audio/opus", oggBytes("OpusHead"), outcome{Type: "audio/ogg"}},
		{"a.docx", "", zipped, outcome{Type: "application/zip"}},
		{"a.xlsx", "application/zip", docxBytes(t), outcome{Type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}},
		{"app.jar", "application/java-archive", zipped, outcome{Type: "application/zip"}},
		{"app.apk", "application/vnd.android.package-archive", zipped, outcome{Type: "application/zip"}},
		{"a.zip", "application/x-zip-compressed", zipped, outcome{Type: "application/zip"}},
		{"a.tar.gz", "application/x-gzip", gzipBytes(t), outcome{Type: "application/gzip"}},
		{"tool.dll", "application/x-msdownload", peBytes(), outcome{Type: "application/vnd.microsoft.portable-executable"}},
		// No claim: octet-stream, unknown declared types, unknown extensions.
		{"x.bin", "application/octet-stream", peBytes(), outcome{Type: "application/vnd.microsoft.portable-executable"}},
		{"x", "", elfBytes(), outcome{Type: "application/x-executable"}},
		{"x.dat", "application/x-something-else", elfBytes(), outcome{Type: "application/x-executable"}},
		{"x.jpg", "not a media type", jpg, outcome{Type: "image/jpeg"}},
		// Text claimed as a binary format is disguised too (it was let
		// through until an audit stored HTML as cat.png), except against
		// legacy Office names, which RTF, HTML and CSV files often carry.
		{"photo.jpg", "", []byte("just some text\n"), mismatch},
		{"cat.png", "image/png", []byte("<!DOCTYPE html><script>alert(1)</script>"), mismatch},
		{"upload", "application/pdf", []byte("<html><body>x</body></html>"), mismatch},
		{"logo.jpg", "", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), mismatch},
		{"report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("plain words\n"), mismatch},
		{"setup.exe", "", []byte("echo hi\n"), mismatch},
		{"table.xls", "", []byte("<table><tr><td>1</td></tr></table>"), outcome{Type: "text/html; charset=utf-8"}},
		{"letter.doc", "application/msword", []byte(`{\rtf1\ansi hello}`), outcome{Type: "application/rtf"}},
		{"data.csv", "text/csv", []byte("a,b\n1,2\n"), outcome{Type: "text/plain; charset=utf-8"}},
		{"logo.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), outcome{Type: "text/plain; charset=utf-8"}},
		// What Windows drops or no one sees at the end of a name does not
		// hide the extension.
		{"report.pdf.", "", pngBytes(t, 3, 2), mismatch},
		{"report.pdf ", "", peBytes(), mismatch},
		{"report.pdf\u3000", "", peBytes(), mismatch},
		{"report.pdf\u2064", "", peBytes(), mismatch},
		{"report.pdf. . ", "", []byte("text\n"), mismatch},
		{"photo.png.", "", pngBytes(t, 3, 2), outcome{Type: "image/png"}},
		{"notes.", "", peBytes(), outcome{Type: "application/vnd.microsoft.portable-executable"}},
		// Unknown content is not rejected for an extension the sniffer
		// cannot confirm.
		{"photo.jpg", "image/jpeg", unknownBytes(), outcome{Type: "application/octet-stream"}},
		{"archive.xyz", "", unknownBytes(), outcome{Type: "application/octet-stream"}},
		{"song.mp3", "audio/mpeg", nil, outcome{Type: "application/octet-stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"|"+tt.declared, func(t *testing.T) {
			got := extractOutcome(t, e, tt.name, tt.declared, tt.give)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("Extract(%q, declared %q) (-want +got):\n%s", tt.name, tt.declared, diff)
			}
		})
	}
}

func TestMismatchMessageNamesTypes(t *testing.T) {
	e, _ := newTestExtractor(t, nil)
	tests := []struct {
		name, declared string
		give           []byte
		want           string
	}{
		{"photo.jpg", "", peBytes(), `meta: the extension of "photo.jpg" claims image/jpeg, but the content is application/vnd.microsoft.portable-executable: filestore: content type mismatch`},
		{"upload", "image/png", zipBytes(t, [2]string{"a", "b"}), `meta: the declared content type "image/png" claims image/png, but the content is application/zip: filestore: content type mismatch`},
	}
	for _, tt := range tests {
		in := input(tt.name, tt.give)
		in.DeclaredType = tt.declared
		_, err := e.Extract(context.Background(), in)
		if err == nil {
			t.Fatalf("Extract(%q): no error", tt.name)
		}
		if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
			t.Errorf("error message (-want +got):\n%s", diff)
		}
	}
}

func TestAllowList(t *testing.T) {
	patterns, err := ParseAllowList("image/*, application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newTestExtractor(t, &Options{AllowedTypes: patterns})
	notAllowed := outcome{Err: filestore.ErrTypeNotAllowed}
	tests := []struct {
		name string
		give []byte
		want outcome
	}{
		{"a.jpg", jpegBytes(t, 3, 2), outcome{Type: "image/jpeg"}},
		{"a.heic", ftyp("heic", "mif1"), outcome{Type: "image/heic"}},
		{"a.pdf", pdfBytes(), outcome{Type: "application/pdf"}},
		{"a.zip", zipBytes(t, [2]string{"a", "b"}), notAllowed},
		{"a.txt", []byte("text\n"), notAllowed},
		{"a.bin", unknownBytes(), notAllowed},
		{"a.mp4", ftyp("isom", "mp41"), notAllowed},
		// The mismatch rule comes first.
		{"a.jpg", peBytes(), outcome{Err: filestore.ErrTypeMismatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := extractOutcome(t, e, tt.name, "", tt.give)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("Extract(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}

	_, err = e.Extract(context.Background(), input("a.zip", zipBytes(t, [2]string{"a", "b"})))
	want := `meta: content type application/zip of "a.zip" is not in the allow list [image/* application/pdf]: filestore: content type not allowed`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestAllowListAliases(t *testing.T) {
	e, _ := newTestExtractor(t, &Options{AllowedTypes: []string{"IMAGE/JPG", "audio/x-wav"}})
	for _, tt := range []struct {
		name string
		give []byte
		want outcome
	}{
		{"a.jpg", jpegBytes(t, 3, 2), outcome{Type: "image/jpeg"}},
		{"a.wav", wavBytes(), outcome{Type: "audio/wav"}},
		{"a.png", pngBytes(t, 3, 2), outcome{Err: filestore.ErrTypeNotAllowed}},
	} {
		got := extractOutcome(t, e, tt.name, "", tt.give)
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("Extract(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		give    string
		want    []string
		wantErr error
	}{
		{give: "", want: nil},
		{give: " , ", want: nil},
		{give: "image/*,application/pdf", want: []string{"image/*", "application/pdf"}},
		{give: " Image/JPG , audio/x-wav,,*/*", want: []string{"image/jpeg", "audio/wav", "*/*"}},
		{give: "application/vnd.oasis.opendocument.text", want: []string{"application/vnd.oasis.opendocument.text"}},
		{give: "image", wantErr: filestore.ErrInvalidArgument},
		{give: "image/", wantErr: filestore.ErrInvalidArgument},
		{give: "/png", wantErr: filestore.ErrInvalidArgument},
		{give: "*/png", wantErr: filestore.ErrInvalidArgument},
		{give: "image/pn*", wantErr: filestore.ErrInvalidArgument},
		{give: "image/png; q=1", wantErr: filestore.ErrInvalidArgument},
		{give: "image/png/x", wantErr: filestore.ErrInvalidArgument},
		{give: "ima ge/png", wantErr: filestore.ErrInvalidArgument},
		{give: "image/*,bogus", wantErr: filestore.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := ParseAllowList(tt.give)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("ParseAllowList(%q) error = %v, want %v", tt.give, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseAllowList(%q) (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		give *Options
	}{
		{"bad pattern", &Options{AllowedTypes: []string{"image/*", "nonsense"}}},
		{"negative MaxRead", &Options{MaxRead: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.give)
			if !errors.Is(err, filestore.ErrInvalidArgument) || e != nil {
				t.Errorf("New = %v, %v; want nil, error wrapping ErrInvalidArgument", e, err)
			}
		})
	}
}
