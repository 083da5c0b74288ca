package meta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/meta"
)

func ExampleExtractor_Extract() {
	allowed, err := meta.ParseAllowList("image/*,application/pdf")
	if err != nil {
		panic(err)
	}
	x, err := meta.New(&meta.Options{AllowedTypes: allowed})
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile("testdata/landscape_6.jpg")
	if err != nil {
		panic(err)
	}
	md, err := x.Extract(context.Background(), &filestore.MetaInput{
		Name:    "landscape_6.jpg",
		Head:    data[:min(len(data), filestore.HeadSize)],
		Size:    int64(len(data)),
		Content: bytes.NewReader(data),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(md.ContentType, *md.Meta.Width, *md.Meta.Height, *md.Meta.StoredWidth, *md.Meta.StoredHeight, *md.Meta.EXIF.Orientation)

	// A PDF named like a picture is refused.
	_, err = x.Extract(context.Background(), &filestore.MetaInput{Name: "cat.jpg", Head: []byte("%PDF-1.7\n")})
	fmt.Println(errors.Is(err, filestore.ErrTypeMismatch))
	// Output:
	// image/jpeg 600 450 450 600 6
	// true
}
