package apicheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A package with one declaration of each kind the writer handles, and a
// function only darwin has.
const sample = `package p

import (
	"context"
	"io"
	"os"
	"time"
)

const (
	Untyped     = 1 << 3
	Name        = "p"
	Grace Level = iota + 1
	Hard
)

const unexportedConst = 0

type Level int

func (l Level) String() string { return "" }

var (
	ErrX    error
	Timeout = 5 * time.Second
)

func Open(pid int, flags ...uint) (*File, error) { return nil, nil }

func Map[K comparable, V any](m map[K]V, f func(key K) bool) []V { return nil }

func Walk(fn func(dir *os.Root, depth int) (stop bool, err error)) {}

func Chans(a chan<- int, b <-chan []byte, c chan (<-chan int)) {}

type File struct {
	inner
	io.Reader
	Name  string
	Tags  map[string][2]int ` + "`json:\"tags\"`" + `
	hidden int
}

type inner struct {
	Promoted bool
	Name     int // hidden by File.Name
	secret   int
}

func (inner) Method() {}

func (f *File) Close() error { return nil }

func (f *File) wait(ctx context.Context) {}

type Waiter interface {
	io.Closer
	Wait(context.Context) (int, error)
	private()
}

type Number interface{ ~int | ~float64 }

type Alias = File

type Func func(n int) error
`

const sampleDarwin = `package p

func OnlyOnDarwin() {}
`

var sampleFeatures = []string{
	"pkg p, const Grace = 3", // iota counts the group's lines
	"pkg p, const Grace Level",
	"pkg p, const Hard = 4",
	"pkg p, const Hard Level",
	"pkg p, const Name = \"p\"",
	"pkg p, const Name untyped string",
	"pkg p, const Untyped = 8",
	"pkg p, const Untyped untyped int",
	"pkg p, func Chans(chan<- int, <-chan []byte, chan (<-chan int))",
	"pkg p, func Map[K comparable, V any](map[K]V, func(K) bool) []V",
	"pkg p, func Open(int, ...uint) (*File, error)",
	"pkg p, func Walk(func(*os.Root, int) (bool, error))",
	"pkg p, method (*File) Close() error",
	"pkg p, method (File) Method()",
	"pkg p, method (File) Read([]byte) (int, error)",
	"pkg p, method (Level) String() string",
	"pkg p, type Alias = File",
	"pkg p, type File struct",
	"pkg p, type File struct, Name string",
	"pkg p, type File struct, Promoted bool",
	"pkg p, type File struct, Tags map[string][2]int",
	"pkg p, type File struct, embedded io.Reader",
	"pkg p, type Func func(int) error",
	"pkg p, type Level int",
	"pkg p, type Number interface {}",
	"pkg p, type Number interface{~int | ~float64}",
	"pkg p, type Waiter interface { Close, Wait, unexported methods }",
	"pkg p, type Waiter interface, Close() error",
	"pkg p, type Waiter interface, Wait(context.Context) (int, error)",
	"pkg p, var ErrX error",
	"pkg p, var Timeout time.Duration",
}

// sampleModule writes the sample package as a module of its own.
func sampleModule(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command to compile a package with: %v", err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":      "module example.com/p\n\ngo 1.26\n",
		"p.go":        sample,
		"p_darwin.go": sampleDarwin,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFeatures(t *testing.T) {
	dir := sampleModule(t)
	got, err := Features(dir, "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	missing, added := Compare(sampleFeatures, got)
	for _, f := range missing {
		t.Errorf("missing: %s", f)
	}
	for _, f := range added {
		t.Errorf("unexpected: %s", f)
	}
	if !slices.IsSorted(got) {
		t.Errorf("features not sorted:\n%s", strings.Join(got, "\n"))
	}

	// The same package as darwin builds it has the darwin file too.
	darwin, err := Features(dir, "darwin", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	missing, added = Compare(got, darwin)
	if len(missing) != 0 || !slices.Equal(added, []string{"pkg p, func OnlyOnDarwin()"}) {
		t.Errorf("darwin against linux: missing %q, added %q; want only OnlyOnDarwin added", missing, added)
	}
}

func TestFeaturesBrokenPackage(t *testing.T) {
	dir := sampleModule(t)
	if err := os.WriteFile(filepath.Join(dir, "broken.go"), []byte("package p\n\nfunc Broken() int { return \"\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := Features(dir, "linux", "amd64"); err == nil {
		t.Fatalf("Features of a package that does not compile = %d features, no error", len(f))
	}
}

func TestCompare(t *testing.T) {
	listed := []string{"pkg p, func A()", "pkg p, func B(int)", "pkg p, var C int"}
	present := []string{"pkg p, var C int", "pkg p, func B(int64)", "pkg p, func A()", "pkg p, func D()"}
	missing, added := Compare(listed, present)
	if !slices.Equal(missing, []string{"pkg p, func B(int)"}) {
		t.Errorf("missing = %q; want the changed signature's old line", missing)
	}
	if !slices.Equal(added, []string{"pkg p, func B(int64)", "pkg p, func D()"}) {
		t.Errorf("added = %q; want the new signature and D", added)
	}
}

func TestAppend(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v1.txt")
	header := "# The v1 API.\n# Two lines of header.\n"
	if err := os.WriteFile(file, []byte(header+"pkg p, func A()\npkg p, func C()\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A new feature goes in, in order; the header stays.
	added, err := Append(file, []string{"pkg p, func A()", "pkg p, func B()", "pkg p, func C()"})
	if err != nil || !slices.Equal(added, []string{"pkg p, func B()"}) {
		t.Fatalf("Append = %q, %v; want B added", added, err)
	}
	want := header + "pkg p, func A()\npkg p, func B()\npkg p, func C()\n"
	if got, _ := os.ReadFile(file); string(got) != want {
		t.Fatalf("after adding B the file is\n%s\nwant\n%s", got, want)
	}

	// A feature gone stays listed, and Append says so, while it still
	// adds what is new.
	added, err = Append(file, []string{"pkg p, func A()", "pkg p, func C()", "pkg p, func D()"})
	if err == nil || !strings.Contains(err.Error(), "pkg p, func B()") {
		t.Errorf("Append with B gone: error %v; want one naming B", err)
	}
	if !slices.Equal(added, []string{"pkg p, func D()"}) {
		t.Errorf("Append with B gone added %q; want D", added)
	}
	want = header + "pkg p, func A()\npkg p, func B()\npkg p, func C()\npkg p, func D()\n"
	if got, _ := os.ReadFile(file); string(got) != want {
		t.Errorf("after B went the file is\n%s\nwant\n%s", got, want)
	}
	if listed, err := Read(file); err != nil || len(listed) != 4 {
		t.Errorf("Read = %q, %v; want the 4 features without the header", listed, err)
	}

	// Nothing new: the file is not rewritten.
	before, _ := os.Stat(file)
	if added, err := Append(file, []string{"pkg p, func A()", "pkg p, func B()", "pkg p, func C()", "pkg p, func D()"}); err != nil || len(added) != 0 {
		t.Errorf("Append of what is listed = %q, %v", added, err)
	}
	if after, _ := os.Stat(file); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the file was rewritten with nothing to add")
	}

	// A file that does not exist yet is created.
	fresh := filepath.Join(t.TempDir(), "new.txt")
	if added, err := Append(fresh, []string{"pkg p, func A()"}); err != nil || len(added) != 1 {
		t.Errorf("Append to a new file = %q, %v", added, err)
	}
}
