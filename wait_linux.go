//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Waiting works like this. A pidfd polls readable once its process has
// exited. One waiting goroutine at a time (the holder of p.waiter) parks in
// RawConn.Read, which calls waitid(WNOHANG) and, while the process runs,
// parks the goroutine on the runtime poller: no OS thread is held. Other
// waiters park on channels. Cancelling a wait sets a read deadline in the
// past, which is how the poller can be interrupted; since only the holder
// parks on the poller, one waiter's deadline never wakes another.
//
// A wait first asks whether the process is an unreaped child of ours
// (isUnreapedChild). If so it is reaped, here or through os/exec or os
// (p.reap), and every waiter gets the one status, from p.done. If not (a
// thread, another's child, or our child that someone else reaped) the wait
// parks until the kernel has recorded the exit, and reads the record.

// wait is Wait and WaitContext.
func (p *PidFd) wait(ctx context.Context) (*ExitStatus, error) {
	if p == nil || p.file == nil {
		return nil, os.ErrInvalid
	}
	for {
		select {
		case <-p.done:
			return p.status, p.statusErr
		default:
		}
		if p.isClosed() {
			return nil, os.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		child, err := p.isUnreapedChild()
		if err != nil {
			return nil, err
		}
		if !child {
			return p.waitRecorded(ctx)
		}
		p.mu.Lock()
		token := p.waiter
		if p.exitSeen {
			token = nil // exited: only the reaping is left to wait for
		}
		p.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
		case <-p.closing:
		case token <- struct{}{}:
			err := p.parkUntilExit(ctx)
			<-p.waiter
			// ECHILD: another party reaped the child meanwhile; the
			// next round waits for the kernel's record instead.
			if err != nil && !errors.Is(err, syscall.ECHILD) {
				return nil, err
			}
		}
	}
}

// tryWait is TryWait.
func (p *PidFd) tryWait() (*ExitStatus, error) {
	if p == nil || p.file == nil {
		return nil, os.ErrInvalid
	}
	select {
	case <-p.done:
		return p.status, p.statusErr
	default:
	}
	if p.isClosed() {
		return nil, os.ErrClosed
	}
	child, err := p.isUnreapedChild()
	if err != nil {
		return nil, err
	}
	var exited, reapHere bool
	if child {
		err = p.withFd(func(fd int) (err error) {
			exited, reapHere, err = p.pollExit(fd)
			return err
		})
	}
	if !child || errors.Is(err, syscall.ECHILD) {
		return p.tryRecorded()
	}
	if err != nil || !exited {
		return nil, err
	}
	if reapHere {
		p.startReap()
	}
	if p.reapMayBlock {
		select {
		case <-p.done:
			return p.status, p.statusErr
		default:
			return nil, nil // os/exec is still copying
		}
	}
	// Collecting an exited child through os takes a moment, not a wait.
	select {
	case <-p.done:
		return p.status, p.statusErr
	case <-p.closing:
		return nil, os.ErrClosed
	}
}

var deadlinePassed = time.Unix(1, 0)

// park blocks on the poller until ready reports true (or an error), ctx is
// done or the PidFd is closed. ready runs on the pinned descriptor, first at
// once and then each time the pidfd polls ready. The caller holds p.waiter.
func (p *PidFd) park(ctx context.Context, ready func(fd int) (bool, error)) error {
	var stop func() bool
	var interrupted chan struct{}
	if ctx.Done() != nil {
		interrupted = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			p.file.SetReadDeadline(deadlinePassed)
			close(interrupted)
		})
	}
	var readyErr error
	err := p.conn.Read(func(fd uintptr) bool {
		var done bool
		done, readyErr = ready(int(fd))
		return done || readyErr != nil
	})
	if stop != nil && !stop() {
		<-interrupted
		p.file.SetReadDeadline(time.Time{}) // let the next waiter park
	}
	switch {
	case err == nil:
		return readyErr
	case p.isClosed():
		return os.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// parkUntilExit is park until the child has exited, reaping it.
func (p *PidFd) parkUntilExit(ctx context.Context) error {
	var reapHere bool
	err := p.park(ctx, func(fd int) (exited bool, err error) {
		exited, reapHere, err = p.pollExit(fd)
		return exited, err
	})
	if reapHere {
		p.startReap()
	}
	return err
}

// pollExit reports, without blocking, whether the child has exited. A
// PidFd without a reap function reaps here and records the status. One with
// it leaves the zombie (WNOWAIT) and, the first time, asks the caller to
// start the reaping, outside the descriptor callback.
func (p *PidFd) pollExit(fd int) (exited, reapHere bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitSeen {
		return true, false, nil
	}
	var si siginfoChild
	var rusage *syscall.Rusage
	options := unix.WEXITED | unix.WNOHANG
	if p.reap != nil {
		options |= unix.WNOWAIT
	} else {
		rusage = new(syscall.Rusage)
	}
	if err := waitid(fd, &si, options, rusage); err != nil {
		return false, false, err
	}
	// With WNOHANG waitid succeeds while the child runs, leaving si zeroed.
	if si.signo != int32(unix.SIGCHLD) {
		return false, false, nil
	}
	p.exitSeen = true
	if p.reap != nil {
		// os/exec or os reaps, and may then copy output for long: the
		// status seen now is WaitExited's meanwhile.
		p.exited = newExitStatus(int(si.pid), si.waitStatus(), nil)
		return true, true, nil
	}
	status := newExitStatus(int(si.pid), si.waitStatus(), rusage)
	status.dump, status.dumpKnown = readCoredump(fd, si.waitStatus())
	p.finish(status, nil)
	return true, false, nil
}

// startReap collects an exited child through os/exec or os in a goroutine
// of its own: cmd.Wait also waits for the child's output to be copied, which
// lasts as long as any grandchild holds the pipe, and neither a context nor
// Close may have to wait for that.
func (p *PidFd) startReap() {
	go func() { p.finish(p.reapStatus()) }()
}

// reapStatus is p.reap with what the kernel recorded about a core dump,
// which it keeps after the reaping for as long as a pidfd names the
// process.
func (p *PidFd) reapStatus() (*ExitStatus, error) {
	status, err := p.reap()
	if status != nil {
		ws, _ := status.sys.(syscall.WaitStatus)
		p.withFd(func(fd int) error {
			status.dump, status.dumpKnown = readCoredump(fd, ws)
			return nil
		})
	}
	return status, err
}

// finish records the final result of waiting for a child. A status that
// comes with an error makes a *WaitError, so that the status cannot be lost.
func (p *PidFd) finish(status *ExitStatus, err error) {
	if status != nil && err != nil {
		err = &WaitError{Status: status, Err: err}
	}
	p.status, p.statusErr = status, err
	close(p.done)
}

func waitid(fd int, si *siginfoChild, options int, rusage *syscall.Rusage) error {
	for {
		err := unix.Waitid(unix.P_PIDFD, fd, (*unix.Siginfo)(unsafe.Pointer(si)), options,
			(*unix.Rusage)(unsafe.Pointer(rusage)))
		if err != unix.EINTR {
			return wrapErr("waitid", err)
		}
	}
}

// isUnreapedChild reports whether the process is a child of the caller that
// nobody has reaped yet, or whose exit a waiter on this PidFd has seen: it
// is being reaped, or has been, here. It asks under p.mu, which a waiter
// holds from the waitid that sees the exit to its record in exitSeen, so
// it cannot take our own child, reaped by os/exec a moment ago and not yet
// handed to the waiters, for another's. A thread is nobody's child, and a
// child the kernel reaps is not ours to reap.
func (p *PidFd) isUnreapedChild() (bool, error) {
	if p.thread || p.kernelReaps {
		return false, nil
	}
	// Pinned before p.mu is taken, and so unpinned after it is let go: the
	// last unpin after a Close closes the descriptor, which waits for a
	// parked waiter's poll callback (pollExit) to return, and that callback
	// takes p.mu.
	fd, err := p.pin()
	if err == nil {
		defer p.unpin()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitSeen {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var si siginfoChild
	err = waitid(fd, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	if errors.Is(err, syscall.ECHILD) {
		return false, nil
	}
	return err == nil, err
}

// waitRecorded waits until the kernel has recorded the exit of a process
// that is not ours to reap, and returns the record. Where the kernel cannot
// be asked now whether it keeps records (exitLater), it asks again after a
// pause rather than fail: the process is out of descriptors, say, and the
// exit is still to be had.
func (p *PidFd) waitRecorded(ctx context.Context) (*ExitStatus, error) {
	for pause := askAgainFirst; ; pause = min(2*pause, askAgainMost) {
		select {
		case <-p.done:
			return p.status, p.statusErr // reaped here after all
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.closing:
			return nil, os.ErrClosed
		case p.waiter <- struct{}{}:
		}
		var later bool
		err := p.park(ctx, func(fd int) (bool, error) {
			progress, err := exitProgress(fd)
			later = progress == exitLater
			return progress == exitRecorded || later, err
		})
		<-p.waiter
		if err != nil {
			return nil, err
		}
		if !later {
			return p.settle(p.exitInfo())
		}
		timer := time.NewTimer(pause)
		select {
		case <-timer.C:
		case <-p.done:
		case <-ctx.Done():
		case <-p.closing:
		}
		timer.Stop()
	}
}

// tryRecorded is waitRecorded that does not wait.
func (p *PidFd) tryRecorded() (*ExitStatus, error) {
	var progress exitProgressState
	err := p.withFd(func(fd int) (err error) {
		progress, err = exitProgress(fd)
		return err
	})
	if err != nil || progress != exitRecorded {
		return nil, err
	}
	return p.settle(p.exitInfo())
}

// settle makes the kernel's record of the exit of a child the kernel
// reaped (kernelReaps) the PidFd's final status, as a child reaped here
// has one: every wait, and a Watcher, then give the same status. The
// record of another's process is returned as it is.
func (p *PidFd) settle(status *ExitStatus, err error) (*ExitStatus, error) {
	if !p.kernelReaps || status == nil || err != nil {
		return status, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done: // another wait settled it first
	default:
		p.finish(status, nil)
	}
	return p.status, p.statusErr
}

// exitProgressState is how far a process that is not ours to reap has got
// towards the end a wait reports.
type exitProgressState int8

const (
	exitRunning  exitProgressState = iota // it runs
	exitUnreaped                          // exited; the kernel records the status when its parent reaps it
	exitRecorded                          // reaped, or exited on a kernel that keeps no record: read it now
	exitLater                             // exited, and whether the kernel keeps records cannot be learned now
)

// exitProgress tells how far the process of fd has got: a pidfd polls
// POLLIN once its process has exited, and POLLIN|POLLHUP once it has been
// reaped. Between the two, only the kernel's capabilities decide, and only
// PIDFD_INFO_EXIT's is asked: a wait must not fail for a probe it does not
// need, nor for a passing failure of the one it does (exitLater).
func exitProgress(fd int) (exitProgressState, error) {
	revents, err := pollNow(fd)
	switch {
	case err != nil:
		return exitRunning, err
	case revents&unix.POLLIN == 0:
		return exitRunning, nil
	case revents&unix.POLLHUP != 0:
		return exitRecorded, nil
	}
	switch has, err := exitInfo.ask(); {
	case err != nil:
		return exitLater, nil
	case has:
		return exitUnreaped, nil
	}
	return exitRecorded, nil
}

// pollNow returns the pidfd's poll events without blocking.
func pollNow(fd int) (int16, error) {
	for {
		// The kernel always writes revents: -1 left in place means that
		// the call did not run (a sandbox faking its success).
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN, Revents: -1}}
		n, err := unix.Poll(fds, 0)
		switch {
		case err == nil && fds[0].Revents != -1 && (n > 0) == (fds[0].Revents != 0):
			return fds[0].Revents, nil
		case err == nil:
			return 0, os.NewSyscallError("poll", unix.ENOSYS)
		case err != unix.EINTR:
			return 0, os.NewSyscallError("poll", err)
		}
	}
}

// exitInfo reads the exit status the kernel recorded (Linux 6.15+).
func (p *PidFd) exitInfo() (*ExitStatus, error) {
	var (
		info  unix.PidfdInfo
		known bool
	)
	var (
		dump      Coredump
		dumpKnown bool
	)
	err := p.withFd(func(fd int) (err error) {
		known, err = getPidFdInfo(fd, &info, unix.PIDFD_INFO_EXIT)
		if known && err == nil {
			dump, dumpKnown = readCoredump(fd, syscall.WaitStatus(info.Exit_code))
		}
		return err
	})
	switch {
	case !known && err == nil, errors.Is(err, unix.ENODATA), errors.Is(err, os.ErrProcessDone):
		return nil, ErrNoExitStatus
	case err != nil:
		return nil, err
	}
	pid := p.pid // the kernel clears info.Pid once the process is reaped
	if pid <= 0 && int32(info.Pid) > 0 {
		pid = int(int32(info.Pid))
	}
	if pid <= 0 {
		pid = -1 // never known here: 0 is no PID either
	}
	status := newExitStatus(pid, syscall.WaitStatus(info.Exit_code), nil)
	status.dump, status.dumpKnown = dump, dumpKnown
	return status, nil
}
