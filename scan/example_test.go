package scan_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/scan"
)

// Scan content with a clamd on a unix socket. (Not run: it needs clamd.)
func ExampleClamAV_Scan() {
	clam, err := scan.New("unix:///run/clamav/clamd.ctl", &scan.Options{
		ReadTimeout:     30 * time.Second,
		StreamMaxLength: 100 << 20, // clamd.conf: StreamMaxLength 100M
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := clam.Scan(context.Background(), strings.NewReader("hello, world"))
	switch {
	case errors.Is(err, filestore.ErrScanLimit):
		fmt.Println("too large for clamd to scan")
	case err != nil:
		fmt.Println("no verdict:", err)
	case res.Signature != "":
		fmt.Println("infected:", res.Signature)
	default:
		fmt.Println("clean, scanned by", res.Engine, res.Version)
	}
}

// Give a Store a scanner: uploads are scanned while they are stored.
func ExampleNew() {
	ctx := context.Background()
	clam, err := scan.New("tcp://127.0.0.1:3310", nil)
	if err != nil {
		log.Fatal(err)
	}
	st, err := filestore.Open(ctx, filestore.Options{
		Scanner:      clam,
		ScanPolicy:   filestore.FailClosed,     // clamd down: refuse uploads
		ScanOversize: filestore.OversizeReject, // over clamd's limits: refuse
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = st.Put(ctx, "alice", "", "notes.txt", strings.NewReader("hello"), nil)
	var infected *filestore.InfectedError
	switch {
	case errors.As(err, &infected):
		fmt.Println("refused:", infected.Signature)
	case errors.Is(err, filestore.ErrScannerUnavailable):
		fmt.Println("clamd is down or busy: nothing stored, try again later")
	case err != nil:
		log.Fatal(err)
	}
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}
}
