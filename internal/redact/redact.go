// Package redact hides the secrets a configuration URL may carry, so that
// it can be logged or put in an error message.
package redact

import (
	"net/url"
	"strings"
)

// URL returns raw with its password hidden: the one in the user
// information ("user:xxxxx@"), the value of every query parameter whose
// name contains "password", "secret" or "token" (pgx takes
// "?password=..."; S3 URLs may carry aws_secret_access_key), and the
// password of a URL given as a parameter's value (an S3 endpoint's). A
// value that does not parse as a URL with a scheme (a keyword/value DSN
// such as "host=db password=..." among them) is not shown at all.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(not a URL with a scheme; not shown)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			name := strings.ToLower(k)
			if strings.Contains(name, "password") || strings.Contains(name, "secret") || strings.Contains(name, "token") {
				q[k] = []string{"xxxxx"}
				continue
			}
			for i, v := range vs {
				if inner, err := url.Parse(v); err == nil && inner.Scheme != "" && inner.User != nil {
					if _, ok := inner.User.Password(); ok {
						vs[i] = inner.Redacted()
					}
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Error returns err's message with every appearance of raw, and of the
// URL as net/url writes it back, replaced by URL(raw). Callers wrap a
// library's error with it when that error may quote a URL with secrets.
func Error(err error, raw string) error {
	msg := err.Error()
	safe := URL(raw)
	if u, perr := url.Parse(raw); perr == nil {
		msg = strings.ReplaceAll(msg, u.String(), safe)
	}
	msg = strings.ReplaceAll(msg, raw, safe)
	return &redacted{msg: msg, err: err}
}

// redacted is an error whose message hides what its cause quoted; the
// cause stays reachable for errors.Is and errors.As.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
