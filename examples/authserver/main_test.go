//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if how := os.Getenv(clientEnv); how != "" {
		os.Exit(client(how, os.Args[1])) // the test binary plays the clients
	}
	// Race-enabled clients otherwise sleep a second before exiting.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(leakcheck.Run(m, nil))
}

// TestServe runs the demonstration against real client processes and
// checks each verdict.
func TestServe(t *testing.T) {
	leakcheck.Check(t)
	var out strings.Builder
	if err := serve(&out); err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	want := []string{
		fmt.Sprintf("serving user %d in this cgroup", os.Geteuid()),
		`a client of ours: accepted (it said "hello")`,
		"a client that exits before it is checked: refused: it has exited",
		"a client running as another user: refused: user 65534 is not allowed",
	}
	if os.Geteuid() != 0 {
		want[3] = "a client running as another user: not shown (only root can start one)"
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("serve said:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
