//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// Tests of the waits under the seccomp profiles: each wait must give the
// status the kernel can give this process, or ErrNoExitStatus only where it
// cannot.

// TestWaitsUnderProfiles runs TestWaitsUnderProfile under sandboxes
// and emulated kernels where it holds.
func TestWaitsUnderProfiles(t *testing.T) {
	leakcheck.Check(t)
	runUnderEach(t, []string{"none", "5.10", "6.1", "signal-eperm"}, "^TestWaitsUnderProfile$", "TestWaitsUnderProfile")
}

// TestReapedElsewhereOpenEperm waits, where pidfd_open is refused, for a
// StartProcess child that another party reaped: the probes of the
// kernel's features must not take the refusal for "not supported" (they
// get a pidfd of this process as a socket's peer), so the wait returns the
// kernel's record.
func TestReapedElsewhereOpenEperm(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "open-eperm", "^TestReapedElsewhereUnderProfile$", "TestReapedElsewhereUnderProfile")
}

// TestReapedElsewhereIoctlEperm does the same where ioctl is denied: the
// wait says ErrNoExitStatus, not the ioctl's EPERM, and PID of a live child
// falls back to fdinfo.
func TestReapedElsewhereIoctlEperm(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "ioctl-eperm", "^TestReapedElsewhereUnderProfile$", "TestReapedElsewhereUnderProfile")
}

// TestReapedElsewhereUnderProfile waits for a StartProcess child that
// another party (wait4) reaped: the wait must return the kernel's record
// where this process can read it, ErrNoExitStatus where it cannot.
func TestReapedElsewhereUnderProfile(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		t.Skip("runs only under a profile")
	}
	t.Logf("KernelFeatures: %+v", KernelFeatures())
	p, err := StartProcess("/bin/sh", []string{"sh", "-c", "exit 6"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pid, err := pidByFdinfo(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.PID(); got != pid || err != nil {
		t.Errorf("PID of a live child = %d, %v; fdinfo says %d", got, err, pid)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	truth := false
	p.withFd(func(fd int) error { truth = recordReadable(fd); return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, err := p.WaitContext(ctx)
	switch {
	case truth && (err != nil || status.ExitCode() != 6):
		t.Errorf("Wait = %v, %v; the kernel's record (readable here: ioctl PIDFD_GET_INFO answers PIDFD_INFO_EXIT) says exit status 6", status, err)
	case !truth && !errors.Is(err, ErrNoExitStatus):
		t.Errorf("Wait = %v, %v; want ErrNoExitStatus (no record readable here)", status, err)
	}
}

// recordReadable reports whether this process can read the kernel's record
// of the exit of fd's reaped process: the truth a wait must match.
func recordReadable(fd int) bool {
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
	err := unix.IoctlPidfdInfo(fd, &info)
	return err == nil && info.Mask&unix.PIDFD_INFO_EXIT != 0
}

// TestWaitsUnderProfile waits for children and a grandchild in every way,
// under the profile TestWaitsUnderProfiles chose.
func TestWaitsUnderProfile(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		t.Skip("runs only inside TestWaitsUnderProfiles")
	}
	features, err := KernelFeatures(), error(nil)
	t.Logf("KernelFeatures: %+v", features)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("StartProcess child", func(t *testing.T) {
		p, err := StartProcess("/bin/sh", []string{"sh", "-c", "exit 3"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if status, err := p.WaitContext(ctx); err != nil || status.ExitCode() != 3 {
			t.Errorf("Wait = %v, %v; want exit status 3", status, err)
		}
	})
	t.Run("StartProcess child watched", func(t *testing.T) {
		w := newWatcherT(t)
		p, err := StartProcess("/bin/sh", []string{"sh", "-c", "exit 5"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		if x := nextT(t, w); x.Err != nil || x.Status.ExitCode() != 5 {
			t.Errorf("Next = %v, %v; want exit status 5", x.Status, x.Err)
		}
	})
	t.Run("StartProcess child reaped elsewhere", func(t *testing.T) {
		p, err := StartProcess("/bin/sh", []string{"sh", "-c", "exit 6"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pid := mustPIDOf(t, p)
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			t.Fatal(err)
		}
		truth := false
		p.withFd(func(fd int) error { truth = recordReadable(fd); return nil })
		status, err := p.WaitContext(ctx)
		switch {
		case truth && (err != nil || status.ExitCode() != 6):
			t.Errorf("Wait = %v, %v; the kernel's record (readable here: ioctl PIDFD_GET_INFO answers PIDFD_INFO_EXIT) says exit status 6", status, err)
		case !truth && !errors.Is(err, ErrNoExitStatus):
			t.Errorf("Wait = %v, %v; want ErrNoExitStatus (no record readable)", status, err)
		}
	})
	t.Run("Start child", func(t *testing.T) {
		cmd := exec.Command("/bin/sh", "-c", "exit 4")
		p, err := Start(cmd)
		if errors.Is(err, errors.ErrUnsupported) {
			if cmd.Process != nil {
				t.Errorf("Start refused, yet started PID %d", cmd.Process.Pid)
			}
			t.Logf("Start refused: %v", err)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if status, err := p.WaitContext(ctx); err != nil || status.ExitCode() != 4 {
			t.Errorf("Wait = %v, %v; want exit status 4", status, err)
		}
	})
	t.Run("grandchild", func(t *testing.T) {
		pid, reap := startLateReaper(t)
		p, err := Open(pid)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Logf("Open refused: %v", err)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		waitReadable(t, p)
		reap()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var hup bool
			p.withFd(func(fd int) error {
				r, _ := pollNow(fd)
				hup = r&unix.POLLHUP != 0
				return nil
			})
			if hup || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		truth := false
		p.withFd(func(fd int) error { truth = recordReadable(fd); return nil })
		status, err := p.WaitContext(ctx)
		switch {
		case truth && (err != nil || status.ExitCode() != 7):
			t.Errorf("Wait = %v, %v; the kernel's record says exit status 7", status, err)
		case !truth && !errors.Is(err, ErrNoExitStatus):
			t.Errorf("Wait = %v, %v; want ErrNoExitStatus", status, err)
		}
	})
	_ = err
}
