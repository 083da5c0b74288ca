// Command scanner plugs a custom filestore.Scanner into a Store: one that
// flags content containing a marker, reading it as a stream (it keeps only
// the last len(marker)-1 bytes, however large the file). An infected
// upload is refused with filestore.ErrInfected and nothing is stored.
//
//	go run ./examples/scanner
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/filestore-go/filestore"
)

// MarkerScanner reports content that contains Marker as malware.
type MarkerScanner struct {
	Marker []byte
}

var _ filestore.Scanner = MarkerScanner{}

// Scan reads r to the end and reports whether Marker occurs in it. It
// returns ctx's error when ctx is cancelled, and a read error as an error
// (no verdict), so that the Store's scan policy decides.
func (s MarkerScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	if len(s.Marker) == 0 {
		return nil, errors.New("marker scanner: empty marker")
	}
	res := &filestore.ScanResult{Engine: "marker", Version: "1"}
	buf := make([]byte, 64<<10)
	var window []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		window = append(window, buf[:n]...)
		if res.Signature == "" && bytes.Contains(window, s.Marker) {
			res.Signature = "Example.Marker"
		}
		if keep := len(s.Marker) - 1; len(window) > keep {
			window = append(window[:0], window[len(window)-keep:]...)
		}
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return nil, fmt.Errorf("marker scanner: %w", err)
		}
	}
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scanner:", err)
		os.Exit(1)
	}
}

// run stores a clean and an infected file with the marker scanner and
// prints what happened.
func run(ctx context.Context, out io.Writer) (err error) {
	store, err := filestore.Open(ctx, filestore.Options{
		Database: "sqlite://:memory:",
		Bucket:   "mem://",
		Scanner:  MarkerScanner{Marker: []byte("X-EVIL-MARKER")},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()

	f, err := store.Put(ctx, "alice", "", "clean.txt", strings.NewReader("nothing to see here"), nil)
	if err != nil {
		return fmt.Errorf("put clean: %w", err)
	}
	fmt.Fprintf(out, "clean.txt: stored, scan %s by %s\n", f.Scan.Status, f.Scan.Engine)

	// The marker straddles two reads of the scanner.
	evil := io.MultiReader(strings.NewReader(strings.Repeat("padding ", 8192)+"X-EVIL-"), strings.NewReader("MARKER and more"))
	_, err = store.Put(ctx, "alice", "", "evil.txt", evil, nil)
	var infected *filestore.InfectedError
	switch {
	case errors.As(err, &infected):
		fmt.Fprintf(out, "evil.txt: refused, infected with %s\n", infected.Signature)
	case err != nil:
		return fmt.Errorf("put evil: %w", err)
	default:
		return errors.New("evil.txt was stored")
	}
	page, err := store.List(ctx, "alice", nil)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	fmt.Fprintf(out, "files stored: %d\n", len(page.Files))
	return nil
}
