package meta

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/filestore-go/filestore"
)

// DefaultMaxRead is how many bytes beyond MetaInput.Head an Extract reads
// at most when Options.MaxRead is zero.
const DefaultMaxRead = 4 << 20

// Options configures New. A nil *Options is the zero value: every type
// allowed, warnings to slog.Default(), DefaultMaxRead.
type Options struct {
	// AllowedTypes lists the patterns ("image/*", "application/pdf",
	// "*/*") a sniffed content type must match; nil or empty allows every
	// type. ParseAllowList builds it from a comma-separated list.
	AllowedTypes []string
	// Logger receives a warning when a parser panics or reading the
	// content fails (the metadata is then partial). Default:
	// slog.Default().
	Logger *slog.Logger
	// MaxRead caps the bytes of MetaInput.Content read beyond Head by one
	// Extract (TIFF and HEIF metadata, a JPEG whose frame header lies past
	// Head, a WebP's trailing EXIF). 0 means DefaultMaxRead.
	MaxRead int64
}

// Extractor finds the content type, image dimensions and EXIF of uploads
// and applies the type policy (see the package documentation). It is safe
// for concurrent use.
type Extractor struct {
	allowed []string
	log     *slog.Logger
	maxRead int64
	exif    *exifParser
	tail    []tailType
}

var _ filestore.MetaExtractor = (*Extractor)(nil)

// New returns an Extractor. A nil opts is the zero Options. An invalid
// allow-list pattern or a negative MaxRead gives an error wrapping
// filestore.ErrInvalidArgument.
func New(opts *Options) (*Extractor, error) {
	if opts == nil {
		opts = &Options{}
	}
	e := &Extractor{log: opts.Logger, maxRead: opts.MaxRead, tail: tailTypes()}
	for _, p := range opts.AllowedTypes {
		c, err := parsePattern(p)
		if err != nil {
			return nil, err
		}
		e.allowed = append(e.allowed, c)
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	switch {
	case e.maxRead < 0:
		return nil, fmt.Errorf("meta: negative MaxRead %d: %w", e.maxRead, filestore.ErrInvalidArgument)
	case e.maxRead == 0:
		e.maxRead = DefaultMaxRead
	}
	x, err := newExifParser()
	if err != nil {
		return nil, err
	}
	e.exif = x
	return e, nil
}

// CheckType applies the type policy to in's Name, DeclaredType and Head
// alone, as Extract does first: the error wraps filestore.ErrTypeNotAllowed
// or filestore.ErrTypeMismatch, and nil means Extract will not refuse the
// content for its type. It implements filestore.TypeChecker, so that Put
// refuses such content after its first HeadSize bytes. A nil in gives an
// error wrapping filestore.ErrInvalidArgument; ctx is not used.
func (e *Extractor) CheckType(_ context.Context, in *filestore.MetaInput) error {
	if in == nil {
		return fmt.Errorf("meta: check type: nil input: %w", filestore.ErrInvalidArgument)
	}
	_, err := e.policy(in)
	return err
}

// policy sniffs in.Head's content type and applies the type policy to it.
func (e *Extractor) policy(in *filestore.MetaInput) (string, error) {
	ct := typeOctetStream
	e.recovered(in.Name, "sniff", func() { ct = e.sniff(in.Head) })
	if err := checkMismatch(in.Name, in.DeclaredType, ct, e.tail); err != nil {
		return "", err
	}
	if len(e.allowed) > 0 && !allowed(e.allowed, ct) {
		return "", fmt.Errorf("meta: content type %s of %q is not in the allow list %v: %w",
			ct, in.Name, e.allowed, filestore.ErrTypeNotAllowed)
	}
	return ct, nil
}

// Extract sniffs the content type from in.Head, applies the type policy,
// then finds the image dimensions and EXIF, reading in.Content beyond Head
// (range reads, at most MaxRead bytes) where a format needs it.
//
// A content type the allow list does not match gives an error wrapping
// filestore.ErrTypeNotAllowed; bytes that contradict the name's extension
// or in.DeclaredType give one wrapping filestore.ErrTypeMismatch; both name
// the types. Content that does not parse is not an error: the metadata
// holds what was found (at least ContentType). A parser that panics is
// recovered and logged as a warning. When ctx ends before Extract returns,
// it returns an error wrapping ctx.Err(), and no range read starts after
// that. A nil in gives an error wrapping filestore.ErrInvalidArgument.
func (e *Extractor) Extract(ctx context.Context, in *filestore.MetaInput) (*filestore.Metadata, error) {
	if in == nil {
		return nil, fmt.Errorf("meta: extract: nil input: %w", filestore.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("meta: extract %q: %w", in.Name, err)
	}
	ct, err := e.policy(in)
	if err != nil {
		return nil, err
	}

	md := &filestore.Metadata{ContentType: ct}
	src := newSource(ctx, in.Head, in.Content, in.Size, e.maxRead)
	e.recovered(in.Name, "exif", func() {
		x, err := e.exifOf(src, ct)
		if err != nil {
			e.log.Debug("meta: no exif", "name", in.Name, "content_type", ct, "err", err)
		}
		md.Meta.EXIF = x
	})
	e.recovered(in.Name, "dimensions", func() {
		switch ct {
		case typeHEIC, typeHEIF, typeAVIF:
			// The rotation is the container's (irot); a HEIF's EXIF
			// orientation only describes it.
			if w, h, turned, ok := heifSize(src); ok {
				setDimensions(&md.Meta, w, h, turned)
			}
		default:
			if w, h, ok := dimensions(src, ct); ok {
				setDimensions(&md.Meta, w, h, exifTurned(md.Meta.EXIF))
			}
		}
	})
	if src.ctxErr != nil {
		return nil, fmt.Errorf("meta: extract %q: %w", in.Name, src.ctxErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("meta: extract %q: %w", in.Name, err)
	}
	if src.readErr != nil {
		e.log.Warn("meta: reading the content failed; metadata is partial",
			"name", in.Name, "content_type", ct, "err", src.readErr)
	}
	return md, nil
}

// exifOf locates the EXIF block of content of type t and parses it.
func (e *Extractor) exifOf(s *source, t string) (*filestore.EXIF, error) {
	var blob []byte
	switch t {
	case typeTIFF, typeCR2:
		return e.exif.parse(s, s.size)
	case typeJPEG:
		blob = jpegExif(s)
	case typePNG:
		blob = pngExif(s)
	case typeWebP:
		blob = webpExif(s)
	case typeHEIC, typeHEIF, typeAVIF:
		blob = heifExif(s)
	}
	if blob == nil {
		return nil, nil
	}
	return e.exif.parse(bytes.NewReader(blob), int64(len(blob)))
}

// recovered runs one stage of extraction, turning a panic (of a third-party
// parser, on hostile input) into a warning.
func (e *Extractor) recovered(name, stage string, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			e.log.Warn("meta: parser panicked; metadata is partial",
				"name", name, "stage", stage, "panic", fmt.Sprint(v))
		}
	}()
	fn()
}
