package storage

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// slowFirstPut is an S3 HTTP client whose first answer comes after 2.5 s
// and is 503 SlowDown; later ones are 200.
type slowFirstPut struct{ n int }

func (f *slowFirstPut) Do(req *http.Request) (*http.Response, error) {
	f.n++
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
	}
	if f.n == 1 {
		time.Sleep(2500 * time.Millisecond) // the part's bytes crossing a slow link, steadily
		return &http.Response{StatusCode: 503, Header: http.Header{"Content-Type": {"application/xml"}}, Request: req,
			Body: io.NopCloser(strings.NewReader(`<Error><Code>SlowDown</Code><Message>reduce</Message></Error>`))}, nil
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Etag": {`"e"`}}, Request: req, Body: http.NoBody}, nil
}

// TestSilenceRetryerAnsweredSlowTry: an UploadPart whose first try took
// 2.5 s (a large part on a slow link) and was answered 503 SlowDown is
// retried through the SDK client as openS3 builds it (silenceRetryer and
// recordOp): a slow try that got an answer is not a silent one.
func TestSilenceRetryerAnsweredSlowTry(t *testing.T) {
	fake := &slowFirstPut{}
	std := awsretry.NewStandard(func(o *awsretry.StandardOptions) { o.MaxAttempts = 8 })
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("x", "y", ""),
		HTTPClient:  fake,
		Retryer:     &silenceRetryer{Retryer: std},
		APIOptions:  []func(*middleware.Stack) error{recordOp},
	})
	_, err := c.UploadPart(t.Context(), &s3.UploadPartInput{
		Bucket: aws.String("b"), Key: aws.String("k"), UploadId: aws.String("u"), PartNumber: aws.Int32(1),
		Body: bytes.NewReader(make([]byte, 1<<20)),
	})
	t.Logf("UploadPart: %v after %d attempts", err, fake.n)
	if err != nil {
		t.Errorf("a part whose first try took 2.5 s (8 attempts) got no retry on 503 SlowDown: %v", err)
	}
}
