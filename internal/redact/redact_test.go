package redact

import "testing"

func TestURL(t *testing.T) {
	tests := []struct{ give, want string }{
		{"postgres://fs:S3CRET@db:5432/files?sslmode=disable", "postgres://fs:xxxxx@db:5432/files?sslmode=disable"},
		{"postgres://fs@db/files?sslmode=disable&password=S3CRET", "postgres://fs@db/files?password=xxxxx&sslmode=disable"},
		{"postgres://fs@db/files?PassWord=a&sslpassword=b&client_secret=c&token=d", "postgres://fs@db/files?PassWord=xxxxx&client_secret=xxxxx&sslpassword=xxxxx&token=xxxxx"},
		{"sqlite:///var/lib/filestore/filestore.db", "sqlite:///var/lib/filestore/filestore.db"},
		{"s3://bucket?region=eu-west-1&endpoint=http://127.0.0.1:7070", "s3://bucket?endpoint=http%3A%2F%2F127.0.0.1%3A7070&region=eu-west-1"},
		{"host=db user=fs password=S3CRET dbname=files", "(not a URL with a scheme; not shown)"},
		{"postgres://fs:%zz@db/files", "(not a URL with a scheme; not shown)"},
	}
	for _, tt := range tests {
		if got := URL(tt.give); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
