package dedup_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/filestore-go/filestore/dedup"
)

// straceChild names the SQLite file that the copy of the test binary run
// under strace by TestSQLiteCreationIsDurable opens.
const straceChild = "FILESTORE_DEDUP_STRACE_CHILD"

// TestSQLiteCreationIsDurable: opening a SQLite catalogue in directories
// that do not exist yet creates them and the database file with their
// entries made durable: after each directory's mkdir its parent is
// fsynced, and after the file is created its directory is. Observed with
// strace(1) on a copy of this test binary. Before, the file's directory was
// synced only by SQLite (when it creates its journal), and the directories
// above it not at all: a crash soon after a first start could lose a new
// data directory, with the catalogue of the uploads it had acknowledged.
func TestSQLiteCreationIsDurable(t *testing.T) {
	if path := os.Getenv(straceChild); path != "" {
		db, err := dedup.OpenDB(context.Background(), "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("strace(1) is not installed, and CI=true: .ci/run installs it")
		}
		t.Skip("strace(1) is not installed: apt-get install strace")
	}
	root := t.TempDir()
	a := filepath.Join(root, "a")
	b := filepath.Join(a, "b")
	path := filepath.Join(b, "catalog.db")
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-y", "-qq", "-o", trace, "-e", "trace=mkdirat,openat,fsync,fdatasync",
		os.Args[0], "-test.run=^TestSQLiteCreationIsDurable$", "-test.count=1")
	cmd.Env = append(os.Environ(), straceChild+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v under strace: %v\n%s", cmd.Args, err, out)
	}
	raw, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	events := straceEvents(string(raw), root, path)
	// Each entry made, then the directory that holds it synced; the
	// database file's before SQLite first syncs its journal, after which
	// SQLite syncs that directory itself.
	journal := len(events)
	for i, e := range events {
		if strings.HasPrefix(e, "fsync "+path+"-") {
			journal = i
			break
		}
	}
	for _, step := range []struct{ made, synced string }{
		{"mkdir " + a, "fsync " + root},
		{"mkdir " + b, "fsync " + a},
		{"create " + path, "fsync " + b},
	} {
		made := slices.Index(events, step.made)
		if made < 0 || made >= journal || !slices.Contains(events[made+1:journal], step.synced) {
			t.Errorf("no %q after %q (and before SQLite syncs its journal); the calls seen:\n%s", step.synced, step.made, strings.Join(events, "\n"))
		}
	}
}

// straceEvents returns, from the output of strace -f -y, one event per
// system call of interest under root, in the order they returned:
// "mkdir DIR", "create FILE" (an openat with O_CREAT of path that made it),
// "fsync PATH". A call that another thread's interrupted is split over two
// lines, "PID name(args <unfinished ...>" and later "PID <... name
// resumed>rest", which are joined first (CI's race run once lost a mkdirat
// when they were not).
func straceEvents(raw, root, path string) []string {
	var events []string
	call := regexp.MustCompile(`^\d+\s+(\w+)\((.*)\)\s+= (-?\d+)`)
	quoted := regexp.MustCompile(`"([^"]*)"`)
	fdPath := regexp.MustCompile(`^\d+<([^>]*)>`)
	unfinished := regexp.MustCompile(`^(\d+)\s+(.*) <unfinished \.\.\.>$`)
	resumed := regexp.MustCompile(`^(\d+)\s+<\.\.\. \w+ resumed>(.*)$`)
	pending := map[string]string{} // by pid: the start of its unfinished call
	for _, line := range strings.Split(raw, "\n") {
		if u := unfinished.FindStringSubmatch(line); u != nil {
			pending[u[1]] = u[2]
			continue
		}
		if r := resumed.FindStringSubmatch(line); r != nil {
			line = r[1] + " " + pending[r[1]] + r[2]
			delete(pending, r[1])
		}
		m := call.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[3], "-") {
			continue
		}
		name, args := m[1], m[2]
		switch name {
		case "mkdirat":
			if q := quoted.FindStringSubmatch(args); q != nil && strings.HasPrefix(q[1], root) {
				events = append(events, "mkdir "+q[1])
			}
		case "openat":
			if q := quoted.FindStringSubmatch(args); q != nil && q[1] == path && strings.Contains(args, "O_CREAT") {
				events = append(events, "create "+q[1])
			}
		case "fsync", "fdatasync":
			if p := fdPath.FindStringSubmatch(args); p != nil && strings.HasPrefix(p[1], root) {
				events = append(events, "fsync "+p[1])
			}
		}
	}
	return events
}

func TestStraceEvents(t *testing.T) {
	raw := `101 mkdirat(AT_FDCWD, "/r/a", 0755) = 0
101 fsync(3</r>) = 0
102 mkdirat(AT_FDCWD, "/r/a/b", 0755 <unfinished ...>
101 fsync(4</elsewhere>) = 0
102 <... mkdirat resumed>) = 0
101 mkdirat(AT_FDCWD, "/r/a/b", 0755) = -1 EEXIST (File exists)
102 fsync(5</r/a> <unfinished ...>
101 openat(AT_FDCWD, "/r/a/b/c.db", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 6</r/a/b/c.db>
102 <... fsync resumed>) = 0
101 fdatasync(6</r/a/b/c.db>) = 0
`
	want := []string{"mkdir /r/a", "fsync /r", "mkdir /r/a/b", "create /r/a/b/c.db", "fsync /r/a", "fsync /r/a/b/c.db"}
	if diff := cmp.Diff(want, straceEvents(raw, "/r", "/r/a/b/c.db")); diff != "" {
		t.Errorf("straceEvents (-want +got):\n%s", diff)
	}
}
