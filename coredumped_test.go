//go:build linux

package pidfd

import (
	"syscall"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// TestCoreDumpedFollowsWaitStatus checks that CoreDumped and String follow
// WCOREDUMP alone, whatever the kernel's record says (a dump started to a
// socket nobody listens on: Dumped without WCOREDUMP).
func TestCoreDumpedFollowsWaitStatus(t *testing.T) {
	leakcheck.Check(t)
	abrt := syscall.WaitStatus(int(syscall.SIGABRT))
	abrtCore := syscall.WaitStatus(int(syscall.SIGABRT) | 0x80)
	cases := []struct {
		ws   syscall.WaitStatus
		dump Coredump
		core bool
		text string
	}{
		{abrt, Coredump{Dumped: true, AsUser: true, Signal: syscall.SIGABRT}, false, "signal: aborted"},
		{abrtCore, Coredump{}, true, "signal: aborted (core dumped)"},
		{abrtCore, Coredump{Skipped: true}, true, "signal: aborted (core dumped)"},
		{abrt, Coredump{Skipped: true}, false, "signal: aborted (core dump skipped)"},
	}
	for _, c := range cases {
		s := newExitStatus(1, c.ws, nil)
		s.dump, s.dumpKnown = c.dump, true
		if s.CoreDumped() != c.core || s.String() != c.text {
			t.Errorf("ws %#x, %+v: CoreDumped %v, %q; want %v, %q", int(c.ws), c.dump, s.CoreDumped(), s.String(), c.core, c.text)
		}
	}
}
