package redact

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ give, want string }{
		{"postgres://fs:S3CRET@db:5432/files?sslmode=disable", "postgres://fs:xxxxx@db:5432/files?sslmode=disable"},
		{"postgres://fs@db/files?sslmode=disable&password=S3CRET", "postgres://fs@db/files?password=xxxxx&sslmode=disable"},
		{"postgres://fs@db/files?PassWord=a&sslpassword=b&client_secret=c&token=d", "postgres://fs@db/files?PassWord=xxxxx&client_secret=xxxxx&sslpassword=xxxxx&token=xxxxx"},
		{"sqlite:///var/lib/filestore/filestore.db", "sqlite:///var/lib/filestore/filestore.db"},
		{"s3://bucket?region=eu-west-1&endpoint=http://127.0.0.1:7070", "s3://bucket?endpoint=http%3A%2F%2F127.0.0.1%3A7070&region=eu-west-1"},
		{"host=db user=fs password=S3CRET dbname=files", "(not a URL with a scheme; not shown)"},
		{"postgres://fs:%zz@db/files", "(not a URL with a scheme; not shown)"},
		{"s3://b?region=us-east-1&aws_secret_access_key=S3CRET", "s3://b?aws_secret_access_key=xxxxx&region=us-east-1"},
		{"s3://b?endpoint=http%3A%2F%2Fu%3AS3CRET%40127.0.0.1%3A7070&region=r", "s3://b?endpoint=http%3A%2F%2Fu%3Axxxxx%40127.0.0.1%3A7070&region=r"},
		{"s3://b?endpoint=http%3A%2F%2Fu%40127.0.0.1%3A7070", "s3://b?endpoint=http%3A%2F%2Fu%40127.0.0.1%3A7070"},
	}
	for _, tt := range tests {
		if got := URL(tt.give); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	raw := "s3://b?region=us-east-1&aws_secret_access_key=S3CRET"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	cause := fmt.Errorf("open bucket %v: unknown query parameter", u)
	got := Error(cause, raw)
	want := "open bucket s3://b?aws_secret_access_key=xxxxx&region=us-east-1: unknown query parameter"
	if got.Error() != want {
		t.Errorf("Error() = %q, want %q", got.Error(), want)
	}
	if !errors.Is(got, cause) {
		t.Error("the cause is not reachable with errors.Is")
	}
	if strings.Contains(Error(errors.New("at "+raw), raw).Error(), "S3CRET") {
		t.Error("the raw URL's secret is shown")
	}
}
