package storage

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// Upload memory of one S3 writer: the transfer manager holds up to
// concurrency+1 parts of partSize bytes (20 MiB with these values), and
// reads the first part into a buffer of its own that grows as it reads:
// 26-30.5 MiB of peak heap per writer above one part, measured, whatever the
// object's size (s3WriterMemory reserves six parts).
const (
	s3PartSize    = 5 << 20 // S3's minimum part size
	s3Concurrency = 3
	// s3FailTimeout bounds the AbortMultipartUpload sent when an upload
	// fails or is cancelled (it runs on a fresh context).
	s3FailTimeout = 30 * time.Second
)

// s3MaxParts is the most parts an S3 multipart upload may have.
const s3MaxParts = 10000

// partSizeFor returns the part size of S3 writers that must store objects
// of up to maxObject bytes: s3PartSize, or the smallest whole MiB above it
// that takes maxObject in s3MaxParts parts.
func partSizeFor(maxObject int64) int {
	need := (maxObject + s3MaxParts - 1) / s3MaxParts
	if need <= s3PartSize {
		return s3PartSize
	}
	return int((need + 1<<20 - 1) / (1 << 20) * (1 << 20))
}

// s3Bucket holds what an s3:// bucket needs beyond gocloud's s3blob.
type s3Bucket struct {
	client      *s3.Client
	writes      *s3.Client // client with the retries of Options.Retry, for writers
	name        string     // the S3 bucket
	prefix      string     // the prefix= parameter, prepended to every key
	partSize    int
	concurrency int
	memory      *writeMemory // the writers' budget (Options.WriteMemory)
}

// oneAttempt makes a request a single SDK attempt. gocloud configures the
// SDK's standard retryer (3 attempts with backoff up to 20 s); the operations
// that Bucket retries itself use oneAttempt so that Options.Retry alone
// bounds them. Uploads keep the SDK's retries: they retry each part, which a
// Writer cannot; their client (s3Bucket.writes) has Options.Retry's tries
// and longest delay.
func oneAttempt(o *s3.Options) { o.RetryMaxAttempts = 1 }

// oneAttemptHook is a BeforeRead or BeforeList hook applying oneAttempt.
func oneAttemptHook(as func(any) bool) error {
	var optFns *[]func(*s3.Options)
	if as(&optFns) {
		*optFns = append(*optFns, oneAttempt)
	}
	return nil
}

// delete deletes key with one DeleteObject request (s3blob's Delete sends a
// HEAD first to report missing keys, which Bucket.Delete ignores anyway).
// A key that is not there is success, as on the other backends: S3
// answers the DeleteObject of a missing key 204, but an S3-compatible
// server may answer 404 NoSuchKey, as versitygw does to one of two
// DeleteObjects of one key at once (about 1 pair in 100), which a Purge
// and a concurrent Collect send when both dispose of the same object. A
// missing bucket (NoSuchBucket, also a 404) is still an error.
func (s *s3Bucket) delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.name),
		Key:    aws.String(s.prefix + key),
	}, oneAttempt)
	if isNoSuchKey(err) {
		return nil
	}
	return err
}

// configure is the BeforeWrite hook of S3 writers. s3blob builds its transfer
// manager with the part size and concurrency it was given, but leaves the
// multipart threshold at 16 MiB (the first 16 MiB are then read into one
// growing buffer) and aborts failed multipart uploads with the caller's,
// possibly cancelled, context. It exposes the *transfermanager.Client, whose
// options are private, so the client is replaced by one built from the same
// S3 client with the threshold at one part and a fresh-context abort.
func (s *s3Bucket) configure(as func(any) bool) error {
	var tm *transfermanager.Client
	if !as(&tm) || tm == nil {
		return nil
	}
	*tm = *transfermanager.New(s.writes, func(o *transfermanager.Options) {
		o.RequestChecksumCalculation = s.writes.Options().RequestChecksumCalculation
		o.PartSizeBytes = int64(s.partSize)
		o.Concurrency = s.concurrency
		o.MultipartUploadThreshold = int64(s.partSize)
		o.FailTimeout = s3FailTimeout
	})
	return nil
}

// readerHook returns the BeforeRead hook of an S3 reader whose object has
// *size bytes (negative until the first open returns). The first open, which
// Bucket retries, is a single SDK attempt (see oneAttempt). Then blob.Reader
// reopens the object at
// the new offset on the first Read after a Seek; at exactly the end, S3
// answers "bytes=SIZE-" with 416 InvalidRange, which Read would return as an
// error instead of io.EOF. For that one request the hook answers, without
// contacting S3, an empty body that still reports the object's size.
func readerHook(size *int64) func(as func(any) bool) error {
	return func(as func(any) bool) error {
		if *size < 0 {
			return oneAttemptHook(as)
		}
		var in *s3.GetObjectInput
		if !as(&in) || aws.ToString(in.Range) != fmt.Sprintf("bytes=%d-", *size) {
			return nil
		}
		var optFns *[]func(*s3.Options)
		if !as(&optFns) {
			return nil
		}
		n := *size
		*optFns = append(*optFns, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
				return st.Initialize.Add(middleware.InitializeMiddlewareFunc("filestoreEndOfObject",
					func(context.Context, middleware.InitializeInput, middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
						out := &s3.GetObjectOutput{
							Body:          http.NoBody,
							ContentLength: aws.Int64(0),
							ContentRange:  aws.String(fmt.Sprintf("bytes */%d", n)),
						}
						return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
					}), middleware.Before)
			})
		})
		return nil
	}
}
