//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The exit before the reaping. A pidfd polls POLLIN once its process has
// exited and POLLIN|POLLHUP once it has been reaped; between the two a
// child of ours is a zombie that holds its PID and its process group, and
// waitid with WNOWAIT reads its status without reaping it. waitExited parks
// until POLLIN (POLLHUP for what is reaped at once: a thread, an AutoKill
// child, a child another party is reaping) and reads what the kernel tells
// then; it never reaps.

// waitExited is WaitExited.
func (p *PidFd) waitExited(ctx context.Context) (*ExitStatus, error) {
	if p == nil || p.file == nil {
		return nil, os.ErrInvalid
	}
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		if p.isClosed() {
			return nil, os.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress, status, err := p.exitedNow()
		switch progress {
		case exitedKnown:
			return status, err
		case exitedReaping:
			// A wait of ours is reaping it: its status comes with that
			// wait, in a moment.
			select {
			case <-p.done:
				return p.status, p.statusErr
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-p.closing:
				return nil, os.ErrClosed
			}
		}
		select {
		case <-p.done:
			return p.status, p.statusErr
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closing:
			return nil, os.ErrClosed
		case p.waiter <- struct{}{}:
		}
		want := int16(unix.POLLIN)
		if progress == exitedHangup {
			want = unix.POLLHUP
		}
		err = p.park(ctx, func(fd int) (bool, error) {
			revents, err := pollNow(fd)
			return revents&want != 0, err
		})
		<-p.waiter
		if err != nil {
			return nil, err
		}
	}
}

// exitedProgress is how far exitedNow found the process.
type exitedProgress int8

const (
	exitedRunning exitedProgress = iota // it runs
	exitedKnown                         // it has exited: the answer is final
	exitedReaping                       // a wait of ours reaps it: its status comes with p.done
	exitedHangup                        // it has exited, and the kernel reaps it at once: POLLHUP
)

// exitedNow reports, without blocking and without reaping, whether the
// process has exited, and its status where the kernel tells it then: the
// status a wait collected, the kernel's record once the process has been
// reaped (6.15+), or, for an unreaped child of ours, the status waitid
// reads with WNOWAIT (no resource usage: the reaping reports that). Any
// other exited process answers ErrNoExitStatus: its parent has not reaped
// it, and only the parent can read its status before.
func (p *PidFd) exitedNow() (exitedProgress, *ExitStatus, error) {
	select {
	case <-p.done:
		return exitedKnown, p.status, p.statusErr
	default:
	}
	var (
		revents int16
		si      siginfoChild
		child   bool
	)
	err := p.withFd(func(fd int) (err error) {
		if revents, err = pollNow(fd); err != nil || revents&unix.POLLIN == 0 {
			return err
		}
		if revents&unix.POLLHUP != 0 || p.thread || p.kernelReaps {
			return nil
		}
		err = waitid(fd, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		child = err == nil && si.signo == int32(unix.SIGCHLD)
		if errors.Is(err, syscall.ECHILD) {
			// Not ours, or reaped since the poll: which, the poll tells
			// now (POLLHUP once reaped).
			revents, err = pollNow(fd)
		}
		return err
	})
	switch {
	case err != nil:
		return exitedRunning, nil, err
	case revents&unix.POLLIN == 0:
		return exitedRunning, nil, nil
	case child:
		status := newExitStatus(int(si.pid), si.waitStatus(), nil)
		return exitedKnown, status, nil
	}
	p.mu.Lock()
	ours, seen := p.exitSeen, p.exited
	p.mu.Unlock()
	switch {
	case seen != nil:
		return exitedKnown, seen, nil // os/exec reaps it, and may copy output for long
	case ours:
		return exitedReaping, nil, nil
	}
	switch {
	case revents&unix.POLLHUP != 0:
		status, err := p.settle(p.exitInfo())
		return exitedKnown, status, err
	case p.thread || p.kernelReaps || p.beingReaped():
		return exitedHangup, nil, nil
	}
	return exitedKnown, nil, ErrNoExitStatus
}

// beingReaped reports whether the process, exited and not a child of ours
// to waitid, is being reaped: it was our child, reaped behind the PidFd's
// back (waitid says ECHILD as soon as the reaper has taken it, a moment
// before the pidfd hangs up), or it is gone already. Its hangup is then a
// moment away, and the kernel's record with it.
func (p *PidFd) beingReaped() bool {
	ppid, err := p.ppid()
	return errors.Is(err, os.ErrProcessDone) || err == nil && ppid == os.Getpid()
}
