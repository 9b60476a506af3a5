//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func (p *PidFd) signal(sig os.Signal, opts []SignalOption) error {
	s, o, err := checkSignal(sig, opts)
	if err != nil {
		return err
	}
	if o == (SignalOption{}) {
		return p.withFd(func(fd int) error {
			return wrapErr("pidfd_send_signal", unix.PidfdSendSignal(fd, s, nil, 0))
		})
	}
	var info *unix.Siginfo
	if o.hasValue {
		info = queuedInfo(s, o.value)
	}
	return p.sendScoped(s, info, o.scope)
}

// checkSignal refuses what no system call could send, before making one,
// and merges opts into one: its error is plain EINVAL, as the kernel
// answers for a signal number it does not know, so that one check serves
// callers whichever refused.
func checkSignal(sig os.Signal, opts []SignalOption) (unix.Signal, SignalOption, error) {
	var o SignalOption
	for _, opt := range opts {
		switch {
		case opt.scope&^(scopeThread|scopeThreadGroup|scopeProcessGroup) != 0:
			return 0, o, fmt.Errorf("pidfd: unknown signal scope %d: %w", opt.scope, unix.EINVAL)
		case opt.scope != 0 && o.scope != 0:
			return 0, o, fmt.Errorf("pidfd: more than one signal scope: %w", unix.EINVAL)
		case opt.hasValue && o.hasValue:
			return 0, o, fmt.Errorf("pidfd: more than one signal value: %w", unix.EINVAL)
		}
		o.scope |= opt.scope
		if opt.hasValue {
			o.value, o.hasValue = opt.value, true
		}
	}
	s, ok := sig.(syscall.Signal)
	switch {
	case !ok:
		return 0, o, fmt.Errorf("pidfd: %v (%T) is not a syscall.Signal: %w", sig, sig, unix.EINVAL)
	case s < 0 || s > math.MaxInt32: // the kernel would keep only the low 32 bits
		return 0, o, fmt.Errorf("pidfd: no signal has the number %d: %w", int(s), unix.EINVAL)
	}
	return unix.Signal(s), o, nil
}

// sendScoped sends s, with info if not nil, by pidfd_send_signal with
// scope's flag; a signal to the process group only while the process leads
// it, or once it has been reaped (see PidFd.Signal).
func (p *PidFd) sendScoped(s unix.Signal, info *unix.Siginfo, scope signalScope) error {
	const op = "Signal to the process group"
	var notLeader error // says so if the process is still unreaped
	if scope == scopeProcessGroup {
		pid, err := p.queryPID()
		switch {
		case errors.Is(err, os.ErrProcessDone):
			// Reaped: its pidfd still names the group it led.
		case err != nil:
			return doneErr(op, err)
		default:
			// By number: the answer is the process's own only if it
			// still holds the PID afterwards, which the proof below
			// checks. ESRCH: nobody holds it, so it has been reaped.
			pgid, err := unix.Getpgid(pid)
			switch {
			case err == unix.ESRCH:
			case err != nil:
				return wrapErr("getpgid", err)
			case pgid != pid:
				notLeader = fmt.Errorf("%w (PID %d is in group %d)", ErrNotGroupLeader, pid, pgid)
			}
		}
	}
	var refused error
	err := p.withFd(func(fd int) error {
		if notLeader != nil {
			switch alive := provenAlive(fd); {
			case alive == nil:
				refused = notLeader
				return nil
			case !errors.Is(alive, os.ErrProcessDone):
				refused = alive
				return nil
			}
			// Reaped since: the group it led, below.
		}
		// The kernel signals the group whose ID is the pidfd's process's
		// PID, by the kernel's struct pid that the pidfd holds: a reaped
		// leader's group keeps that ID while any member is left, and no
		// other group can have it meanwhile.
		err := unix.PidfdSendSignal(fd, s, info, int(scope))
		if err == unix.ESRCH && scope == scopeProcessGroup {
			// Its group is empty: the process has been reaped and no
			// member is left, or it has left the group since the check.
			if refused = provenAlive(fd); refused == nil {
				refused = ErrNotGroupLeader
			}
			refused = doneErr(op, refused)
		}
		return err
	})
	if refused != nil {
		return refused
	}
	return scopedErr(err, scope)
}

// queuedInfo is the siginfo that sigqueue(3) would send with s and value.
func queuedInfo(s unix.Signal, value int) *unix.Siginfo {
	info := &siginfoQueue{
		siginfoHead: siginfoHead{signo: int32(s), pid: int32(os.Getpid()), uid: uint32(os.Getuid())},
		value:       uintptr(value),
	}
	if codeSwapped {
		info.errno = siQueue
	} else {
		info.code = siQueue
	}
	return (*unix.Siginfo)(unsafe.Pointer(info))
}

// scopedErr wraps the error of a pidfd_send_signal: before 6.9 the kernel
// knows no scope flags and answers EINVAL for any. Only the scopes'
// capability is asked (it came with thread pidfds).
func scopedErr(err error, scope signalScope) error {
	if err == unix.EINVAL && scope != 0 {
		return threadPidFds.explain("pidfd_send_signal", err)
	}
	return wrapErr("pidfd_send_signal", err)
}

func (p *PidFd) killAndRelease() error {
	if err := p.Kill(); err != nil {
		return err
	}
	err := p.withFd(func(fd int) error {
		if _, _, errno := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(fd), 0, 0); errno != 0 {
			return errno
		}
		return nil
	})
	switch err {
	case nil, unix.ESRCH: // ESRCH: it has already let go of its memory
		return nil
	case unix.EINVAL, unix.ENOSYS:
		// EINVAL: the kernel does not (yet) count the process as dying,
		// for instance while its memory is still shared with one that is
		// not (seen on 6.1 right after SIGKILL). ENOSYS: before 5.15. The
		// kill stands; the memory goes as the process exits.
		return nil
	}
	return wrapErr("process_mrelease", err)
}
