// Command embed uses filestore as a library, without HTTP: it opens a Store
// over SQLite and a local directory, stores a file, lists, reads, renames,
// trashes, restores and purges it. It purges everything it stored before
// it ends, so that a run over the same directory does and prints the same.
//
//	go run ./examples/embed [-dir ./embed-data]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/filestore-go/filestore"
)

func main() {
	dir := flag.String("dir", "./embed-data", "where the database and the bytes live")
	flag.Parse()
	if err := run(context.Background(), *dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// run is the example: everything it does is printed to out.
func run(ctx context.Context, dir string, out io.Writer) (err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	store, err := filestore.Open(ctx, filestore.Options{
		Database: "sqlite://" + filepath.Join(dir, "filestore.db"),
		Bucket:   "file://" + filepath.ToSlash(filepath.Join(dir, "blobs")),
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

	const owner = "alice"
	f, err := store.Put(ctx, owner, "notes", "hello.txt", strings.NewReader("Hello, filestore!\n"), &filestore.PutOptions{Overwrite: true})
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	fmt.Fprintf(out, "stored %s/%s: %d bytes, %s, sha256 %s…\n", f.Folder, f.Name, f.Size, f.ContentType, f.SHA256[:12])

	// The same bytes under another name are stored once.
	cp, err := store.Put(ctx, owner, "notes", "copy.txt", strings.NewReader("Hello, filestore!\n"), &filestore.PutOptions{Overwrite: true})
	if err != nil {
		return fmt.Errorf("put copy: %w", err)
	}
	page, err := store.List(ctx, owner, &filestore.ListOptions{Folder: "notes"})
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	for _, g := range page.Files {
		fmt.Fprintf(out, "listed %s/%s\n", g.Folder, g.Name)
	}

	_, rc, err := store.Get(ctx, owner, f.ID)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if _, err := rc.Seek(7, io.SeekStart); err != nil { // a range read
		rc.Close()
		return fmt.Errorf("seek: %w", err)
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	fmt.Fprintf(out, "read from byte 7: %q\n", b)

	name := "greeting.txt"
	if f, err = store.Update(ctx, owner, f.ID, filestore.Update{Name: &name}); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	fmt.Fprintf(out, "renamed to %s\n", f.Name)

	if err := store.Delete(ctx, owner, f.ID); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, rc, err = store.Get(ctx, owner, f.ID); err == nil {
		rc.Close()
		return errors.New("a trashed file's content could still be read")
	}
	fmt.Fprintf(out, "in the trash, its content is gone: not found = %v\n", errors.Is(err, filestore.ErrNotFound))
	if f, err = store.Restore(ctx, owner, f.ID); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(out, "restored %s, deleted_at %v\n", f.Name, f.DeletedAt)

	if _, err := store.Stat(ctx, "mallory", f.ID); err != nil {
		fmt.Fprintf(out, "another owner sees: not found = %v\n", errors.Is(err, filestore.ErrNotFound))
	}
	if err := store.Purge(ctx, owner, f.ID); err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	st, err := store.Stats(ctx)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	fmt.Fprintf(out, "after purge: %d file(s), %d object(s)\n", st.Files, st.Objects)
	// The copy goes too: with nothing left, the next run starts as this
	// one did (its Overwrite of copy.txt would trash this one's).
	if err := store.Purge(ctx, owner, cp.ID); err != nil {
		return fmt.Errorf("purge copy: %w", err)
	}
	return nil
}
