//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// waitExitedT is WaitExited with a deadline that fails t.
func waitExitedT(t *testing.T, p *PidFd) (*ExitStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, err := p.WaitExited(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("WaitExited: the process did not exit")
	}
	return status, err
}

// startGroup starts sh -c script as the leader of a process group of its
// own; script's first output line is the PID of a member it started.
// It returns PidFds of the leader and of the member; cleanup kills the
// member and closes both.
func startGroup(t *testing.T, script string) (leader, member *PidFd) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	leader = startCmd(t, cmd)
	t.Cleanup(func() { leader.Close() })
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatal(err)
	}
	if member, err = Open(pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		member.Kill()
		member.Close()
	})
	return leader, member
}

// TestWaitExitedChild sees the exit of a child, from each constructor,
// before the reaping: the status, while /proc still shows a zombie; the
// wait after it reaps and agrees.
func TestWaitExitedChild(t *testing.T) {
	leakcheck.Check(t)
	for name, construct := range constructors {
		t.Run(name, func(t *testing.T) {
			cmd := testchild.Command(testchild.Exit, "7")
			p, err := construct(cmd)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pid := mustPIDOf(t, p) // a zombie keeps it
			status, err := waitExitedT(t, p)
			if err != nil || status.ExitCode() != 7 || status.Pid() != pid {
				t.Fatalf("WaitExited = %v (pid %d), %v; want exit status 7 of %d", status, status.Pid(), err, pid)
			}
			if state := procState(t, pid); state != "Z" {
				t.Errorf("after WaitExited /proc says %q; want the zombie, unreaped", state)
			}
			if again, err := waitExitedT(t, p); err != nil || again.ExitCode() != 7 {
				t.Errorf("WaitExited again = %v, %v; want exit status 7", again, err)
			}
			reaped, err := p.Wait()
			if err != nil || reaped.ExitCode() != 7 || reaped.Pid() != pid {
				t.Errorf("Wait after WaitExited = %v, %v; want exit status 7 of %d", reaped, err, pid)
			}
			if after, err := waitExitedT(t, p); after != reaped || err != nil {
				t.Errorf("WaitExited after Wait = %v, %v; want Wait's status", after, err)
			}
		})
	}
}

// TestWaitExitedGroup ends the leader of a process group whose other
// member lives on: between WaitExited and the reaping the group can be
// signalled through the leader's PidFd, and once the leader is reaped too:
// the kernel signals a group through the pidfd of the process that led it
// (PIDFD_SIGNAL_PROCESS_GROUP, Linux 6.9).
func TestWaitExitedGroup(t *testing.T) {
	leakcheck.Check(t)
	for _, reapFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("reaped=%v", reapFirst), func(t *testing.T) {
			if !KernelFeatures().ThreadPidFds {
				t.Skip("signals to a group through a pidfd need PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9)")
			}
			// The leader leaves a member that waits for SIGTERM, and exits.
			p, memberFd := startGroup(t, "sleep 3600 & echo $!")
			if status, err := waitExitedT(t, p); err != nil || !status.Success() {
				t.Fatalf("WaitExited = %v, %v; want exit status 0", status, err)
			}
			if reapFirst {
				if _, err := p.Wait(); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Signal(syscall.SIGTERM, ToProcessGroup()); err != nil {
				t.Fatalf("Signal(SIGTERM, ToProcessGroup()) through the exited leader: %v", err)
			}
			if status, err := waitExitedT(t, memberFd); err == nil && status != nil && status.Signal() != syscall.SIGTERM {
				t.Errorf("the member ended with %v; want SIGTERM", status)
			} else if err != nil && !errors.Is(err, ErrNoExitStatus) {
				t.Errorf("waiting for the member: %v", err)
			}
			if !reapFirst {
				if _, err := p.Wait(); err != nil {
					t.Fatal(err)
				}
			}
			// Once the member is gone, the group is empty: nothing to signal.
			eventually(t, "the member's reaping", func() bool { return !memberFd.alive() })
			if err := p.Signal(syscall.SIGTERM, ToProcessGroup()); !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("Signal to the empty group of a reaped leader = %v; want os.ErrProcessDone", err)
			}
		})
	}
}

// TestWaitExitedNotChild sees the exit of a process that its parent has
// not reaped yet: ErrNoExitStatus at once, not at the reaping; once the
// parent has reaped it, the kernel's record, as Wait gives it.
func TestWaitExitedNotChild(t *testing.T) {
	leakcheck.Check(t)
	pid, reap := startLateReaper(t)
	p, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	status, err := waitExitedT(t, p)
	if status != nil || !errors.Is(err, ErrNoExitStatus) {
		t.Errorf("WaitExited of an unreaped grandchild = %v, %v; want ErrNoExitStatus", status, err)
	}
	if state := procState(t, pid); state != "Z" {
		t.Errorf("after WaitExited /proc says %q; want the zombie its parent has not reaped", state)
	}
	reap()
	want, err := p.Wait()
	if !KernelFeatures().ExitInfo {
		if !errors.Is(err, ErrNoExitStatus) {
			t.Errorf("Wait without PIDFD_INFO_EXIT = %v, %v; want ErrNoExitStatus", want, err)
		}
		return
	}
	if err != nil || want.ExitCode() != 7 {
		t.Fatalf("Wait = %v, %v; want exit status 7", want, err)
	}
	if got, err := waitExitedT(t, p); err != nil || got.String() != want.String() || got.Pid() != pid {
		t.Errorf("WaitExited once reaped = %v, %v; want %v of %d", got, err, want, pid)
	}
}

// TestWaitExitedThread sees a thread's exit: the kernel reaps a thread as
// it exits, and its record (Linux 6.15) is the status.
func TestWaitExitedThread(t *testing.T) {
	leakcheck.Check(t)
	if !KernelFeatures().ThreadPidFds {
		t.Skip("no thread pidfds (PIDFD_THREAD, Linux 6.9)")
	}
	c := startBlocked(t, nil)
	tid := c.newThread(t)
	thread, err := OpenThread(tid)
	if err != nil {
		t.Fatal(err)
	}
	defer thread.Close()
	c.say(t, "end", false)
	status, err := waitExitedT(t, thread)
	switch {
	case !KernelFeatures().ExitInfo:
		if !errors.Is(err, ErrNoExitStatus) {
			t.Errorf("WaitExited of a thread without PIDFD_INFO_EXIT = %v, %v; want ErrNoExitStatus", status, err)
		}
	case err != nil || !status.Success() || status.Pid() != tid:
		t.Errorf("WaitExited of a thread = %v (pid %d), %v; want exit status 0 of %d", status, status.Pid(), err, tid)
	}
	c.in.Close()
	if s, err := c.p.Wait(); err != nil || !s.Success() {
		t.Errorf("the process: %v, %v", s, err)
	}
}

// TestWaitExitedCancelAndClose ends a WaitExited by its context and by
// Close while the process runs.
func TestWaitExitedCancelAndClose(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if status, err := p.WaitExited(ctx); status != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitExited of a running child = %v, %v; want context.DeadlineExceeded", status, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.WaitExited(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.Kill()
	if err := <-done; err != nil {
		t.Errorf("WaitExited after Kill: %v", err)
	}
	q, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := q.WaitExited(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	q.Close()
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Errorf("WaitExited ended by Close: %v; want os.ErrClosed", err)
	}
}
