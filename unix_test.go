//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// acceptChild starts a child that connects to a fresh unix socket (and
// writes what it is told to say) and returns the server's end of the
// connection and the child's PidFd. prepare, if not nil, runs on the
// listener first.
func acceptChild(t *testing.T, prepare func(*net.UnixListener) error, say ...string) (*net.UnixConn, *PidFd) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sock")
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	if prepare != nil {
		if err := prepare(listener); err != nil {
			t.Fatal(err)
		}
	}
	_, child := startChild(t, testchild.Connect, append([]string{path}, say...)...)
	conn, err := listener.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, child
}

func TestFromUnixConn(t *testing.T) {
	leakcheck.Check(t)
	conn, child := acceptChild(t, nil)
	peer, err := FromUnixConn(conn)
	if !KernelFeatures().PeerPidFd {
		if !errors.Is(err, errors.ErrUnsupported) {
			peer.Close()
			t.Fatalf("FromUnixConn without SO_PEERPIDFD = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no SO_PEERPIDFD on this kernel (checked that it says so)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if !peer.Equal(child) {
		t.Error("the peer's PidFd names another process than the child that connected")
	}
	// The peer exits and is reaped: the socket still knows exactly who it
	// was, and says it is gone instead of opening whoever has its PID now.
	child.Kill()
	if _, err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := peer.Signal(nil); err == nil {
		t.Error("Signal(nil) succeeded")
	}
	if _, err := peer.PID(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("PID of the reaped peer = %v; want os.ErrProcessDone", err)
	}
	if again, err := FromUnixConn(conn); !errors.Is(err, os.ErrProcessDone) {
		again.Close()
		t.Errorf("FromUnixConn after the peer was reaped = %v; want os.ErrProcessDone", err)
	}
}

func TestFromUnixConnByPID(t *testing.T) {
	leakcheck.Check(t)
	conn, child := acceptChild(t, nil)
	peer, err := FromUnixConnByPID(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if !peer.Equal(child) {
		t.Error("the peer's PidFd names another process than the child that connected")
	}
	if p, err := FromUnixConn(nil); p != nil || !errors.Is(err, os.ErrInvalid) {
		t.Errorf("FromUnixConn(nil) = %v, %v; want os.ErrInvalid", p, err)
	}
}

func TestSignalScoped(t *testing.T) {
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

	err = leader.SignalScoped(syscall.SIGKILL, ScopeProcessGroup)
	if !KernelFeatures().ThreadPidFds {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("SignalScoped before 6.9 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no signal scopes on this kernel (checked that it says so)")
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
	if err := leader.SignalScoped(syscall.SIGTERM, 8); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SignalScoped with an unknown scope = %v; want EINVAL", err)
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
	err := p.controlFunc(func(fd int) error {
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

// TestSignalProcessGroup checks that ScopeProcessGroup reaches the process
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
		err := p.SignalScoped(syscall.SIGUSR1, ScopeProcessGroup)
		if !errors.Is(err, ErrNotGroupLeader) || errors.Is(err, os.ErrProcessDone) {
			t.Errorf("SignalScoped(ScopeProcessGroup) on the %s = %v; want ErrNotGroupLeader", name, err)
		}
		err = p.SignalWithValue(syscall.SIGUSR1, 1, ScopeProcessGroup)
		if !errors.Is(err, ErrNotGroupLeader) || errors.Is(err, os.ErrProcessDone) {
			t.Errorf("SignalWithValue(ScopeProcessGroup) on the %s = %v; want ErrNotGroupLeader", name, err)
		}
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("SIGUSR1 pending on %v after refused group signals; want none", got)
	}

	err := leader.p.SignalScoped(syscall.SIGUSR1, ScopeProcessGroup)
	if !KernelFeatures().ThreadPidFds {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("SignalScoped(ScopeProcessGroup) before 6.9 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no signal scopes on this kernel (checked that it says so, and refuses non-leaders)")
	}
	if err != nil {
		t.Fatalf("SignalScoped(ScopeProcessGroup) on the leader: %v", err)
	}
	if got, want := pending(), []string{"leader", "member", "mover"}; !slices.Equal(got, want) {
		t.Errorf("SIGUSR1 pending on %v after the leader's group signal; want %v", got, want)
	}

	// A reaped leader is in no group, though its group lives on.
	member.sigwait(t)
	leader.p.Kill()
	if _, err := leader.p.Wait(); err != nil {
		t.Fatal(err)
	}
	delete(children, "leader")
	err = leader.p.SignalScoped(syscall.SIGUSR1, ScopeProcessGroup)
	if !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SignalScoped(ScopeProcessGroup) on the reaped leader = %v; want os.ErrProcessDone", err)
	}
	if got, want := pending(), []string{"mover"}; !slices.Equal(got, want) {
		t.Errorf("SIGUSR1 pending on %v after a group signal by the reaped leader; want %v", got, want)
	}
}
