//go:build linux

package pidfd

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// Tests that change the whole machine (ns_last_pid, max_user_watches) or
// need Linux 7.1+: they run in the vmtest VM only.

// TestAutoKillPIDReused gives the PID of an AutoKill child that exited
// (the kernel reaped it) to another process: PID still says the child's
// number until a wait, as documented, while nothing done through the
// PidFd or its Identity reaches the other process.
func TestAutoKillPIDReused(t *testing.T) {
	leakcheck.Check(t)
	if !inVM() {
		t.Skip("sets ns_last_pid: in the vmtest VM only")
	}
	autoKillOrSkip(t)
	p := startAutoKillExited(t)
	pid := mustPIDOf(t, p)
	id, err := p.Identity()
	if err != nil {
		t.Fatal(err)
	}
	// Give the PID to a stranger.
	var stranger *exec.Cmd
	for range 50 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			stranger = cmd
			break
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	if stranger == nil {
		t.Fatalf("could not give PID %d to another process", pid)
	}
	defer func() { stranger.Process.Kill(); stranger.Wait() }()

	if got, err := p.PID(); err != nil || got != pid {
		t.Errorf("PID of the exited AutoKill child = %d, %v; want its number, %d, until a wait", got, err, pid)
	}
	// What must never happen: reaching the stranger through the old PidFd.
	if q, err := OpenIdentity(id); err == nil {
		q.Close()
		t.Errorf("OpenIdentity of the exited AutoKill child's Identity opened PID %d, the stranger", pid)
	}
	if err := p.Signal(unix.SIGKILL, ToProcessGroup()); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal to the process group of the exited AutoKill child = %v; want os.ErrProcessDone", err)
	}
	if stranger.ProcessState != nil || unix.Kill(pid, 0) != nil {
		t.Errorf("the stranger was hurt")
	}
	status, err := p.Wait()
	if err != nil || !status.Success() || status.Pid() != pid {
		t.Errorf("Wait = %v (pid %d), %v; want exit status 0 of %d", status, status.Pid(), err, pid)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PID(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("PID after Close = %v; want os.ErrClosed", err)
	}
}

// TestOrphanEpollFull closes an unwaited StartProcess PidFd while the
// runtime poller cannot register another descriptor
// (fs.epoll.max_user_watches reached): the copy the reaper gets is off the
// poller, and it asks with pauses instead; the child is still reaped.
func TestOrphanEpollFull(t *testing.T) {
	leakcheck.Check(t)
	if !inVM() {
		t.Skip("sets fs.epoll.max_user_watches: in the vmtest VM only")
	}
	p, err := StartProcess("/bin/sleep", []string{"sleep", "3600"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := mustPIDOf(t, p)
	const knob = "/proc/sys/fs/epoll/max_user_watches"
	saved, err := os.ReadFile(knob)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knob, []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	closeErr := p.Close()
	time.Sleep(100 * time.Millisecond) // the orphan goroutine tries to park
	if err := os.WriteFile(knob, saved, 0); err != nil {
		t.Fatal(err)
	}
	if closeErr != nil {
		t.Fatal(closeErr)
	}
	if zombieAfter(t, pid, 2*time.Second) {
		t.Errorf("PID %d, closed unwaited while epoll was full, was left a zombie (reaped by the test)", pid)
	}
}
