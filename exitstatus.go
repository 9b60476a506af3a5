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
	dump         Coredump // what the kernel said about a core dump
	dumpKnown    bool     // whether it said anything
	sys          any      // what Sys returns: a syscall.WaitStatus on Linux
	usage        any      // what SysUsage returns: a *syscall.Rusage, or nil where unknown
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

// CoreDumped reports whether the process dumped core when it was killed,
// as the wait status says (WCOREDUMP): for the caller's children, and for
// any process where the status is the kernel's record of its exit (Linux
// 6.15+). A dump that the kernel started but that was not taken (a
// coredump socket with nothing listening, or whose server refused it) is
// not one, though [Coredump.Dumped] says that it was started.
func (s *ExitStatus) CoreDumped() bool { return s != nil && s.core }

// A Coredump is what the kernel reported about whether a process that
// ended was dumped to a core file: Linux 6.16+ records it for every process
// a pidfd names (PIDFD_INFO_COREDUMP), not only for the caller's children,
// and keeps it after the reaping. See [ExitStatus.Coredump].
type Coredump struct {
	// Dumped reports that the kernel started a dump of the process's core
	// and handed it to the program or socket that core_pattern names
	// (PIDFD_COREDUMPED). It says nothing of whether the dump was taken:
	// a socket with nothing listening, or a server that refuses the dump,
	// has it too. [ExitStatus.CoreDumped] says whether a core was dumped.
	Dumped bool
	// Skipped reports that the process was not dumpable
	// (PIDFD_COREDUMP_SKIP: prctl PR_SET_DUMPABLE 0, or a changed
	// identity while fs.suid_dumpable is 0).
	Skipped bool
	// AsUser and AsRoot say whose the dump was: the process's user's
	// (PIDFD_COREDUMP_USER), or root's only, as sensitive
	// (PIDFD_COREDUMP_ROOT, fs.suid_dumpable 2).
	AsUser, AsRoot bool
	// Signal is the signal that caused the dump, a [syscall.Signal], or
	// nil where the kernel does not say (PIDFD_INFO_COREDUMP_SIGNAL, 7.x).
	Signal os.Signal
	// Code is the si_code of that signal (SEGV_MAPERR, SI_USER, ...),
	// valid where HasCode is set (PIDFD_INFO_COREDUMP_CODE, 7.x).
	Code    int
	HasCode bool
}

// Coredump returns what the kernel recorded about a core dump of the
// process, and whether it could tell. A process that exited by itself, or
// was killed by a signal that does not dump core (SIGKILL, SIGTERM), has a
// zero Coredump, and ok. For one killed by a signal that dumps core, ok
// says that the kernel kept a record of the dump: Linux 6.16+
// ([Features].Coredumps) keeps one only for a dump to a program given the
// process's pidfd (core_pattern "|program ... %F") or to a coredump
// socket, none for a core written to a file (an answer that holds no bit
// of the record is none), and none where the PidFd was closed while
// os/exec reaped the child. Elsewhere ok is false.
// [ExitStatus.CoreDumped] answers from the wait status instead.
func (s *ExitStatus) Coredump() (dump Coredump, ok bool) {
	if s == nil {
		return Coredump{}, false
	}
	return s.dump, s.dumpKnown
}

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
// "exit status 3", "signal: killed", "signal: aborted (core dumped)", the
// last as [ExitStatus.CoreDumped] says. Where the kernel reported that the
// process was not dumpable, it says "(core dump skipped)".
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
	switch {
	case s.core:
		text += " (core dumped)"
	case s.dump.Skipped:
		text += " (core dump skipped)"
	}
	return text
}
