package dedup

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// fixedPragmas are the pragmas a sqlite:// URL may not set: filestore
// depends on their values (WAL with several connections, cascading
// deletes, writes).
var fixedPragmas = []string{"journal_mode", "foreign_keys", "query_only", "locking_mode"}

// sqlitePragmas parses the parameters of a sqlite:// URL: only _pragma
// is taken, each value one pragma as modernc.org/sqlite runs it
// ("PRAGMA " + value), such as synchronous(NORMAL) or cache_size(-65536).
// It returns the values and their names (lower case). Any other
// parameter, a value that is not one statement, and a pragma of
// fixedPragmas are refused with an error wrapping ErrInvalidURL; that the
// name is one SQLite knows, and the value one it takes, checkPragmas
// tells.
func sqlitePragmas(query string) (values, names []string, _ error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: sqlite parameters: %w", ErrInvalidURL, err)
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		if key != "_pragma" {
			return nil, nil, fmt.Errorf("%w: sqlite:// takes only _pragma parameters, not %q", ErrInvalidURL, key)
		}
	}
	for _, v := range q["_pragma"] {
		name := pragmaName(v)
		switch {
		case name == "":
			return nil, nil, fmt.Errorf("%w: sqlite _pragma %q names no pragma", ErrInvalidURL, v)
		case strings.ContainsAny(v, ";"):
			return nil, nil, fmt.Errorf("%w: sqlite _pragma %q is more than one statement", ErrInvalidURL, v)
		case slices.Contains(fixedPragmas, name):
			return nil, nil, fmt.Errorf("%w: sqlite _pragma %q: filestore sets %s itself", ErrInvalidURL, v, name)
		}
		values = append(values, v)
		names = append(names, name)
	}
	return values, names, nil
}

// pragmaName is the lower-case name of the pragma a _pragma value runs:
// what comes before '(', '=' or a space.
func pragmaName(value string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(value), "(")
	name, _, _ = strings.Cut(name, "=")
	name, _, _ = strings.Cut(name, " ")
	return strings.ToLower(strings.TrimSpace(name))
}

// checkPragmas runs each pragma of a sqlite:// URL on a private
// in-memory database, which no file backs: SQLite ignores a pragma it
// does not know, so each name must be one of its pragma_list, and a
// value it refuses fails here rather than after OpenDB has created the
// catalogue's file. The error wraps ErrInvalidURL, or is ctx's.
func checkPragmas(ctx context.Context, values, names []string) error {
	if len(values) == 0 {
		return nil
	}
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return fmt.Errorf("dedup: sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "SELECT name FROM pragma_pragma_list")
	if err != nil {
		return fmt.Errorf("dedup: sqlite pragma list: %w", err)
	}
	var known []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return fmt.Errorf("dedup: sqlite pragma list: %w", err)
		}
		known = append(known, name)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dedup: sqlite pragma list: %w", err)
	}
	for i, v := range values {
		if !slices.Contains(known, names[i]) {
			return fmt.Errorf("%w: sqlite _pragma %q: SQLite has no pragma %q", ErrInvalidURL, v, names[i])
		}
		if _, err := db.ExecContext(ctx, "PRAGMA "+v); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: sqlite _pragma %q: %w", ErrInvalidURL, v, err)
		}
	}
	return nil
}
