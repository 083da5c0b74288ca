package filestoretest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/filestore-go/filestore"
)

// modelFile is what the model knows of one file.
type modelFile struct {
	owner, folder, name string
	content             int // index in model.contents
	trashed             bool
}

// model is a Store's expected state: RunModel applies each operation to
// the Store and to the model, and checks that the Store answers as the
// model says it must.
type model struct {
	t        *testing.T
	st       filestore.Store
	seed     uint64
	alone    bool // no other sequence runs on st meanwhile
	noMax    bool // ModelOptions.NoMaxSize
	r        *rand.Rand
	contents [][]byte
	sums     []string
	owners   []string
	folders  []string
	names    []string
	files    map[string]*modelFile // by id; purged files are gone
	ids      []string              // every id the Store returned, purged ones too
	log      []string              // the operations so far, for a failure's report
}

// modelContents returns the contents the model stores: empty, small
// (stored inline by default), over the inline maximum, and three of the
// same size of at least CompareMin, which Put compares with the stored
// content of that size when the upload declares its size: the same
// prefix, differing in the last byte, and differing at a chunk boundary.
func modelContents() [][]byte {
	big := Content(7, filestore.CompareMin+12345)
	lastDiffers := bytes.Clone(big)
	lastDiffers[len(lastDiffers)-1] ^= 0xff
	middleDiffers := bytes.Clone(big)
	middleDiffers[128<<10] ^= 0x01
	return [][]byte{
		{}, Content(1, 1), Content(2, 100), Content(3, 4096), Content(4, 70000),
		big, lastDiffers, middleDiffers,
	}
}

// ModelOptions configure RunModel; the zero value runs one sequence of
// 300 operations drawn from seed 0.
type ModelOptions struct {
	// Seed draws the operations: the same seed, the same operations.
	Seed uint64
	// Ops is the number of operations of each sequence; 0 means 300.
	Ops int
	// Workers is how many sequences run at once, each on two owners of
	// its own, all with the same contents, so that they share objects
	// and race for them; 0 or 1 runs one. They run as parallel subtests,
	// so at most go test's -parallel of them (GOMAXPROCS by default) at
	// the same moment. With more than one, Stats is
	// checked when all have ended rather than after every operation, and
	// what Collect removes is not checked.
	Workers int
	// NoMaxSize leaves PutOptions.MaxSize unset, for a Store that cannot
	// take it (one that is a client of the REST API, where the server's
	// maximum applies to every upload).
	NoMaxSize bool
}

// RunModel applies random operations to st, a fresh and empty Store,
// checking each answer against a model of what the Store must hold: Put
// (with and without Overwrite, a digest or a declared size, right or
// wrong, a size limit met or not), Get (the whole content, then a seek
// back and a range of it), Stat, Update, Delete, Restore,
// Purge, List (a folder or a subtree, live or trashed, with a name query)
// page by page, and Collect, over two owners whose paths and contents
// overlap. After every operation Stats must match the model (files,
// owners, bytes, and one object per distinct content referenced); at the
// end every file is read back and listed. A failure names the seed and
// the operations that led to it.
func RunModel(t *testing.T, st filestore.Store, opts ModelOptions) {
	t.Helper()
	ops := cmp.Or(opts.Ops, 300)
	models := make([]*model, max(opts.Workers, 1))
	if len(models) == 1 {
		models[0] = newModel(t, st, opts.Seed, "", true)
		models[0].noMax = opts.NoMaxSize
		models[0].run(ops)
	} else {
		// The group returns once its parallel subtests have all ended.
		t.Run("workers", func(t *testing.T) {
			for w := range models {
				t.Run(strconv.Itoa(w), func(t *testing.T) {
					t.Parallel()
					m := newModel(t, st, opts.Seed+uint64(w)*1_000_003, strconv.Itoa(w), false)
					m.noMax = opts.NoMaxSize
					models[w] = m
					m.run(ops)
				})
			}
		})
	}
	if !t.Failed() {
		checkStats(t, st, models, "the last operation")
	}
}

// newModel returns the model of an empty Store for the sequence drawn
// from seed, on owners with suffix. alone says whether no other sequence
// runs on st meanwhile.
func newModel(t *testing.T, st filestore.Store, seed uint64, suffix string, alone bool) *model {
	m := &model{
		t: t, st: st, seed: seed, alone: alone, r: rand.New(rand.NewPCG(seed, seed^0x5deece66d)),
		contents: modelContents(), files: map[string]*modelFile{},
		// Few owners, folders and names, so that paths collide; names
		// that differ only in case are distinct paths (names compare
		// bytewise), and one folder is in another.
		owners:  []string{"alice" + suffix, "bob" + suffix},
		folders: []string{"", "docs", "docs/old", "pics"},
		names:   []string{"a", "A", "b", "report", "z"},
	}
	for _, c := range m.contents {
		s := sha256.Sum256(c)
		m.sums = append(m.sums, hex.EncodeToString(s[:]))
	}
	return m
}

// run applies ops operations to the Store and the model, then reads
// everything back.
func (m *model) run(ops int) {
	m.t.Helper()
	defer func() {
		if m.t.Failed() {
			m.t.Logf("model seed %d; the operations, last one last:\n%s", m.seed, strings.Join(m.log, "\n"))
		}
	}()
	for i := range ops {
		switch n := m.r.IntN(100); {
		case n < 30:
			m.put()
		case n < 42:
			m.get()
		case n < 48:
			m.stat()
		case n < 60:
			m.update()
		case n < 72:
			m.delete()
		case n < 80:
			m.restore()
		case n < 87:
			m.purge()
		case n < 97:
			m.list()
		default:
			m.collect()
		}
		if m.t.Failed() {
			m.t.Fatalf("operation %d of seed %d failed", i+1, m.seed)
		}
		if m.alone {
			checkStats(m.t, m.st, []*model{m}, m.log[len(m.log)-1])
		}
	}
	m.checkAll()
}

// logf records an operation.
func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// liveAt returns the id of owner's live file at folder/name, or "".
func (m *model) liveAt(owner, folder, name string) string {
	for id, f := range m.files {
		if !f.trashed && f.owner == owner && f.folder == folder && f.name == name {
			return id
		}
	}
	return ""
}

// target picks an id and an owner to ask for it: usually a file's own
// owner, sometimes the other one, sometimes an id purged or never made.
func (m *model) target() (owner, id string) {
	switch n := m.r.IntN(20); {
	case n == 0 || len(m.ids) == 0:
		return pick(m.r, m.owners), fmt.Sprintf("%032x", m.r.Uint64())
	case n == 1:
		return pick(m.r, m.owners), pick(m.r, m.ids)
	}
	id = pick(m.r, m.ids)
	f := m.files[id]
	if f == nil {
		return pick(m.r, m.owners), id
	}
	owner = f.owner
	if m.r.IntN(8) == 0 {
		owner = m.owners[(slices.Index(m.owners, f.owner)+1)%len(m.owners)]
	}
	return owner, id
}

// operation picks a target (see target) for the operation op, records
// the call, and returns it with its text.
func (m *model) operation(op string) (owner, id, what string) {
	owner, id = m.target()
	what = fmt.Sprintf("%s(%s, %s)", op, owner, id)
	m.logf("%s", what)
	return owner, id, what
}

// visible returns the file owner may see as id (live or trashed), or nil.
func (m *model) visible(owner, id string) *modelFile {
	if f := m.files[id]; f != nil && f.owner == owner {
		return f
	}
	return nil
}

// checkFile compares a File the Store returned with the model's.
func (m *model) checkFile(what string, got *filestore.File, id string, want *modelFile) {
	m.t.Helper()
	if got == nil {
		m.t.Errorf("%s: nil File", what)
		return
	}
	if got.ID != id || got.Folder != want.folder || got.Name != want.name ||
		got.Size != int64(len(m.contents[want.content])) || got.SHA256 != m.sums[want.content] ||
		(got.DeletedAt != nil) != want.trashed {
		m.t.Errorf("%s: got id %s %q/%q size %d sha256 %.12s trashed %v; want id %s %q/%q size %d sha256 %.12s trashed %v",
			what, got.ID, got.Folder, got.Name, got.Size, got.SHA256, got.DeletedAt != nil,
			id, want.folder, want.name, len(m.contents[want.content]), m.sums[want.content], want.trashed)
	}
}

// wantIs fails unless errors.Is(err, want); want nil means no error.
func (m *model) wantIs(what string, err, want error) bool {
	m.t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		m.t.Errorf("%s: error %v, want %v", what, err, want)
		return false
	}
	return true
}

func (m *model) put() {
	ctx := context.Background()
	owner, folder, name := pick(m.r, m.owners), pick(m.r, m.folders), pick(m.r, m.names)
	c := m.r.IntN(len(m.contents))
	opts := &filestore.PutOptions{Overwrite: m.r.IntN(4) == 0}
	var want error // of the content itself, whatever the path
	switch m.r.IntN(10) {
	case 0:
		opts.SHA256 = m.sums[c]
	case 1:
		opts.SHA256 = strings.ToUpper(m.sums[c])
	case 2:
		opts.SHA256 = m.sums[(c+1)%len(m.sums)]
		want = filestore.ErrDigestMismatch
	case 3, 4:
		opts.Size = int64(len(m.contents[c]))
	case 5:
		opts.Size = int64(len(m.contents[c])) + 1 // a hint, never trusted
	case 6:
		if !m.noMax {
			opts.MaxSize = int64(len(m.contents[c])) // the limit is inclusive
		}
	case 7:
		if n := len(m.contents[c]); n > 1 && !m.noMax { // a MaxSize of 0 sets no limit
			opts.MaxSize = int64(n - 1)
			opts.Size = int64(n * (m.r.IntN(2))) // declared or not
			want = filestore.ErrTooLarge
		}
	}
	what := fmt.Sprintf("Put(%s, %q, %q, content %d, %+v)", owner, folder, name, c, *opts)
	m.logf("%s", what)
	got, err := m.st.Put(ctx, owner, folder, name, bytes.NewReader(m.contents[c]), opts)
	live := m.liveAt(owner, folder, name)
	switch {
	case want != nil && live != "" && !opts.Overwrite:
		// Both are wrong; which one is found first is not said.
		if !errors.Is(err, want) && !errors.Is(err, filestore.ErrConflict) {
			m.t.Errorf("%s: error %v, want %v or a conflict", what, err, want)
		}
		return
	case want != nil:
		m.wantIs(what, err, want)
		return
	case live != "" && !opts.Overwrite:
		m.wantIs(what, err, filestore.ErrConflict)
		return
	}
	if !m.wantIs(what, err, nil) {
		return
	}
	if m.files[got.ID] != nil || slices.Contains(m.ids, got.ID) {
		m.t.Errorf("%s: id %s was given before", what, got.ID)
		return
	}
	if live != "" {
		m.files[live].trashed = true
	}
	f := &modelFile{owner: owner, folder: folder, name: name, content: c}
	m.checkFile(what, got, got.ID, f)
	m.files[got.ID] = f
	m.ids = append(m.ids, got.ID)
}

func (m *model) get() {
	owner, id, what := m.operation("Get")
	got, rd, err := m.st.Get(context.Background(), owner, id)
	f := m.visible(owner, id)
	if f == nil || f.trashed {
		m.wantIs(what, err, filestore.ErrNotFound)
		if rd != nil {
			rd.Close()
		}
		return
	}
	if !m.wantIs(what, err, nil) {
		return
	}
	defer rd.Close()
	m.checkFile(what, got, id, f)
	b, err := io.ReadAll(rd)
	want := m.contents[f.content]
	if err != nil || !bytes.Equal(b, want) {
		m.t.Errorf("%s: read %d bytes, %v; want content %d (%d bytes)", what, len(b), err, f.content, len(want))
		return
	}
	if len(want) == 0 {
		return
	}
	// Then a range, as http.ServeContent reads one: a seek back and a
	// read, placed by the id (the sequence's random draws stay as they
	// were).
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64()
	off := int64(x % uint64(len(want)))
	n := 1 + int64((x>>32)%uint64(int64(len(want))-off))
	p := make([]byte, n)
	if _, err := rd.Seek(off, io.SeekStart); err != nil {
		m.t.Errorf("%s: Seek(%d): %v", what, off, err)
		return
	}
	if k, err := io.ReadFull(rd, p); err != nil || !bytes.Equal(p, want[off:off+n]) {
		m.t.Errorf("%s: bytes %d-%d: read %d, %v; want content %d's", what, off, off+n-1, k, err, f.content)
	}
}

func (m *model) stat() {
	owner, id, what := m.operation("Stat")
	got, err := m.st.Stat(context.Background(), owner, id)
	f := m.visible(owner, id)
	if f == nil {
		m.wantIs(what, err, filestore.ErrNotFound)
		return
	}
	if m.wantIs(what, err, nil) {
		m.checkFile(what, got, id, f)
	}
}

func (m *model) update() {
	owner, id := m.target()
	var u filestore.Update
	if m.r.IntN(2) == 0 {
		u.Name = new(pick(m.r, m.names))
	}
	if u.Name == nil || m.r.IntN(2) == 0 {
		u.Folder = new(pick(m.r, m.folders))
	}
	what := fmt.Sprintf("Update(%s, %s, name %s, folder %s)", owner, id, deref(u.Name), deref(u.Folder))
	m.logf("%s", what)
	got, err := m.st.Update(context.Background(), owner, id, u)
	f := m.visible(owner, id)
	if f == nil || f.trashed {
		m.wantIs(what, err, filestore.ErrNotFound)
		return
	}
	folder, name := f.folder, f.name
	if u.Folder != nil {
		folder = *u.Folder
	}
	if u.Name != nil {
		name = *u.Name
	}
	if other := m.liveAt(owner, folder, name); other != "" && other != id {
		m.wantIs(what, err, filestore.ErrConflict)
		return
	}
	if m.wantIs(what, err, nil) {
		f.folder, f.name = folder, name
		m.checkFile(what, got, id, f)
	}
}

// deref returns *p quoted, or "-" for nil.
func deref(p *string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%q", *p)
}

func (m *model) delete() {
	owner, id, what := m.operation("Delete")
	err := m.st.Delete(context.Background(), owner, id)
	f := m.visible(owner, id)
	if f == nil {
		m.wantIs(what, err, filestore.ErrNotFound)
		return
	}
	if m.wantIs(what, err, nil) {
		f.trashed = true
	}
}

func (m *model) restore() {
	owner, id, what := m.operation("Restore")
	got, err := m.st.Restore(context.Background(), owner, id)
	f := m.visible(owner, id)
	switch {
	case f == nil:
		m.wantIs(what, err, filestore.ErrNotFound)
		return
	case f.trashed && m.liveAt(owner, f.folder, f.name) != "":
		m.wantIs(what, err, filestore.ErrConflict)
		return
	}
	if m.wantIs(what, err, nil) {
		f.trashed = false
		m.checkFile(what, got, id, f)
	}
}

func (m *model) purge() {
	owner, id, what := m.operation("Purge")
	err := m.st.Purge(context.Background(), owner, id)
	if m.visible(owner, id) == nil {
		m.wantIs(what, err, filestore.ErrNotFound)
		return
	}
	if m.wantIs(what, err, nil) {
		delete(m.files, id)
	}
}

func (m *model) list() {
	owner := pick(m.r, m.owners)
	opts := filestore.ListOptions{
		Folder: pick(m.r, m.folders), Recursive: m.r.IntN(3) == 0, Trash: m.r.IntN(4) == 0,
		Limit: 1 + m.r.IntN(4),
	}
	if m.r.IntN(4) == 0 {
		opts.Query = pick(m.r, []string{"a", "R", "po", "x"})
	}
	m.logf("List(%s, %+v)", owner, opts)
	m.checkList(owner, opts)
}

// checkList lists owner's files as opts says, page by page, and compares
// them, in order, with the model's.
func (m *model) checkList(owner string, opts filestore.ListOptions) {
	m.t.Helper()
	type entry struct{ folder, name, id string }
	var want []entry
	for id, f := range m.files {
		in := f.folder == opts.Folder ||
			opts.Recursive && (opts.Folder == "" || strings.HasPrefix(f.folder, opts.Folder+"/"))
		// The names are ASCII: their case folding is ToLower's.
		match := strings.Contains(strings.ToLower(f.name), strings.ToLower(opts.Query))
		if f.owner == owner && f.trashed == opts.Trash && in && match {
			want = append(want, entry{f.folder, f.name, id})
		}
	}
	slices.SortFunc(want, func(a, b entry) int {
		return cmp.Or(strings.Compare(a.folder, b.folder), strings.Compare(a.name, b.name), strings.Compare(a.id, b.id))
	})
	var got []entry
	for _, f := range listAll(m.t, m.st, owner, opts) {
		got = append(got, entry{f.Folder, f.Name, f.ID})
		if mf := m.files[f.ID]; mf != nil {
			m.checkFile(fmt.Sprintf("List(%s, %+v)", owner, opts), f, f.ID, mf)
		}
	}
	if !slices.Equal(got, want) {
		m.t.Errorf("List(%s, %+v):\n got %v\nwant %v", owner, opts, got, want)
	}
}

func (m *model) collect() {
	m.logf("Collect(nil)")
	res, err := m.st.Collect(context.Background(), nil)
	if !m.wantIs("Collect", err, nil) {
		return
	}
	// Nothing is past the default retention, and each purge removed
	// the bytes it dropped the last reference to, unless another
	// sequence's upload of the content raced with it.
	if m.alone && *res != (filestore.CollectResult{}) {
		m.t.Errorf("Collect: %+v, want nothing removed", *res)
	}
}

// checkStats compares the Store's totals with those of models, after
// the operation after: every file row, live or trashed, and one object
// per distinct content they reference.
func checkStats(t *testing.T, st filestore.Store, models []*model, after string) {
	t.Helper()
	var want filestore.Stats
	owners, contents := map[string]bool{}, map[int]bool{}
	for _, m := range models {
		for _, f := range m.files {
			want.Files++
			want.LogicalBytes += int64(len(m.contents[f.content]))
			owners[f.owner] = true
			if !contents[f.content] {
				contents[f.content] = true
				want.Objects++
				want.StoredBytes += int64(len(m.contents[f.content]))
			}
		}
	}
	want.Owners = int64(len(owners))
	if got := stats(t, st); got != want {
		t.Fatalf("after %s: Stats %+v, want %+v", after, got, want)
	}
}

// checkAll reads every file back, and lists every folder of each owner,
// live and trashed.
func (m *model) checkAll() {
	m.t.Helper()
	ids := make([]string, 0, len(m.files))
	for id := range m.files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := m.files[id]
		got, err := m.st.Stat(context.Background(), f.owner, id)
		if m.wantIs("final Stat "+id, err, nil) {
			m.checkFile("final Stat "+id, got, id, f)
		}
		if !f.trashed {
			if b := readAll(m.t, m.st, f.owner, id); !bytes.Equal(b, m.contents[f.content]) {
				m.t.Errorf("final Get %s: %d bytes, want content %d", id, len(b), f.content)
			}
		}
	}
	for _, owner := range m.owners {
		for _, trash := range []bool{false, true} {
			m.checkList(owner, filestore.ListOptions{Recursive: true, Trash: trash, Limit: 1000})
		}
	}
}
