package dedup

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"

	"github.com/uptrace/bun"
)

// ListQuery selects a page of one owner's files.
type ListQuery struct {
	// Folder, and with Recursive its whole subtree ("" is the root).
	Folder    string
	Recursive bool
	// Query keeps names containing it under simple case folding.
	Query string
	// Trash lists only trashed files instead of only live ones.
	Trash bool
	// Limit is the page size; below 1, List fails with ErrBadLimit.
	Limit int
	// Cursor is a previous page's next cursor, or "".
	Cursor string
}

// cursor is the keyset position after which a page starts.
type cursor struct {
	Folder string `json:"f"`
	Name   string `json:"n"`
	ID     string `json:"i"`
	// Of names the listing the cursor continues (listingOf); cursors of
	// earlier builds have none, and any listing takes them.
	Of string `json:"q,omitempty"`
}

func encodeCursor(f *File, q ListQuery) string {
	b, _ := json.Marshal(cursor{Folder: f.Folder, Name: f.Name, ID: f.ID, Of: listingOf(q)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// listingOf is a short name of the listing q asks for, its page size and
// cursor aside: a cursor of one listing given to another would continue it
// from a position in a different order of files.
func listingOf(q ListQuery) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%q %t %q %t", q.Folder, q.Recursive, Fold(q.Query), q.Trash)
	return strconv.FormatUint(h.Sum64(), 36)
}

func decodeCursor(s string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 4096 {
		return nil, ErrBadCursor
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.ID == "" {
		return nil, ErrBadCursor
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrBadCursor // something after the cursor's object
	}
	// No stored folder, name or id has a NUL (which SQL cannot quote);
	// JSON's decoder has already made the text valid UTF-8.
	if strings.ContainsRune(c.Folder+c.Name+c.ID, 0) {
		return nil, ErrBadCursor
	}
	return &c, nil
}

// List returns one page of owner's files ordered by folder, name and id
// (bytewise), and the cursor of the next page ("" on the last page). The
// order is a keyset: files inserted before the cursor's position are never
// shown later, and a file that keeps its folder and name is shown once; one
// renamed or moved past the cursor during the listing is shown again at its
// new place. ErrBadCursor for a cursor this package did not make,
// ErrBadLimit for a q.Limit below 1 (there is no default page size here).
func (c *Catalog) List(ctx context.Context, owner string, q ListQuery) ([]*File, string, error) {
	if q.Limit < 1 {
		return nil, "", fmt.Errorf("%w: %d", ErrBadLimit, q.Limit)
	}
	var after *cursor
	if q.Cursor != "" {
		var err error
		if after, err = decodeCursor(q.Cursor); err != nil {
			return nil, "", err
		}
		if after.Of != "" && after.Of != listingOf(q) {
			return nil, "", fmt.Errorf("%w: it continues another listing (folder, recursive, query or trash differ)", ErrBadCursor)
		}
	}
	var files []*File
	err := c.do(ctx, func(ctx context.Context) error {
		files = nil
		sel := fileQuery(c.db, &files).Where("f.owner = ?", owner)
		if q.Trash {
			sel = sel.Where("f.deleted_at IS NOT NULL")
		} else {
			sel = sel.Where("f.deleted_at IS NULL")
		}
		switch {
		case !q.Recursive:
			sel = sel.Where("f.folder = ?", q.Folder)
		case q.Folder != "":
			// The subtree: the folder itself and every folder under
			// "folder/", which bytewise lie in ["folder/", "folder0").
			sel = sel.WhereGroup(" AND ", func(s *bun.SelectQuery) *bun.SelectQuery {
				return s.Where("f.folder = ?", q.Folder).
					WhereOr("(f.folder >= ? AND f.folder < ?)", q.Folder+"/", q.Folder+"0")
			})
		}
		if q.Query != "" {
			if c.pg {
				sel = sel.Where("strpos(f.name_fold, ?) > 0", Fold(q.Query))
			} else {
				sel = sel.Where("instr(f.name_fold, ?) > 0", Fold(q.Query))
			}
		}
		if after != nil {
			sel = sel.Where("(f.folder, f.name, f.id) > (?, ?, ?)", after.Folder, after.Name, after.ID)
		}
		return sel.OrderExpr("f.folder ASC, f.name ASC, f.id ASC").Limit(int64(q.Limit) + 1).Scan(ctx)
	})
	if err != nil {
		return nil, "", fmt.Errorf("dedup: list: %w", err)
	}
	next := ""
	if len(files) > q.Limit {
		files = files[:q.Limit]
		next = encodeCursor(files[len(files)-1], q)
	}
	return files, next, nil
}
