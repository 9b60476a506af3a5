//go:build linux

package pidfd

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What a Watcher does with an event of a watched pidfd: the step of the
// wait family it runs (watchStep), and the entry's move that the step's
// outcome decides, along the diagram at the top of watch_linux.go.

// check moves on the entry whose registration reported ev.
func (w *watcher) check(ev unix.EpollEvent) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if int(ev.Fd) == w.eventfd {
		var buf [8]byte
		unix.Read(w.eventfd, buf[:])
		w.mu.Unlock()
		return
	}
	e := w.byFd[ev.Fd]
	if e == nil || e.tag != ev.Pad {
		// Taken in the same batch as an event that ended the entry, or
		// reported by an earlier registration of the number.
		w.mu.Unlock()
		return
	}
	e.fired = true
	state := e.state
	w.mu.Unlock()

	// Outside the lock: this may reap the child, through os or os/exec.
	var (
		step   watchStepResult
		status *ExitStatus
		err    error
	)
	if e.exited {
		step, status, err = e.p.exitedStep()
	} else {
		step, status, err = e.p.watchStep()
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if e.state != state {
		return // removed, closed, or the Watcher closed meanwhile
	}
	switch step {
	case stepDone:
		w.enqueue(e, Exit{PidFd: e.p, Status: status, Err: err})
	case stepRunning, stepHangup:
		// Arm the registration again; for the parent's reaping, EPOLLHUP
		// alone, which is reported whatever the events ask for.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(e.fd), Pad: e.tag}
		if step == stepHangup {
			ev.Events = unix.EPOLLONESHOT
		}
		if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, e.fd, &ev); err != nil {
			w.enqueue(e, Exit{PidFd: e.p, Err: os.NewSyscallError("epoll_ctl", err)})
			return
		}
		e.fired = false
		if step == stepHangup {
			e.state = watchHangup
		}
	case stepLater:
		// Left disabled in the set, and armed again after a pause: armed
		// at once, an exit that stays readable would report at once.
		e.pause = min(max(2*e.pause, askAgainFirst), askAgainMost)
		time.AfterFunc(e.pause, func() { w.askAgain(e) })
	case stepReaping:
		w.leaveSet(e)
		e.state = watchReaping
		e.stop = make(chan struct{})
		w.wg.Add(1)
		go w.awaitReap(e, e.stop)
	}
}

// askAgain arms again the registration of an entry whose last step could
// not learn what it needed (stepLater), if the entry is still waiting for
// it.
func (w *watcher) askAgain(e *watchEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || e.state != watchArmed || !e.fired {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(e.fd), Pad: e.tag}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, e.fd, &ev); err != nil {
		w.enqueue(e, Exit{PidFd: e.p, Err: os.NewSyscallError("epoll_ctl", err)})
		w.wakeLocked()
		return
	}
	e.fired = false
}

// awaitReap waits while os/exec finishes a child's wait (copying its
// output), and queues the exit.
func (w *watcher) awaitReap(e *watchEntry, stop chan struct{}) {
	defer w.wg.Done()
	select {
	case <-e.p.done:
	case <-e.p.closing:
	case <-stop:
		return
	}
	w.queueSettled(e)
}

// watchStepResult says what a watched PidFd waits for next.
type watchStepResult int8

const (
	stepRunning watchStepResult = iota // the process runs
	stepDone                           // the wait's result is final
	stepHangup                         // exited, not ours: its parent's reaping
	stepReaping                        // os/exec finishes the wait (p.done)
	stepLater                          // exited; what follows cannot be learned now: ask again
)

// exitedStep is the step of WaitExited that a Watcher takes for an entry of
// AddExited: it never reaps, and delivers the exit as soon as the pidfd
// polls it.
func (p *PidFd) exitedStep() (watchStepResult, *ExitStatus, error) {
	if p.isClosed() {
		return stepDone, nil, os.ErrClosed
	}
	progress, status, err := p.exitedNow()
	switch {
	case err != nil && progress == exitedRunning:
		return stepDone, nil, err
	case progress == exitedRunning:
		return stepRunning, nil, nil
	case progress == exitedReaping:
		return stepReaping, nil, nil
	case progress == exitedHangup:
		return stepHangup, nil, nil
	}
	return stepDone, status, err
}

// watchStep is the step of the wait family (see TryWait) that a Watcher
// takes when p's descriptor has an event: it never waits for a process, and
// says what is left to wait for. An exited child is reaped here, directly
// or through os (a moment); through os/exec in the background if it copies
// output, which lasts as long as the pipe is held.
func (p *PidFd) watchStep() (watchStepResult, *ExitStatus, error) {
	select {
	case <-p.done:
		return stepDone, p.status, p.statusErr
	default:
	}
	if p.isClosed() {
		return stepDone, nil, os.ErrClosed
	}
	// pollExit, where isUnreapedChild would ask first: its waitid fails
	// with ECHILD for a process that is not an unreaped child of ours,
	// under p.mu as isUnreapedChild's does. A thread is nobody's child.
	if !p.thread {
		var exited, reapHere bool
		err := p.withFd(func(fd int) (err error) {
			exited, reapHere, err = p.pollExit(fd)
			return err
		})
		switch {
		case errors.Is(err, syscall.ECHILD):
			// Not our child, or another party reaped it: as for any process.
		case err != nil:
			return stepDone, nil, err
		case !exited:
			return stepRunning, nil, nil
		case reapHere && !p.reapMayBlock:
			p.finish(p.reapStatus())
			return stepDone, p.status, p.statusErr
		default:
			if reapHere {
				p.startReap()
			}
			select {
			case <-p.done:
				return stepDone, p.status, p.statusErr
			default:
				return stepReaping, nil, nil
			}
		}
	}
	var progress exitProgressState
	err := p.withFd(func(fd int) (err error) {
		progress, err = exitProgress(fd)
		return err
	})
	switch {
	case err != nil:
		return stepDone, nil, err
	case progress == exitRunning:
		return stepRunning, nil, nil
	case progress == exitUnreaped:
		return stepHangup, nil, nil
	case progress == exitLater:
		return stepLater, nil, nil
	}
	status, err := p.settle(p.exitInfo())
	return stepDone, status, err
}
