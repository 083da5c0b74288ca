package scan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/filestoretest"
	"github.com/filestore-go/filestore/scan"
)

// killingScanner passes its scans on to a ClamAV and, when the first of
// them has read atN bytes of its content, kills clamd with SIGKILL and
// waits for it to exit. ClamAV reads a chunk only once clamd has taken the
// one before, so clamd dies in the middle of the upload's INSTREAM.
type killingScanner struct {
	*scan.ClamAV
	clamd *testClamd
	atN   int64
	once  sync.Once
}

func (s *killingScanner) Scan(ctx context.Context, r io.Reader) (*filestore.ScanResult, error) {
	return s.ClamAV.Scan(ctx, &counter{r: r, atN: s.atN, at: func() { s.once.Do(s.clamd.kill) }})
}

// TestStoreClamdKilledMidUpload kills a clamd of its own (SIGKILL, as a
// crash or the OOM killer does) while an upload's content streams to it:
// fail-closed refuses the upload with ErrScannerUnavailable (httpapi's 503
// scanner_unavailable) and keeps nothing of it; fail-open stores it
// unscanned, byte for byte. Once clamd is started again and answers a
// Ping, the same Store scans again without being reopened: clean content
// is stored clean and EICAR is refused.
func TestStoreClamdKilledMidUpload(t *testing.T) {
	tests := []struct {
		policy  filestore.ScanPolicy
		wantErr error // nil: stored unscanned
	}{
		{filestore.FailClosed, filestore.ErrScannerUnavailable},
		{filestore.FailOpen, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			clamd := startTestClamd(t)
			clam := newClam(t, clamd.addr, &scan.Options{DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second})
			sc := &killingScanner{ClamAV: clam, clamd: clamd, atN: 2 << 20}
			st := openStore(t, sc, tt.policy, "")
			content := filestoretest.Content(11, 4<<20)

			f, err := st.put("during.bin", bytes.NewReader(content))
			if clamd.cmd != nil {
				t.Fatal("clamd was not killed: the scan never read 2 MiB")
			}
			t.Logf("Put while clamd is killed: %v", err)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Put while clamd is killed = %+v, %v; want %v", f, err, tt.wantErr)
				}
				if n := st.fileCount(t); n != 0 {
					t.Errorf("store holds %d files, want 0", n)
				}
				if files := st.blobFiles(t); len(files) != 0 {
					t.Errorf("bucket holds %q after Collect, want nothing", files)
				}
			} else {
				if err != nil {
					t.Fatalf("Put while clamd is killed: %v", err)
				}
				if diff := cmp.Diff(unscanned, f.Scan); diff != "" {
					t.Errorf("Put while clamd is killed: File.Scan (-want +got):\n%s", diff)
				}
				_, rd, err := st.Get(context.Background(), owner, f.ID)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rd)
				rd.Close()
				if err != nil || !bytes.Equal(got, content) {
					t.Errorf("stored file reads %d bytes (%v), want the %d uploaded", len(got), err, len(content))
				}
			}

			// A failed PING's outcome stands for ProbeAfter; a Ping of
			// the clamd that is back ends it at once.
			clamd.start()
			if err := clam.Ping(context.Background()); err != nil {
				t.Fatalf("Ping after the restart: %v", err)
			}
			f, err = st.put("after.bin", bytes.NewReader(content))
			if err != nil {
				t.Fatalf("Put after the restart: %v", err)
			}
			if diff := cmp.Diff(scanned(t, clam), f.Scan); diff != "" {
				t.Errorf("Put after the restart: File.Scan (-want +got):\n%s", diff)
			}
			wantInfected(t, nil, firstErr(st.put("eicar.com", bytes.NewReader(eicar(t)))), sigEICAR)
		})
	}
}
