package faults_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/filestore-go/filestore/internal/faults"
	"github.com/jackc/pgx/v5"
)

// An object written before versitygw is killed is there after it restarts
// on the same port and directory; while it is down, requests are refused.
func TestS3ServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private versitygw; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := faults.NewS3Server(t)
	c := srv.Client()
	put := func(key, body string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(faults.S3Bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body))})
		return err
	}
	if err := put("before", "kept"); err != nil {
		t.Fatal(err)
	}
	pid := srv.Pid()
	if err := srv.Stop(os.Kill); err != nil {
		t.Fatal(err)
	}
	if err := put("during", "x"); err == nil {
		t.Fatal("PutObject succeeded while versitygw was killed")
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if srv.Pid() == pid || srv.Pid() == 0 {
		t.Errorf("pid after restart %d, before %d: want a new process", srv.Pid(), pid)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(faults.S3Bucket), Key: aws.String("before")})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(body) != "kept" {
		t.Fatalf("object after restart: %q, %v; want \"kept\"", body, err)
	}
	if err := srv.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// A row committed before an immediate shutdown (SIGQUIT: no checkpoint) is
// there after crash recovery; while the cluster is down, connections are
// refused.
func TestPostgresServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private PostgreSQL; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := faults.NewPostgresServer(t)
	conn, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE t (v int); INSERT INTO t VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(true); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT 1`); err == nil {
		t.Fatal("a query succeeded on a connection to a stopped cluster")
	}
	conn.Close(ctx)
	if _, err := pgx.Connect(ctx, srv.URL()); err == nil {
		t.Fatal("connected to a stopped cluster")
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM t`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("row after crash recovery: %d, %v; want 42", v, err)
	}
}
