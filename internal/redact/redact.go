// Package redact hides the secrets a configuration URL may carry, so that
// it can be logged or put in an error message.
package redact

import (
	"net/url"
	"strings"
)

// URL returns raw with its password hidden: the one in the user
// information ("user:xxxxx@"), and the value of every query parameter whose
// name contains "password", "secret" or "token" (pgx takes
// "?password=..."). A value that does not parse as a URL with a scheme (a
// keyword/value DSN such as "host=db password=..." among them) is not
// shown at all.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(not a URL with a scheme; not shown)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			name := strings.ToLower(k)
			if strings.Contains(name, "password") || strings.Contains(name, "secret") || strings.Contains(name, "token") {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
