//go:build linux

package pidfd

import (
	"errors"
	"maps"
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

// TestWaitStatus compares every ExitStatus with the os.ProcessState that
// exec.Cmd.Wait gives for the same kind of child.
func TestWaitStatus(t *testing.T) {
	leakcheck.Check(t)
	cases := []struct {
		role string
		arg  string
		kill bool
	}{
		{testchild.Exit, "0", false},
		{testchild.Exit, "1", false},
		{testchild.Exit, "3", false},
		{testchild.Exit, "255", false},
		{testchild.Die, strconv.Itoa(int(syscall.SIGTERM)), false},
		{testchild.Die, strconv.Itoa(int(syscall.SIGHUP)), false},
		{testchild.Sleep, "", true},
	}
	for _, tc := range cases {
		want := testchild.Command(tc.role, tc.arg)
		if err := want.Start(); err != nil {
			t.Fatal(err)
		}
		if tc.kill {
			want.Process.Kill()
		}
		want.Wait()
		for name, construct := range constructors {
			t.Run(name+"/"+want.ProcessState.String(), func(t *testing.T) {
				cmd := testchild.Command(tc.role, tc.arg)
				p, err := construct(cmd)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				pid, err := p.PID()
				if err != nil {
					t.Fatal(err)
				}
				if tc.kill {
					p.Kill()
				}
				got, err := p.Wait()
				if err != nil {
					t.Fatal(err)
				}
				ws := want.ProcessState
				if got.String() != ws.String() || got.ExitCode() != ws.ExitCode() ||
					got.Success() != ws.Success() || got.Exited() != ws.Exited() ||
					got.Sys().(syscall.WaitStatus) != ws.Sys().(syscall.WaitStatus) {
					t.Errorf("ExitStatus %q code %d success %v exited %v sys %#x; os.ProcessState %q code %d success %v exited %v sys %#x",
						got, got.ExitCode(), got.Success(), got.Exited(), got.Sys(),
						ws, ws.ExitCode(), ws.Success(), ws.Exited(), ws.Sys())
				}
				if got.Pid() != pid {
					t.Errorf("Pid = %d; want %d", got.Pid(), pid)
				}
				if ru, ok := got.SysUsage().(*syscall.Rusage); !ok || ru == nil || ru.Maxrss == 0 {
					t.Errorf("SysUsage = %#v; want the child's rusage", got.SysUsage())
				}
				if got.UserTime()+got.SystemTime() <= 0 {
					t.Errorf("CPU time = %v; a Go child uses some", got.UserTime()+got.SystemTime())
				}
				if name == "Start" && cmd.ProcessState == nil {
					t.Errorf("os/exec bookkeeping not done: cmd.ProcessState is nil")
				}
			})
		}
	}
}

// TestExitStatusUnknowns checks that a status tells what it does not know.
// A child reaped by Wait has its rusage, and a child that burned CPU shows
// it. The same process seen by Wait through PidFds made by NewFile of
// dups of the pidfd, once another has reaped it, has only the kernel's
// record (Linux 6.15+): no usage, which SysUsage says by nil, and the PID
// only where the PidFd learned it before the reaping (-1 otherwise).
func TestExitStatusUnknowns(t *testing.T) {
	leakcheck.Check(t)
	for _, name := range slices.Sorted(maps.Keys(constructors)) {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3")
			p, err := constructors[name](cmd)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				p.Kill()
				p.Wait()
				p.Close()
			}()
			pid, err := p.PID()
			if err != nil {
				t.Fatal(err)
			}
			dup := func() int {
				fd, err := unix.FcntlInt(p.Fd(), unix.F_DUPFD_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				return fd
			}
			// Made while the process lives: it learns the PID.
			earlyFd := dup()
			early, err := NewFile(uintptr(earlyFd))
			if err != nil {
				unix.Close(earlyFd)
				t.Fatal(err)
			}
			defer early.Close()
			laterFd := dup()
			defer func() {
				if laterFd >= 0 {
					unix.Close(laterFd)
				}
			}()

			status, err := p.Wait()
			if err != nil || status.ExitCode() != 3 || status.Pid() != pid {
				t.Fatalf("Wait = %v (pid %d), %v; want exit status 3, pid %d", status, status.Pid(), err, pid)
			}
			if ru, ok := status.SysUsage().(*syscall.Rusage); !ok || ru == nil {
				t.Errorf("SysUsage of a reaped child = %#v; want its *syscall.Rusage", status.SysUsage())
			}
			if status.UserTime()+status.SystemTime() <= 0 {
				t.Errorf("CPU time of a child that counted to 20000 = %v", status.UserTime()+status.SystemTime())
			}

			// Made after the reaping: the PID is gone from the kernel.
			late, err := NewFile(uintptr(laterFd))
			if err != nil {
				t.Fatal(err)
			}
			laterFd = -1 // late owns it
			defer late.Close()

			for _, tc := range []struct {
				name string
				q    *PidFd
				pid  int
			}{{"made before the reaping", early, pid}, {"made after it", late, -1}} {
				s, err := tc.q.Wait()
				switch {
				case !KernelFeatures().ExitInfo:
					if s != nil || !errors.Is(err, ErrNoExitStatus) {
						t.Errorf("%s: Wait = %v, %v; want ErrNoExitStatus before Linux 6.15", tc.name, s, err)
					}
				case err != nil || s.ExitCode() != 3 || s.Pid() != tc.pid:
					t.Errorf("%s: Wait = %v (pid %d), %v; want exit status 3, pid %d", tc.name, s, s.Pid(), err, tc.pid)
				case s.SysUsage() != nil || s.UserTime() != 0 || s.SystemTime() != 0:
					t.Errorf("%s: usage from the kernel's record: SysUsage %#v, times %v and %v; want nil (unknown) and 0",
						tc.name, s.SysUsage(), s.UserTime(), s.SystemTime())
				}
			}
		})
	}
}

// startAutoKillExited starts true with StartProcessAutoKill and returns
// once the kernel has reaped it (the pidfd hangs up). Cleanup closes it.
func startAutoKillExited(t *testing.T) *PidFd {
	t.Helper()
	p, err := StartProcessAutoKill("/bin/true", []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fds := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
	for fds[0].Revents&unix.POLLHUP == 0 {
		if _, err := unix.Poll(fds, 10_000); err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
	}
	return p
}

// TestAutoKillExitedAtOnce checks that a child from StartProcessAutoKill
// that exits at once, which the kernel reaps as it exits, keeps its PID and
// Identity until a wait returns its status, as a zombie child would, and
// that the status has the same PID.
func TestAutoKillExitedAtOnce(t *testing.T) {
	leakcheck.Check(t)
	autoKillOrSkip(t)
	p := startAutoKillExited(t)
	pid, err := p.PID()
	if err != nil || pid <= 0 {
		t.Fatalf("PID of the exited child = %d, %v; want the PID from the clone", pid, err)
	}
	id, err := p.Identity()
	wantID, idErr := p.ID()
	if err != nil || idErr != nil || id.PID != pid || id.ID != wantID {
		t.Errorf("Identity = %+v, %v; want PID %d and ID %d (%v)", id, err, pid, wantID, idErr)
	}
	status, err := p.Wait()
	if err != nil || !status.Success() || status.Pid() != pid {
		t.Errorf("Wait = %v (pid %d), %v; want exit status 0 of %d", status, status.Pid(), err, pid)
	}
	if got, err := p.PID(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("PID after the wait = %d, %v; want os.ErrProcessDone", got, err)
	}
	if _, err := p.Identity(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Identity after the wait: %v; want os.ErrProcessDone", err)
	}
}
