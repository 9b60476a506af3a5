//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// eventually polls cond for up to ten seconds: a signal is queued by the
// time pidfd_send_signal returns, but a thread's exit is not.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOpenThread(t *testing.T) {
	leakcheck.Check(t)
	if !KernelFeatures().ThreadPidFds {
		_, err := OpenThread(os.Getpid())
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("OpenThread before 6.9 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no PIDFD_THREAD (Linux 6.9) on this kernel (checked that it says so)")
	}
	c := startBlocked(t, nil)
	tid := c.newThread(t)
	thread, err := OpenThread(tid)
	if err != nil {
		t.Fatal(err)
	}
	defer thread.Close()
	if !thread.IsThread() || c.p.IsThread() {
		t.Errorf("IsThread: thread %v, process %v", thread.IsThread(), c.p.IsThread())
	}
	for _, path := range pidPaths {
		if got, err := path.pid(thread); err != nil || got != tid {
			t.Errorf("%s of a thread pidfd = %d, %v; want the thread ID %d", path.name, got, err, tid)
		}
	}

	// A thread pidfd received over a socket stays one.
	dup, err := unix.Dup(int(thread.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	adopted, err := NewFile(uintptr(dup))
	if err != nil {
		unix.Close(dup)
		t.Fatal(err)
	}
	defer adopted.Close()
	if !adopted.IsThread() {
		t.Error("NewFile of a thread pidfd: IsThread false")
	}

	// Signals reach the thread alone, or with ToThreadGroup the process.
	if err := thread.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if onThread, onProcess := pendingUSR1(t, c.pid, tid); !onThread || onProcess {
		t.Errorf("after Signal on the thread pidfd: pending on thread %v, process %v; want thread only", onThread, onProcess)
	}
	if onThread, _ := pendingUSR1(t, c.pid, c.pid); onThread {
		t.Error("the thread-directed signal is pending on the first thread too")
	}
	if err := thread.Signal(syscall.SIGUSR1, ToThreadGroup()); err != nil {
		t.Fatal(err)
	}
	if _, onProcess := pendingUSR1(t, c.pid, tid); !onProcess {
		t.Error("after Signal(ToThreadGroup): not pending on the process")
	}

	// Waiting: the thread's exit ends the wait; its process runs on.
	if status, err := thread.TryWait(); status != nil || err != nil {
		t.Fatalf("TryWait on a running thread = %v, %v; want nil, nil", status, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err = thread.WaitContext(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext on a running thread = %v; want context.DeadlineExceeded", err)
	}
	waited := make(chan error, 2)
	for _, wait := range []func() (*ExitStatus, error){thread.Wait, adopted.Wait} {
		go func() {
			status, err := wait()
			switch {
			case errors.Is(err, ErrNoExitStatus) && !KernelFeatures().ExitInfo:
				err = nil
			case err == nil && (!status.Exited() || status.ExitCode() != 0 || status.Pid() != tid):
				err = fmt.Errorf("status %v of pid %d; want exit status 0 of %d", status, status.Pid(), tid)
			}
			waited <- err
		}()
	}
	c.say(t, "end", false)
	for range 2 {
		if err := <-waited; err != nil {
			t.Errorf("Wait on the thread: %v", err)
		}
	}
	if status, err := c.p.TryWait(); status != nil || err != nil {
		t.Errorf("the process after its thread exited: TryWait = %v, %v; want still running", status, err)
	}
	eventually(t, "the thread's release", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", c.pid, tid))
		return errors.Is(err, os.ErrNotExist)
	})
	if err := thread.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal 0 to an exited thread = %v; want os.ErrProcessDone", err)
	}
	if _, err := OpenThread(tid); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("OpenThread of an exited thread = %v; want os.ErrProcessDone", err)
	}
	c.in.Close()
	if status, err := c.p.Wait(); err != nil || !status.Success() {
		t.Errorf("the child at the end of its input: %v, %v; want exit status 0", status, err)
	}
}

// TestOpenThreadID opens the ID of a thread that does not lead its process
// as if it were a PID, as a saved PID that was recycled to a thread is:
// Open must say the PID is a thread's, and OpenIdentity that the process
// it identified is gone.
func TestOpenThreadID(t *testing.T) {
	leakcheck.Check(t)
	c := startBlocked(t, nil)
	tid := c.newThread(t)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", c.pid, tid)); err != nil || tid == c.pid {
		t.Fatalf("thread %d is not a second thread of the child %d: %v", tid, c.pid, err)
	}
	p, err := Open(tid)
	var sysErr *os.SyscallError
	switch {
	case err == nil:
		p.Close()
		t.Errorf("Open(%d), the ID of a thread, opened a process", tid)
	case !strings.Contains(err.Error(), "thread") || !errors.As(err, &sysErr) || !errors.Is(err, syscall.ENOENT):
		t.Errorf("Open(a thread's ID) = %v; want an error naming a thread, wrapping pidfd_open's ENOENT", err)
	case errors.Is(err, os.ErrProcessDone):
		t.Errorf("Open(a thread's ID) = %v; want no os.ErrProcessDone: nothing has ended", err)
	}

	id, err := c.p.Identity()
	if err != nil {
		t.Fatal(err)
	}
	id.PID = tid
	if p, err := OpenIdentity(id); !errors.Is(err, os.ErrProcessDone) {
		if p != nil {
			p.Close()
		}
		t.Errorf("OpenIdentity with a PID that names a thread of another process = %v; want os.ErrProcessDone", err)
	}
	c.in.Close()
	if status, err := c.p.Wait(); err != nil || !status.Success() {
		t.Errorf("child: %v, %v", status, err)
	}
}

func TestSelfThread(t *testing.T) {
	leakcheck.Check(t)
	if !KernelFeatures().ThreadPidFds {
		if _, err := SelfThread(); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("SelfThread before 6.9 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no PIDFD_THREAD (Linux 6.9) on this kernel (checked that it says so)")
	}
	got := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		p, err := SelfThread()
		if err != nil {
			got <- err
			return
		}
		defer p.Close()
		if pid, err := p.PID(); err != nil || pid != unix.Gettid() || !p.IsThread() {
			got <- fmt.Errorf("PID %d, %v, IsThread %v; want the thread ID %d", pid, err, p.IsThread(), unix.Gettid())
			return
		}
		got <- nil
	}()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
