package storage_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filestore-go/filestore/internal/faults"
	"github.com/filestore-go/filestore/internal/retry"
	"github.com/filestore-go/filestore/storage"
)

// A download whose consumer (e.g. a slow HTTP client of filestored) pauses
// longer than StallTimeout between reads must not fail.
func TestS3SlowConsumerNotCutOff(t *testing.T) {
	srv := faults.NewS3Server(t)
	b, err := storage.Open(t.Context(), srv.URL("slowc/"), &storage.Options{StallTimeout: time.Second, Retry: retry.Policy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := content(8<<20, 11)
	key := b.NewKey()
	put(t, b, key, data, 1<<20)
	r, err := b.NewReader(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []byte
	buf := make([]byte, 256<<10)
	for i := 0; ; i++ {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		if i < 3 {
			time.Sleep(2500 * time.Millisecond) // consumer pause > StallTimeout
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("other bytes")
	}
}

// The bucket's own client against a TLS S3-compatible endpoint that speaks
// h2: a download whose consumer pauses longer than StallTimeout.
func TestS3OverTLSStaysHTTP1(t *testing.T) {
	body := bytes.Repeat([]byte("y"), 16<<20)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Logf("%s %s %s", r.Proto, r.Method, r.URL)
		w.Header().Set("Content-Length", "16777216")
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	}))
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()
	pem := "-----BEGIN CERTIFICATE-----\n" + b64(hs.Certificate().Raw) + "-----END CERTIFICATE-----\n"
	f := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(f, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", f)
	b := openFakeBucket(t, hs.URL, &storage.Options{StallTimeout: time.Second, Retry: retry.Policy{Attempts: 1}})
	r, err := b.NewReader(t.Context(), b.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // slow downstream client
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		t.Errorf("download after a 2.5 s consumer pause (StallTimeout 1 s): %d more bytes, then %v", n, err)
	}
}

func b64(raw []byte) string {
	s := base64.StdEncoding.EncodeToString(raw)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	out.WriteString(s + "\n")
	return out.String()
}

// A CompleteMultipartUpload that takes longer than 2 x StallTimeout (it
// may take up to ResponseTimeout) and then answers a transient 500 is
// retried: its try got an answer, so it keeps Retry.Attempts (a review
// found it refused a retry when retries were bounded by the operation's
// time, 2 x StallTimeout).
func TestS3SlowAnswerThenErrorRetried(t *testing.T) {
	var completes atomic.Int32
	endpoint := multipartFake(t, func(w http.ResponseWriter, r *http.Request) {
		n := completes.Add(1)
		t.Logf("complete %d", n)
		if n == 1 {
			time.Sleep(2500 * time.Millisecond) // assembling; < ResponseTimeout
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>try again</Message></Error>`)
			return
		}
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><ETag>"x-2"</ETag></CompleteMultipartUploadResult>`)
	})
	b := openFakeBucket(t, endpoint, &storage.Options{
		StallTimeout:    time.Second,
		ResponseTimeout: 5 * time.Second,
		Retry:           retry.Policy{Attempts: 8, Base: 50 * time.Millisecond, Max: 2 * time.Second},
	})
	start := time.Now()
	err := write(t.Context(), b, b.NewKey(), content(6<<20+1, 1))
	t.Logf("write: %v after %v, %d completes", err, time.Since(start).Round(time.Millisecond), completes.Load())
	if err != nil {
		t.Errorf("a transient 500 after a slow but allowed CompleteMultipartUpload was not retried: %v", err)
	}
}

// multipartFake starts a fault-injecting S3 endpoint for multipart uploads
// and returns its URL: it answers CreateMultipartUpload, UploadPart and
// AbortMultipartUpload, and hands CompleteMultipartUpload to complete.
func multipartFake(t *testing.T, complete http.HandlerFunc) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key><UploadId>U1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPut && q.Has("partNumber"):
			w.Header().Set("ETag", `"p`+q.Get("partNumber")+`"`)
		case r.Method == http.MethodPost && q.Has("uploadId"):
			complete(w, r)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Logf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// openFakeBucket opens the bucket "bkt" of the S3 endpoint (a fake) with opts
// and test credentials, and closes it when the test ends.
func openFakeBucket(t *testing.T, endpoint string, opts *storage.Options) *storage.Bucket {
	t.Helper()
	q := url.Values{}
	q.Set("endpoint", endpoint)
	q.Set("region", "us-east-1")
	q.Set("use_path_style", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	b, err := storage.Open(t.Context(), "s3://bkt?"+q.Encode(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
