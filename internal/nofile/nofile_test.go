//go:build linux

// An external test package: the package under test must keep importing
// nothing.
package nofile_test

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/nofile"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

const reportRole = "report-nofile"

func TestMain(m *testing.M) {
	testchild.RunIfChild(map[string]func([]string) int{reportRole: report})
	os.Exit(leakcheck.Run(m, nil))
}

// report prints what nofile read at start-up and the limits now.
func report([]string) int {
	start, ok := nofile.Start()
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ok, start.Cur, start.Max, now.Cur, now.Max)
	return 0
}

// TestStart starts a Go program with a soft limit of 256: Go raises it for
// itself, and nofile must have read 256 before it did.
func TestStart(t *testing.T) {
	leakcheck.Check(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 512 {
		t.Skipf("hard RLIMIT_NOFILE %d: too low to start a child with a soft limit of 256 that Go raises", lim.Max)
	}
	// Lowered with prlimit, not syscall.Setrlimit: after that Go would no
	// longer give its children the limit it started with.
	low := unix.Rlimit{Cur: 256, Max: lim.Max}
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	out, err := testchild.Command(reportRole).Output()
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var ok bool
	var start, now nofile.Limit
	if _, err := fmt.Sscan(string(out), &ok, &start.Cur, &start.Max, &now.Cur, &now.Max); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	if !ok || start != (nofile.Limit{Cur: 256, Max: lim.Max}) {
		t.Errorf("nofile read %d/%d, %v in a child started with 256/%d; want 256/%[4]d", start.Cur, start.Max, ok, lim.Max)
	}
	t.Logf("the child runs with %d/%d", now.Cur, now.Max)
}
