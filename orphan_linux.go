//go:build linux

package pidfd

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// A child from StartProcess is known to its PidFd alone: no os.Process, no
// exec.Cmd. A PidFd closed, or garbage-collected, before a wait collected
// the child's exit would leave a zombie that nothing in the program could
// reap any more, so the package reaps it when it exits (reapOrphan): from a
// copy of the descriptor, parked on the runtime poller (a goroutine while
// the child runs, no OS thread); where no descriptor can be spared, from
// the PidFd's own, which Close then leaves open until the reaping, asked
// with pauses. Reaping through pollExit gives a wait racing the Close the
// status, never ECHILD.

// ownChild marks p as the only owner of its child, and has the child
// reaped if p is collected without Close.
func (p *PidFd) ownChild() {
	p.ownsChild = true
	p.abandoned = runtime.AddCleanup(p, func(file *os.File) {
		go reapOrphan(file, func(fd int) bool { return reapExited(fd) })
	}, p.file)
}

// leaveOrphan hands the child of p to reapOrphan if no wait has collected
// its exit yet. Close calls it before it marks p closed.
func (p *PidFd) leaveOrphan() {
	p.abandoned.Stop()
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
		// Out of descriptors: the PidFd's own goes to reapOrphan once
		// Close is done with it (closeFile).
		p.keepFile.Store(true)
		return
	}
	go reapOrphan(os.NewFile(uintptr(dup), "pidfd"), p.reapedHere)
}

// reapedHere reaps the exited child of fd as a wait would, and reports
// whether nothing is left to reap.
func (p *PidFd) reapedHere(fd int) bool {
	exited, _, err := p.pollExit(fd)
	return exited || err != nil // ECHILD: reaped elsewhere
}

// closeFile closes the descriptor once Close and every pinned call are done
// with it, unless leaveOrphan found no descriptor to spare: then the file
// goes to reapOrphan instead. Its read deadline, in the past, woke the
// waiters parked on it, and keeps reapOrphan off the poller.
func (p *PidFd) closeFile() error {
	if p.keepFile.Load() {
		p.file.SetReadDeadline(deadlinePassed)
		go reapOrphan(p.file, p.reapedHere)
		return nil
	}
	return p.file.Close()
}

// reapOrphan waits on file, a descriptor of an orphaned child that it
// owns, until reaped says that the child has been reaped, and closes it:
// parked on the runtime poller where the file is on it, else asking with
// pauses that double up to askAgainMost.
func reapOrphan(file *os.File, reaped func(fd int) bool) {
	defer file.Close()
	conn, err := file.SyscallConn()
	if err != nil {
		return
	}
	var done bool
	err = conn.Read(func(fd uintptr) bool {
		done = reaped(int(fd))
		return done
	})
	for pause := askAgainFirst; err != nil && !done; pause = min(2*pause, askAgainMost) {
		time.Sleep(pause)
		if conn.Control(func(fd uintptr) { done = reaped(int(fd)) }) != nil {
			return
		}
	}
}

// reapExited reaps fd's process if it is our child and has exited, and
// reports whether nothing is left to reap (reaped here, or elsewhere).
func reapExited(fd int) bool {
	var si siginfoChild
	err := waitid(fd, &si, unix.WEXITED|unix.WNOHANG, nil)
	return err != nil || si.signo == int32(unix.SIGCHLD)
}
