//go:build linux

package pidfd

import (
	"math"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

func openThread(tid int) (*PidFd, error) {
	if tid <= 0 || tid > math.MaxInt32 {
		return nil, os.NewSyscallError("pidfd_open", unix.EINVAL)
	}
	if err := unsupported(); err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD|unix.PIDFD_NONBLOCK)
	switch err {
	case nil:
		if threadPidFds.state.Load() != capPresent {
			threadPidFds.learn(true)
		}
	case unix.EINVAL: // an unknown flag, or no such thread
		return nil, threadPidFds.explain("pidfd_open", err)
	default:
		return nil, wrapErr("pidfd_open", err)
	}
	p, err := newPidFd(setAside(fd), tid)
	if err != nil {
		return nil, err
	}
	p.thread = true
	return p, nil
}

func selfThread() (*PidFd, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return OpenThread(unix.Gettid())
}

func (p *PidFd) isThread() bool { return p.thread }
