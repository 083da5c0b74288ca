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

// sqlitePragma is one _pragma parameter of a sqlite:// URL.
type sqlitePragma struct {
	name  string // lower case
	value string // as modernc.org/sqlite runs it: "PRAGMA " + value
}

// parseSQLiteURL splits what follows "sqlite://" into the path and the
// _pragma parameters, such as synchronous(NORMAL) or cache_size(-65536),
// and checks them without touching the path. Refused, with an error
// wrapping ErrInvalidURL: an empty path, any other parameter, a value
// that is not one statement or names no pragma, a pragma of
// fixedPragmas, and, found by running each on a private in-memory
// database, a pragma SQLite does not know (it would ignore it) or a
// value it refuses. The error is ctx's if ctx ends first.
func parseSQLiteURL(ctx context.Context, rest string) (path string, pragmas []sqlitePragma, _ error) {
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return "", nil, fmt.Errorf("%w: sqlite:// needs a path", ErrInvalidURL)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("%w: sqlite parameters: %w", ErrInvalidURL, err)
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		if key != "_pragma" {
			return "", nil, fmt.Errorf("%w: sqlite:// takes only _pragma parameters, not %q", ErrInvalidURL, key)
		}
	}
	for _, v := range q["_pragma"] {
		name := pragmaName(v)
		switch {
		case name == "":
			return "", nil, fmt.Errorf("%w: sqlite _pragma %q names no pragma", ErrInvalidURL, v)
		case strings.Contains(v, ";"):
			return "", nil, fmt.Errorf("%w: sqlite _pragma %q is more than one statement", ErrInvalidURL, v)
		case slices.Contains(fixedPragmas, name):
			return "", nil, fmt.Errorf("%w: sqlite _pragma %q: filestore sets %s itself", ErrInvalidURL, v, name)
		}
		pragmas = append(pragmas, sqlitePragma{name: name, value: v})
	}
	if err := tryPragmas(ctx, pragmas); err != nil {
		return "", nil, err
	}
	return path, pragmas, nil
}

// pragmaName is the lower-case name of the pragma a _pragma value runs:
// what comes before '(', '=' or a space.
func pragmaName(value string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(value), "(")
	name, _, _ = strings.Cut(name, "=")
	name, _, _ = strings.Cut(name, " ")
	return strings.ToLower(strings.TrimSpace(name))
}

// tryPragmas runs each pragma on a private in-memory database, which no
// file backs: SQLite ignores a pragma it does not know, so each name must
// be in its pragma_list, and a value it refuses fails here rather than
// after OpenDB has created the catalogue's file. The error wraps
// ErrInvalidURL, or is ctx's.
func tryPragmas(ctx context.Context, pragmas []sqlitePragma) error {
	if len(pragmas) == 0 {
		return nil
	}
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return fmt.Errorf("dedup: sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, p := range pragmas {
		var known bool
		if err := db.QueryRowContext(ctx, "SELECT count(*) > 0 FROM pragma_pragma_list WHERE name = ?", p.name).Scan(&known); err != nil {
			return fmt.Errorf("dedup: sqlite pragma list: %w", err)
		}
		if !known {
			return fmt.Errorf("%w: sqlite _pragma %q: SQLite has no pragma %q", ErrInvalidURL, p.value, p.name)
		}
		if _, err := db.ExecContext(ctx, "PRAGMA "+p.value); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: sqlite _pragma %q: %w", ErrInvalidURL, p.value, err)
		}
	}
	return nil
}
