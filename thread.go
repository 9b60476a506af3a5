//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// OpenThread returns a PidFd for one thread (Linux 6.9+, PIDFD_THREAD;
// [errors.ErrUnsupported] before). tid is a thread ID as gettid returns it;
// the ID of a process's first thread is the process's PID.
//
// A thread PidFd differs from a process one:
//   - PID returns the thread ID, and Signal reaches that thread alone
//     (with [ToThreadGroup], its whole process).
//   - It polls readable once the thread has exited, while the rest of its
//     process may run on; a process PidFd waits for every thread. The first
//     thread is the exception: the kernel keeps it until its whole process
//     ends (on 6.18 its pidfd stays unreadable until then).
//   - A thread is never a child that can be reaped: Wait, WaitContext and
//     WaitExit all work as [PidFd.WaitExit] does for any process. Where the
//     kernel records exit statuses (Linux 6.15+) they wait until the thread
//     is released, which for any thread but the first follows its exit at
//     once (the first goes when its process is reaped), and report its
//     status; before that they return [ErrNoExitStatus] once the thread
//     has exited.
//
// Like [Open], OpenThread names whichever thread holds tid when it runs. A
// thread of the caller's own process that cannot exit meanwhile (the
// calling thread, or one whose goroutine is locked to it) is opened without
// that race: see [SelfThread].
func OpenThread(tid int) (*PidFd, error) {
	if tid <= 0 || tid > math.MaxInt32 {
		return nil, os.NewSyscallError("pidfd_open", unix.EINVAL)
	}
	if err := unsupported(); err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD|unix.PIDFD_NONBLOCK)
	if err == unix.EINVAL {
		switch f, probeErr := kernelFeatures(); {
		case probeErr != nil:
			return nil, fmt.Errorf("pidfd: pidfd_open answered EINVAL, and the kernel cannot be asked why now: %w", probeErr)
		case !f.ThreadPidfds:
			return nil, fmt.Errorf("pidfd: thread pidfds need Linux 6.9: %w", errors.ErrUnsupported)
		}
	}
	if err != nil {
		return nil, wrapErr("pidfd_open", err)
	}
	p, err := newPidFd(fd, tid)
	if err != nil {
		return nil, err
	}
	p.thread = true
	return p, nil
}

// SelfThread returns a thread PidFd for the calling OS thread. Go moves
// goroutines between threads: call [runtime.LockOSThread] first for the
// answer to keep meaning the goroutine's thread.
func SelfThread() (*PidFd, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return OpenThread(unix.Gettid())
}

// IsThread reports whether the PidFd names a single thread (see
// [OpenThread]) rather than a whole process.
func (p *PidFd) IsThread() bool { return p != nil && p.thread }
