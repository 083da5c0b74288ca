package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/filestore-go/filestore"
)

// Example stores a file, finds it again, reads it and shows what another
// owner sees. The Store here lives in memory; a real one names a SQLite
// file or PostgreSQL, and a directory or an S3 bucket (see Options).
func Example() {
	ctx := context.Background()
	st, err := filestore.Open(ctx, filestore.Options{
		Database: "sqlite://:memory:",
		Bucket:   "mem://",
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Fatal(err)
		}
	}()

	f, err := st.Put(ctx, "alice", "notes", "hello.txt", strings.NewReader("Hello, filestore!\n"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Folder+"/"+f.Name, f.Size, f.ContentType)

	page, err := st.List(ctx, "alice", &filestore.ListOptions{Folder: "notes"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listed:", len(page.Files), "file")

	_, rc, err := st.Get(ctx, "alice", f.ID)
	if err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read: %q\n", b)

	_, _, err = st.Get(ctx, "mallory", f.ID)
	fmt.Println("mallory gets not found:", errors.Is(err, filestore.ErrNotFound))

	// Output:
	// notes/hello.txt 18 text/plain; charset=utf-8
	// listed: 1 file
	// read: "Hello, filestore!\n"
	// mallory gets not found: true
}
