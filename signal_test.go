//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestSignal(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)
	if err := p.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("Signal(0) to a live child: %v", err)
	}
	for _, bad := range []os.Signal{nil, syscall.Signal(-1), syscall.Signal(1000)} {
		err := p.Signal(bad)
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Signal(%v) = %v; want EINVAL", bad, err)
		}
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	status, err := p.Wait()
	if err != nil || !status.Signaled() || status.Signal() != syscall.SIGTERM {
		t.Errorf("Wait after SIGTERM = %v, %v; want signal: terminated", status, err)
	}
	if err := p.Kill(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Kill after Wait = %v; want os.ErrProcessDone", err)
	}
}

func TestSignalOutOfRange(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)
	// The kernel takes an int: a larger number must not be cut to its low bits.
	wide := int64(1)<<32 | int64(syscall.SIGKILL)
	if int64(int(wide)) != wide {
		t.Skip("syscall.Signal is 32 bits here: no signal number can be out of the kernel's range")
	}
	if err := p.Signal(syscall.Signal(wide)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Signal(1<<32 | SIGKILL) = %v; want EINVAL", err)
	}
	if err := p.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the child died of a signal number out of range: %v", err)
	}
}

// TestSignalScopes signals a process group through its leader: the leader
// and its member die.
func TestSignalScopes(t *testing.T) {
	leakcheck.Check(t)
	// sh leads a process group of its own and has a child in it.
	cmd := exec.Command("sh", "-c", "sleep 3600 & echo $!; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	leader := startCmd(t, cmd)
	var member int
	if _, err := fmt.Fscan(out, &member); err != nil {
		t.Fatal(err)
	}
	memberFd, err := Open(member) // sh's child, alive until signalled
	if err != nil {
		t.Fatal(err)
	}
	defer memberFd.Close()

	err = leader.Signal(syscall.SIGKILL, ToProcessGroup())
	if !KernelFeatures().ThreadPidFds {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Signal(ToProcessGroup) before 6.9 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no PIDFD_SIGNAL_* scope flags (Linux 6.9) on this kernel (checked that it says so)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if status, err := leader.Wait(); err != nil || status.Signal() != syscall.SIGKILL {
		t.Errorf("group leader: %v, %v; want signal: killed", status, err)
	}
	// The member is not our child: its pidfd polls readable once it has
	// died (whoever reaps it, and whenever).
	waitReadable(t, memberFd)
	if err := leader.Signal(syscall.SIGTERM, SignalOption{scope: 8}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Signal with an unknown scope = %v; want EINVAL", err)
	}
}

// TestSignalAllocs checks that a plain signal allocates nothing, as a
// hot path must not: the call is made through the PidFd's own slot.
func TestSignalAllocs(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)
	for _, sig := range []syscall.Signal{0, syscall.SIGCONT} {
		allocs := testing.AllocsPerRun(100, func() {
			if err := p.Signal(sig); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Signal(%v) allocates %v times per call; want 0", sig, allocs)
		}
	}
}

// TestEmulated510 runs KillAndRelease and its example as on Linux 5.10,
// which has no process_mrelease.
func TestEmulated510(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "5.10", "^(TestNoProcessMrelease|TestKillAndRelease|ExamplePidFd_KillAndRelease)$", "TestNoProcessMrelease")
}

// TestNoProcessMrelease checks, under the 5.10 profile, that the kernel
// refuses process_mrelease there.
func TestNoProcessMrelease(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "5.10" {
		t.Skip("runs only inside TestEmulated510")
	}
	_, p := startChild(t, testchild.Sleep)
	err := p.withFd(func(fd int) error {
		_, _, errno := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(fd), 0, 0)
		return errno
	})
	if err != unix.ENOSYS {
		t.Errorf("process_mrelease under the filter = %v; want ENOSYS", err)
	}
}

func TestKillAndRelease(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)
	if err := p.KillAndRelease(); err != nil {
		t.Fatalf("KillAndRelease: %v", err)
	}
	if status, err := p.Wait(); err != nil || status.Signal() != syscall.SIGKILL {
		t.Errorf("after KillAndRelease: %v, %v; want signal: killed", status, err)
	}
	if err := p.KillAndRelease(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("KillAndRelease after reaping = %v; want os.ErrProcessDone", err)
	}
}

// TestSignalProcessGroup checks that ToProcessGroup reaches the process
// group that the process is in, and only while it leads it: the kernel
// signals the group whose ID is the pidfd's PID, in it or not.
func TestSignalProcessGroup(t *testing.T) {
	leakcheck.Check(t)
	leader := startBlocked(t, &syscall.SysProcAttr{Setpgid: true})
	member := startBlocked(t, &syscall.SysProcAttr{Setpgid: true, Pgid: leader.pid})
	// mover leads a group, with left in it, and then moves into leader's.
	mover := startBlocked(t, &syscall.SysProcAttr{Setpgid: true})
	left := startBlocked(t, &syscall.SysProcAttr{Setpgid: true, Pgid: mover.pid})
	if got := mover.say(t, "setpgid "+strconv.Itoa(leader.pid), true); got != strconv.Itoa(leader.pid) {
		t.Fatalf("mover's group after setpgid: %s; want %d", got, leader.pid)
	}
	children := map[string]*blockedChild{"leader": leader, "member": member, "mover": mover, "left": left}
	wantGroup := map[string]int{"leader": leader.pid, "member": leader.pid, "mover": leader.pid, "left": mover.pid}
	for name, c := range children {
		if pgid, err := unix.Getpgid(c.pid); err != nil || pgid != wantGroup[name] {
			t.Fatalf("%s is in group %d (%v); want %d", name, pgid, err, wantGroup[name])
		}
	}
	// pending lists the children that have a SIGUSR1 pending.
	pending := func() []string {
		var names []string
		for name, c := range children {
			if _, onProcess := pendingUSR1(t, c.pid, c.pid); onProcess {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}

	// Neither a member nor a former leader leads its group: refused, on
	// every kernel, with nothing sent to any group.
	for _, name := range []string{"member", "mover"} {
		p := children[name].p
		err := p.Signal(syscall.SIGUSR1, ToProcessGroup())
		if !errors.Is(err, ErrNotGroupLeader) || errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Signal(ToProcessGroup) on the %s = %v; want ErrNotGroupLeader", name, err)
		}
		err = p.Signal(syscall.SIGUSR1, WithValue(1), ToProcessGroup())
		if !errors.Is(err, ErrNotGroupLeader) || errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Signal(WithValue, ToProcessGroup) on the %s = %v; want ErrNotGroupLeader", name, err)
		}
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("SIGUSR1 pending on %v after refused group signals; want none", got)
	}

	err := leader.p.Signal(syscall.SIGUSR1, ToProcessGroup())
	if !KernelFeatures().ThreadPidFds {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Signal(ToProcessGroup) before 6.9 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no PIDFD_SIGNAL_* scope flags (Linux 6.9) on this kernel (checked that it says so, and refuses non-leaders)")
	}
	if err != nil {
		t.Fatalf("Signal(ToProcessGroup) on the leader: %v", err)
	}
	if got, want := pending(), []string{"leader", "member", "mover"}; !slices.Equal(got, want) {
		t.Errorf("SIGUSR1 pending on %v after the leader's group signal; want %v", got, want)
	}

	// A reaped leader is in no group, but its pidfd still names the group
	// it led, which lives on with its members.
	member.sigwait(t)
	leader.p.Kill()
	if _, err := leader.p.Wait(); err != nil {
		t.Fatal(err)
	}
	delete(children, "leader")
	if err := leader.p.Signal(syscall.SIGUSR1, ToProcessGroup()); err != nil {
		t.Errorf("Signal(ToProcessGroup) on the reaped leader = %v; want the group signalled", err)
	}
	if got, want := pending(), []string{"member", "mover"}; !slices.Equal(got, want) {
		t.Errorf("SIGUSR1 pending on %v after a group signal by the reaped leader; want %v", got, want)
	}
}

func TestSignalWithValue(t *testing.T) {
	leakcheck.Check(t)
	c := startBlocked(t, nil)
	const value = 0x1234_5678
	if err := c.p.Signal(syscall.SIGUSR1, WithValue(value)); err != nil {
		t.Fatal(err)
	}
	got := c.sigwait(t)
	want := queuedSignal{uint32(syscall.SIGUSR1), siQueue, uint32(os.Getpid()), uint32(os.Getuid()), value, value}
	if got != want {
		t.Errorf("child got %+v; want %+v", got, want)
	}

	if err := c.p.Signal(syscall.Signal(0), WithValue(1)); err != nil {
		t.Errorf("Signal 0 with a value to a live process = %v", err)
	}
	err := c.p.Signal(syscall.SIGUSR1, WithValue(1), ToThread())
	if !KernelFeatures().ThreadPidFds {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Signal with a value and a scope before 6.9 = %v; want errors.ErrUnsupported", err)
		}
	} else if onThread, onProcess := pendingUSR1(t, c.pid, c.pid); err != nil || !onThread || onProcess {
		t.Errorf("Signal(WithValue, ToThread) = %v: pending on thread %v, process %v; want thread only", err, onThread, onProcess)
	}
	if err := c.p.Signal(syscall.SIGUSR1, WithValue(1), SignalOption{scope: 8}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Signal with a value and an unknown scope = %v; want EINVAL", err)
	}
	c.in.Close()
	if status, err := c.p.Wait(); err != nil || !status.Success() {
		t.Fatalf("child: %v, %v", status, err)
	}
	if err := c.p.Signal(syscall.SIGUSR1, WithValue(1)); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal with a value after reaping = %v; want os.ErrProcessDone", err)
	}
}

// TestSignalWithValueAcrossPIDNamespace sends to a child in a PID namespace
// of its own, which cannot see the sender: the kernel reports si_pid 0.
func TestSignalWithValueAcrossPIDNamespace(t *testing.T) {
	leakcheck.Check(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a PID namespace")
	}
	c := startBlocked(t, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID})
	if err := c.p.Signal(syscall.SIGUSR1, WithValue(7)); err != nil {
		t.Fatal(err)
	}
	got := c.sigwait(t)
	if got.signo != uint32(syscall.SIGUSR1) || got.code != siQueue || got.pid != 0 || got.sivalInt != 7 {
		t.Errorf("child got %+v; want signo %d, code %d, pid 0, value 7", got, syscall.SIGUSR1, siQueue)
	}
	c.in.Close()
	if status, err := c.p.Wait(); err != nil || !status.Success() {
		t.Fatalf("child: %v, %v", status, err)
	}
}
