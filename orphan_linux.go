//go:build linux

package pidfd

import (
	"os"

	"golang.org/x/sys/unix"
)

// A child from StartProcess is known to its PidFd alone: no os.Process, no
// exec.Cmd. Closing that PidFd before a wait has collected the child's exit
// would leave a zombie that nothing in the program could reap any more, so
// Close hands the child to reapOrphan, which keeps a copy of the descriptor
// and reaps the child when it exits. The copy shares the non-blocking open
// file description, so the wait parks on the runtime poller: a goroutine
// per such child while it runs, and no OS thread.

// leaveOrphan hands the child of p, which p alone owns, to reapOrphan if no
// wait has collected its exit yet. Close calls it before closing.
func (p *PidFd) leaveOrphan() {
	select {
	case <-p.done:
		return // reaped, its status collected
	default:
	}
	var dup int
	err := p.withFd(func(fd int) (err error) {
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		// Out of descriptors: reap it now if it has exited, else it is
		// left as Close found it.
		p.withFd(func(fd int) error { return reapExited(fd) })
		return
	}
	if reapExited(dup) == nil {
		unix.Close(dup) // exited: reaped now, no goroutine needed
		return
	}
	go reapOrphan(dup)
}

// reapExited reaps fd's process if it is our child and has exited. Its
// error is nil once there is nothing left to reap (reaped here, or
// elsewhere: ECHILD), and errRunning while the child runs.
func reapExited(fd int) error {
	var si siginfoChild
	err := waitid(fd, &si, unix.WEXITED|unix.WNOHANG, nil)
	switch {
	case err != nil:
		return nil // ECHILD: reaped elsewhere; nothing else can be done
	case si.signo != int32(unix.SIGCHLD):
		return errRunning
	}
	return nil
}

var errRunning = os.NewSyscallError("waitid", unix.EAGAIN)

// reapOrphan waits on fd, its own descriptor of an orphaned child, until
// the child has exited, reaps it and closes fd.
func reapOrphan(fd int) {
	file := os.NewFile(uintptr(fd), "pidfd")
	defer file.Close()
	conn, err := file.SyscallConn()
	if err != nil {
		return
	}
	conn.Read(func(fd uintptr) bool { return reapExited(int(fd)) != errRunning })
}
