package pidfd

import (
	"os"
	"strconv"
	"time"
)

// ExitStatus describes how a process ended. It mirrors [os.ProcessState],
// and says where it does not know something: a status read from the
// kernel's record of another's child has no resource usage, and may have no
// PID (see [ExitStatus.Pid] and [ExitStatus.SysUsage]).
type ExitStatus struct {
	pid          int
	code         int       // exit code, or -1 if the process did not exit by itself
	signal       os.Signal // the signal that killed it, or nil
	core         bool
	sys          any // what Sys returns: a syscall.WaitStatus on Linux
	usage        any // what SysUsage returns: a *syscall.Rusage, or nil where unknown
	user, system time.Duration
}

// Pid returns the PID the process had in the caller's PID namespace, or -1
// where that was never known. The kernel forgets a process's PID when it is
// reaped, so a status from the kernel's record (for a process that is not
// the caller's child, see [PidFd.Wait]) has it only if the PidFd learned it
// before: it is -1 for a PidFd that [NewFile] made after the reaping, and
// for a process outside the caller's PID namespace.
func (s *ExitStatus) Pid() int {
	if s == nil {
		return -1
	}
	return s.pid
}

// Exited reports whether the process exited by itself (by calling exit),
// rather than being killed by a signal.
func (s *ExitStatus) Exited() bool { return s != nil && s.code >= 0 }

// ExitCode returns the process's exit code, or -1 if it was killed by a
// signal.
func (s *ExitStatus) ExitCode() int {
	if s == nil {
		return -1
	}
	return s.code
}

// Success reports whether the process exited with status 0.
func (s *ExitStatus) Success() bool { return s != nil && s.code == 0 }

// Signaled reports whether the process was killed by a signal.
func (s *ExitStatus) Signaled() bool { return s != nil && s.signal != nil }

// Signal returns the signal that killed the process, a [syscall.Signal], or
// nil if the process was not killed by a signal.
func (s *ExitStatus) Signal() os.Signal {
	if s == nil {
		return nil
	}
	return s.signal
}

// CoreDumped reports whether the process dumped core when it was killed.
func (s *ExitStatus) CoreDumped() bool { return s != nil && s.core }

// Sys returns the status as a [syscall.WaitStatus].
func (s *ExitStatus) Sys() any {
	if s == nil {
		return nil
	}
	return s.sys
}

// SysUsage returns the resources the process used, as a [*syscall.Rusage],
// or nil where they are unknown: reaping reports them to the parent only,
// and the kernel's record of the exit, which [PidFd.Wait] reads for any
// other process (or a thread), holds none.
func (s *ExitStatus) SysUsage() any {
	if s == nil {
		return nil
	}
	return s.usage
}

// UserTime returns the user CPU time of the process and its waited-for
// children. It returns 0 also where the usage is unknown, which
// [ExitStatus.SysUsage] tells by returning nil.
func (s *ExitStatus) UserTime() time.Duration {
	if s == nil {
		return 0
	}
	return s.user
}

// SystemTime returns the system CPU time of the process and its waited-for
// children, or 0 where the usage is unknown, as for [ExitStatus.UserTime].
func (s *ExitStatus) SystemTime() time.Duration {
	if s == nil {
		return 0
	}
	return s.system
}

// String describes the status in the words of [os.ProcessState.String]:
// "exit status 3", "signal: killed", "signal: aborted (core dumped)".
func (s *ExitStatus) String() string {
	if s == nil {
		return "<nil>"
	}
	var text string
	switch {
	case s.code >= 0:
		text = "exit status " + strconv.Itoa(s.code)
	case s.signal != nil:
		text = "signal: " + s.signal.String()
	}
	if s.core {
		text += " (core dumped)"
	}
	return text
}
