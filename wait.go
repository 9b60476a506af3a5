//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// Wait waits for the process to exit, reaps it, and returns its status. Any
// number of goroutines may wait at once; all get the same status, and so do
// later calls. The process must be a child of the caller: for any other
// process Wait fails with [syscall.ECHILD].
//
// For a PidFd from [Start] or [FromProcess], Wait lets os/exec or os collect
// the exit (see there), so their state stays true. For a thread PidFd
// ([OpenThread]) Wait waits for the thread to exit and reaps nothing.
func (p *PidFd) Wait() (*ExitStatus, error) {
	return p.WaitContext(context.Background())
}

// WaitContext is [PidFd.Wait] that gives up when ctx is done, returning
// ctx.Err(). The PidFd stays usable: a later wait picks up where this one left.
func (p *PidFd) WaitContext(ctx context.Context) (*ExitStatus, error) {
	if p == nil || p.conn == nil {
		return nil, os.ErrInvalid
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if p.thread {
		return p.WaitExit(ctx) // threads are not reaped
	}
	for {
		select {
		case <-p.done:
			return p.status, p.statusErr
		default:
		}
		if p.closed.Load() {
			return nil, os.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
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
			if err != nil {
				return nil, err
			}
		}
	}
}

// TryWait reaps the process if it has exited and returns its status, or
// returns (nil, nil) at once while it is still running.
//
// For a PidFd from [Start], the status comes once os/exec has finished
// copying the child's output, as with cmd.Wait; if a grandchild keeps the
// output pipe open, TryWait waits for that too (Close interrupts it).
func (p *PidFd) TryWait() (*ExitStatus, error) {
	if p == nil || p.conn == nil {
		return nil, os.ErrInvalid
	}
	select {
	case <-p.done:
		return p.status, p.statusErr
	default:
	}
	if p.thread {
		var exited bool
		err := p.controlFunc(func(fd int) (err error) {
			exited, err = exitRecorded(fd)
			return err
		})
		if err != nil || !exited {
			return nil, err
		}
		return p.exitInfo()
	}
	var exited, reapHere bool
	err := p.controlFunc(func(fd int) (err error) {
		exited, reapHere, err = p.pollExit(fd)
		return err
	})
	if err != nil || !exited {
		return nil, err
	}
	if reapHere {
		p.startReap()
	}
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
	case p.closed.Load():
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

// pollExit reports, without blocking, whether the process has exited. A
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
		return true, true, nil
	}
	p.finish(&ExitStatus{pid: int(si.pid), status: si.waitStatus(), rusage: rusage}, nil)
	return true, false, nil
}

// startReap collects an exited child through os/exec or os in a goroutine
// of its own: cmd.Wait also waits for the child's output to be copied, which
// lasts as long as any grandchild holds the pipe, and neither a context nor
// Close may have to wait for that.
func (p *PidFd) startReap() {
	go func() { p.finish(p.reap()) }()
}

func (p *PidFd) finish(status *ExitStatus, err error) {
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

// siginfoHead is the start of siginfo_t that every use here shares;
// unix.Siginfo hides these fields. The union after the three leading ints is
// aligned like a pointer, so its fields (pid and uid first, for the members
// used here) start at byte 16 on 64-bit and at 12 on 32-bit.
type siginfoHead struct {
	signo int32
	errno int32 // si_code on MIPS, which swaps the two
	code  int32
	_     [ptrSize - 4]byte
	pid   int32
	uid   uint32
}

// siginfoChild is siginfo_t as waitid fills it for a child.
type siginfoChild struct {
	siginfoHead
	status int32
	_      [siginfoSize - 20 - ptrSize]byte
}

const (
	ptrSize     = unsafe.Sizeof(uintptr(0))
	siginfoSize = 128
)

// Both differences must be non-negative: the two types have one size.
var (
	_ [unsafe.Sizeof(siginfoChild{}) - unsafe.Sizeof(unix.Siginfo{})]byte
	_ [unsafe.Sizeof(unix.Siginfo{}) - unsafe.Sizeof(siginfoChild{})]byte
)

// codeSwapped says that siginfo_t has si_code and si_errno the other way
// round, as on MIPS.
var codeSwapped = strings.HasPrefix(runtime.GOARCH, "mips")

// si_code values for SIGCHLD (asm-generic/siginfo.h).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// waitStatus rebuilds the wait4-style status that os.ProcessState holds.
func (si *siginfoChild) waitStatus() syscall.WaitStatus {
	code := si.code
	if codeSwapped {
		code = si.errno
	}
	switch code {
	case cldExited:
		return syscall.WaitStatus(si.status&0xff) << 8
	case cldKilled:
		return syscall.WaitStatus(si.status & 0x7f)
	case cldDumped:
		return syscall.WaitStatus(si.status&0x7f | 0x80)
	}
	return syscall.WaitStatus(si.status)
}

// ExitStatus describes how a process ended. It mirrors [os.ProcessState].
type ExitStatus struct {
	pid    int
	status syscall.WaitStatus
	rusage *syscall.Rusage
}

func exitStatusOf(s *os.ProcessState) *ExitStatus {
	es := &ExitStatus{pid: s.Pid()}
	es.status, _ = s.Sys().(syscall.WaitStatus)
	es.rusage, _ = s.SysUsage().(*syscall.Rusage)
	return es
}

// Pid returns the PID the process had in the caller's PID namespace, or -1
// where that was never known: the kernel forgets a process's PID when it is
// reaped, so a status from [PidFd.WaitExit] has it only if the PidFd learned
// it before (it is -1 for a PidFd that [NewFile] made after the reaping, and
// for a process outside the caller's PID namespace).
func (s *ExitStatus) Pid() int {
	if s == nil {
		return -1
	}
	return s.pid
}

// Exited reports whether the process exited by itself (by calling exit),
// rather than being killed by a signal.
func (s *ExitStatus) Exited() bool { return s != nil && s.status.Exited() }

// ExitCode returns the process's exit code, or -1 if it was killed by a
// signal.
func (s *ExitStatus) ExitCode() int {
	if s == nil {
		return -1
	}
	return s.status.ExitStatus()
}

// Success reports whether the process exited with status 0.
func (s *ExitStatus) Success() bool { return s.Exited() && s.ExitCode() == 0 }

// Signaled reports whether the process was killed by a signal.
func (s *ExitStatus) Signaled() bool { return s != nil && s.status.Signaled() }

// Signal returns the signal that killed the process, or -1 if none did.
func (s *ExitStatus) Signal() syscall.Signal {
	if s == nil {
		return -1
	}
	return s.status.Signal()
}

// CoreDumped reports whether the process dumped core when it was killed.
func (s *ExitStatus) CoreDumped() bool { return s != nil && s.status.CoreDump() }

// Sys returns the status as a [syscall.WaitStatus].
func (s *ExitStatus) Sys() any {
	if s == nil {
		return nil
	}
	return s.status
}

// SysUsage returns the resources the process used, as a [*syscall.Rusage],
// or nil where they are unknown: reaping reports them to the parent only,
// and the kernel's record of the exit that [PidFd.WaitExit] reads for any
// other process (or a thread) holds none.
func (s *ExitStatus) SysUsage() any {
	if s == nil || s.rusage == nil {
		return nil // untyped, so that SysUsage() == nil says "unknown"
	}
	return s.rusage
}

// UserTime returns the user CPU time of the process and its waited-for
// children. It returns 0 also where the usage is unknown, which
// [ExitStatus.SysUsage] tells by returning nil.
func (s *ExitStatus) UserTime() time.Duration {
	if s == nil || s.rusage == nil {
		return 0
	}
	return time.Duration(s.rusage.Utime.Nano())
}

// SystemTime returns the system CPU time of the process and its waited-for
// children, or 0 where the usage is unknown, as for [ExitStatus.UserTime].
func (s *ExitStatus) SystemTime() time.Duration {
	if s == nil || s.rusage == nil {
		return 0
	}
	return time.Duration(s.rusage.Stime.Nano())
}

// String describes the status in the words of [os.ProcessState.String]:
// "exit status 3", "signal: killed", "signal: aborted (core dumped)".
func (s *ExitStatus) String() string {
	if s == nil {
		return "<nil>"
	}
	var text string
	switch {
	case s.status.Exited():
		text = "exit status " + strconv.Itoa(s.status.ExitStatus())
	case s.status.Signaled():
		text = "signal: " + s.status.Signal().String()
	}
	if s.status.CoreDump() {
		text += " (core dumped)"
	}
	return text
}

// WaitExit waits until the process has exited (any process, not only a
// child of the caller) and returns how it ended where the kernel can tell.
// It never reaps.
//
// Linux 6.15+ records the exit status when the process's parent reaps it
// (PIDFD_INFO_EXIT): there WaitExit also waits for the reaping, so it waits
// for as long as the parent leaves the process a zombie, or until ctx is
// done. Older kernels cannot tell how another's child ended: there WaitExit
// returns [ErrNoExitStatus] as soon as the process has exited. The kernel's
// record holds no resource usage, and no PID: see [ExitStatus.SysUsage]
// and [ExitStatus.Pid].
//
// An unreaped child of the caller would wait for itself to be reaped, so
// for a child WaitExit is [PidFd.WaitContext]: it reaps, and always knows
// the status. For a thread PidFd see [OpenThread].
func (p *PidFd) WaitExit(ctx context.Context) (*ExitStatus, error) {
	if p == nil || p.conn == nil {
		return nil, os.ErrInvalid
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !p.thread && p.isUnreapedChild() {
		return p.WaitContext(ctx)
	}
	select {
	case <-p.done:
		return p.status, p.statusErr // we reaped it ourselves
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closing:
		return nil, os.ErrClosed
	case p.waiter <- struct{}{}:
	}
	err := p.park(ctx, exitRecorded)
	<-p.waiter
	if err != nil {
		return nil, err
	}
	return p.exitInfo()
}

// isUnreapedChild reports whether the process is a child of the caller that
// nobody has reaped yet, or whose exit a waiter on this PidFd has seen: it
// is being reaped, or has been, here. It asks under p.mu, which a waiter
// holds from the waitid that sees the exit to its record in exitSeen, so
// it cannot take our own child, reaped by os/exec a moment ago and not yet
// handed to the waiters, for another's.
func (p *PidFd) isUnreapedChild() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitSeen {
		return true
	}
	err := p.controlFunc(func(fd int) error {
		var si siginfoChild
		return waitid(fd, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	})
	return err == nil
}

// exitRecorded reports whether the process has exited and, on kernels that
// record exit statuses, been reaped: a pidfd polls POLLIN once its process
// has exited, and POLLIN|POLLHUP once it has been reaped.
func exitRecorded(fd int) (bool, error) {
	revents, err := pollNow(fd)
	switch {
	case err != nil || revents&unix.POLLIN == 0:
		return false, err
	case revents&unix.POLLHUP != 0:
		return true, nil
	}
	f, err := kernelFeatures()
	return !f.ExitInfo, err
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
	c := p.getCall()
	defer p.putCall(c)
	var known bool
	err := p.control(c, func(c *fdCall, fd int) {
		known, c.err = c.getInfo(fd, unix.PIDFD_INFO_EXIT)
	})
	switch {
	case !known && err == nil, errors.Is(err, unix.ENODATA), errors.Is(err, os.ErrProcessDone):
		return nil, ErrNoExitStatus
	case err != nil:
		return nil, err
	}
	pid := p.pid // the kernel clears info.Pid once the process is reaped
	if pid <= 0 && int32(c.info.Pid) > 0 {
		pid = int(int32(c.info.Pid))
	}
	if pid <= 0 {
		pid = -1 // never known here: 0 is no PID either
	}
	return &ExitStatus{pid: pid, status: syscall.WaitStatus(c.info.Exit_code)}, nil
}
