package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials and names of a private S3Server.
const (
	S3AccessKey = "faults-access"
	S3SecretKey = "faults-secret-key"
	S3Region    = "us-east-1"
	S3Bucket    = "faults"
)

// S3Server is a private versitygw (posix backend) on a free 127.0.0.1 port,
// which a test may stop and start again on the same port and directory. Its
// credentials are S3AccessKey and S3SecretKey, its bucket S3Bucket. It is
// safe for concurrent use.
type S3Server struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *process
}

// StartS3 starts versitygw (the binary at bin) serving a new directory under
// dir and creates the bucket S3Bucket. Cancelling ctx abandons the wait for
// readiness. Stop it with Close.
func StartS3(ctx context.Context, bin, dir string) (*S3Server, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("faults: versitygw: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &S3Server{bin: bin, dir: dir, port: port}
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		return nil, fmt.Errorf("faults: versitygw: %w", err)
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	_, err = s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(S3Bucket)})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("faults: versitygw: create bucket: %w", err)
	}
	return s, nil
}

// Endpoint returns the server's http:// URL.
func (s *S3Server) Endpoint() string { return "http://" + hostPort(s.port) }

// URL returns an s3:// URL of the bucket for storage.Open and filestore.Open,
// with prefix= set to prefix when it is not empty. The credentials must be
// in the environment (AWS_ACCESS_KEY_ID=S3AccessKey,
// AWS_SECRET_ACCESS_KEY=S3SecretKey).
func (s *S3Server) URL(prefix string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint())
	q.Set("region", S3Region)
	q.Set("use_path_style", "true")
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	return "s3://" + S3Bucket + "?" + q.Encode()
}

// Client returns an S3 client of the server with its credentials, making
// one attempt per request.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:           S3Region,
		Credentials:      credentials.NewStaticCredentialsProvider(S3AccessKey, S3SecretKey, ""),
		BaseEndpoint:     aws.String(s.Endpoint()),
		UsePathStyle:     true,
		RetryMaxAttempts: 1,
		// versitygw sends no response checksums; the SDK would warn on stderr.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Start starts the server (again) on its port and directory and waits until
// it answers HTTP. Starting a running server is an error.
func (s *S3Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return errors.New("faults: versitygw is already running")
	}
	env := append(os.Environ(), "ROOT_ACCESS_KEY="+S3AccessKey, "ROOT_SECRET_KEY="+S3SecretKey)
	args := []string{"--port", hostPort(s.port), "--quiet", "posix", filepath.Join(s.dir, "root")}
	p, err := startProcess("versitygw", s.bin, args, env, filepath.Join(s.dir, "versitygw.log"), -1, -1)
	if err != nil {
		return err
	}
	s.proc = p
	client := &http.Client{}
	return p.waitReady(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint()+"/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close() // any answer (403 to an unsigned request) means it serves
		return nil
	})
}

// Stop sends sig to the server (os.Kill for a crash, syscall.SIGTERM for a
// shutdown) and waits until it has exited. Stopping a stopped server does
// nothing.
func (s *S3Server) Stop(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	return s.proc.stop(sig)
}

// Freeze stops the server's process with SIGSTOP and waits until all its
// threads have stopped (Stop would wait for it to exit): the kernel still accepts
// connections on its port and takes in what is sent until the socket
// buffers are full, but nothing is answered until Thaw. Freezing a stopped
// server does nothing.
func (s *S3Server) Freeze() error { return s.signal(true) }

// Thaw resumes a server that Freeze stopped (SIGCONT). Thawing a server
// that is not frozen, or stopped, does nothing.
func (s *S3Server) Thaw() error { return s.signal(false) }

// signal sends SIGSTOP (and waits until every thread has stopped) or
// SIGCONT to the running server, if any.
func (s *S3Server) signal(stop bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return nil
	}
	if err := signalTree(s.proc.pid(), stop); err != nil {
		return fmt.Errorf("faults: signal versitygw: %w", err)
	}
	return nil
}

// Pid returns the process id of the running server, or 0.
func (s *S3Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return 0
	}
	return s.proc.pid()
}

// Close kills the server. Its directory is left to the caller.
func (s *S3Server) Close() error { return s.Stop(os.Kill) }
