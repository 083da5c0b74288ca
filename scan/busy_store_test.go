package scan

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/internal/testenv"
)

// TestStoreRefusesWhenClamdBusy: an upload whose scan waits out its
// ScanTimeout for one of the real clamd's connections, taken by other
// uploads (here by hand, see TestScanSlotWaitBusy), is refused with
// ErrScannerUnavailable and ErrScannerBusy under either policy, and leaves
// nothing: under fail-open it used to be stored "unscanned", EICAR
// included, so that whoever kept clamd busy could get anything past it.
// Once a connection is free, the same upload is found infected.
func TestStoreRefusesWhenClamdBusy(t *testing.T) {
	eicar := []byte(strings.Join([]string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR-STANDARD-", "ANTIVIRUS-TEST-", "FILE!$H+H*"}, ""))
	for _, policy := range []filestore.ScanPolicy{filestore.FailOpen, filestore.FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			c, err := New(testenv.ClamdAddr(t), &Options{MaxConcurrent: 1, ScanTimeout: 300 * time.Millisecond, ProbeAfter: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			blobs := filepath.Join(dir, "blobs")
			if err := os.Mkdir(blobs, 0o755); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			st, err := filestore.Open(t.Context(), filestore.Options{
				Database:   "sqlite://" + filepath.Join(dir, "fs.db"),
				Bucket:     "file://" + blobs,
				Scanner:    c,
				ScanPolicy: policy,
				Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()

			c.slots <- struct{}{} // another upload's scan holds the only connection
			f, err := st.Put(ctx, "alice", "", "eicar.com", bytes.NewReader(eicar), nil)
			if !errors.Is(err, filestore.ErrScannerUnavailable) || !errors.Is(err, filestore.ErrScannerBusy) {
				t.Fatalf("Put while clamd is busy = %+v, %v; want ErrScannerUnavailable and ErrScannerBusy", f, err)
			}
			if !strings.Contains(logs.String(), "scanner busy, upload refused") {
				t.Errorf("no warning of the busy scanner in the log:\n%s", logs.String())
			}
			for _, trash := range []bool{false, true} {
				page, err := st.List(ctx, "alice", &filestore.ListOptions{Recursive: true, Trash: trash})
				if err != nil || len(page.Files) != 0 {
					t.Errorf("List (trash %v) after the refused Put = %v, %v; want no files", trash, page, err)
				}
			}
			if _, err := st.Collect(ctx, &filestore.CollectOptions{StagingTTL: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
			if left := filestoretest.BucketFiles(t, blobs); len(left) != 0 {
				t.Errorf("bucket holds %v after the refused Put and Collect, want nothing", left)
			}

			<-c.slots
			_, err = st.Put(ctx, "alice", "", "eicar.com", bytes.NewReader(eicar), nil)
			if ie, ok := errors.AsType[*filestore.InfectedError](err); !ok || !strings.Contains(ie.Signature, "EICAR") {
				t.Errorf("Put once a connection is free = %v, want an EICAR *InfectedError", err)
			}
		})
	}
}
