//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// TestTerminate stops children that end on SIGTERM, ignore it, are
// stopped, or have ended already: each within the grace (plus a second
// for the kill), with the status that says how.
func TestTerminate(t *testing.T) {
	leakcheck.Check(t)
	const grace = 300 * time.Millisecond
	cases := []struct {
		name   string
		script string
		stop   bool // SIGSTOP it first
		exited bool // let it end first
		want   string
		killed bool // needs the whole grace
	}{
		{"ends on TERM", "echo ready; exec sleep 3600", false, false, "signal: terminated", false},
		{"exits on TERM", "trap 'exit 3' TERM; echo ready; while :; do sleep 0.01; done", false, false, "exit status 3", false},
		{"ignores TERM", "trap '' TERM; echo ready; while :; do sleep 0.01; done", false, false, "signal: killed", true},
		{"stopped", "echo ready; exec sleep 3600", true, false, "signal: terminated", false},
		{"ended already", "echo ready; exit 5", false, true, "exit status 5", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			p := startCmd(t, cmd)
			defer p.Close()
			var ready string
			fmt.Fscan(out, &ready) // the traps are set
			if tc.stop {
				if err := p.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				eventually(t, "the stop", func() bool { return procState(t, cmd.Process.Pid) == "T" })
			}
			if tc.exited {
				waitReadable(t, p)
			}
			began := time.Now()
			status, err := p.Terminate(context.Background(), grace)
			took := time.Since(began)
			if err != nil || status.String() != tc.want {
				t.Errorf("Terminate = %v, %v; want %s", status, err, tc.want)
			}
			if took > grace+endSlack() || tc.killed && took < grace {
				t.Errorf("Terminate took %v; want %v%s", took, grace, map[bool]string{true: " and up to a second more", false: " at most, and a second more"}[tc.killed])
			}
			if again, err := p.Wait(); again != status || err != nil {
				t.Errorf("Wait after Terminate = %v, %v; want Terminate's status", again, err)
			}
		})
	}
}

// TestTerminateGroup stops a process group: a leader that waits for its
// member on SIGTERM, and a member that ends on it or ignores it. The grace
// lasts for the member, which is then killed, with the leader, through the
// group's ID, held by the leader's PidFd.
func TestTerminateGroup(t *testing.T) {
	leakcheck.Check(t)
	if !KernelFeatures().ThreadPidFds {
		t.Skip("signals to a group through a pidfd need PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9)")
	}
	grace := 300 * time.Millisecond
	for _, memberEnds := range []bool{true, false} {
		t.Run(fmt.Sprintf("member ends on TERM=%v", memberEnds), func(t *testing.T) {
			trap := "trap '' TERM"
			want := "signal: killed" // the leader, waiting for its member
			grace := grace
			if memberEnds {
				grace = 3 * time.Second // ample, so that using it all is a failure
				trap = "trap 'sleep 0.1; exit 0' TERM"
				want = "exit status 0"
			}
			member := "sh -c \"" + trap + "; echo \\$\\$; while :; do sleep 0.01; done\""
			p, memberFd := startGroup(t, member+" & trap 'wait; exit 0' TERM; wait")
			began := time.Now()
			status, err := p.Terminate(context.Background(), grace, ToProcessGroup())
			took := time.Since(began)
			if err != nil || status.String() != want {
				t.Errorf("Terminate = %v, %v; want the leader's %s", status, err, want)
			}
			// Exited; an orphan now, its reaper may take a while.
			if _, err := waitExitedT(t, memberFd); err != nil && !errors.Is(err, ErrNoExitStatus) {
				t.Errorf("the member after Terminate: %v", err)
			}
			switch {
			case took > grace+endSlack():
				t.Errorf("Terminate took %v; want at most %v and a second", took, grace)
			case !memberEnds && took < grace:
				t.Errorf("Terminate took %v; want the whole grace, %v, for a member that ignores SIGTERM", took, grace)
			case memberEnds && took >= grace:
				t.Errorf("Terminate took %v; want less than the grace, %v, for a member that ends", took, grace)
			}
		})
	}
}

// TestTerminateCancelled ends Terminate by its context: SIGKILL at once.
func TestTerminateCancelled(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.01; done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startCmd(t, cmd)
	defer p.Close()
	var ready string
	fmt.Fscan(out, &ready)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	status, err := p.Terminate(ctx, time.Hour)
	if status != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Terminate with a context that ends = %v, %v; want context.DeadlineExceeded", status, err)
	}
	if status, err := p.Wait(); err != nil || status.Signal() != syscall.SIGKILL {
		t.Errorf("Wait after the cancelled Terminate = %v, %v; want signal: killed", status, err)
	}
}
