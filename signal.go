package pidfd

import "os"

// Signal sends sig to the process (pidfd_send_signal), or to the thread a
// thread PidFd names. Once the process has been reaped it fails with
// [os.ErrProcessDone] instead of reaching whoever holds the PID by then
// (to its process group, see below).
// Signal 0 sends nothing and checks that the process still exists. A sig
// that is not a [syscall.Signal] the kernel knows is [syscall.EINVAL], and
// so are contradictory options (two scopes, or two values): what no system
// call could send is refused before one is made.
//
// Options change where the signal goes and what it carries:
//
//   - [ToThread], [ToThreadGroup] and [ToProcessGroup] choose the scope: the
//     thread the PidFd names, its whole process, or the process group it
//     leads (Linux 6.9+; [errors.ErrUnsupported] before). At most one.
//   - [WithValue] sends the signal as sigqueue(3) does, with a value.
//
// A signal to the process group reaches the group that the process leads.
// The kernel names the group by the process itself, not by a number, so the
// signal cannot reach a group that a recycled PID happens to lead; but it
// signals the group whose ID is the process's PID, whether or not the
// process is in it. So Signal first checks that the process leads its group
// now (its group ID is its PID), and otherwise refuses with
// [ErrNotGroupLeader], sending nothing: a member that does not lead its
// group would reach no group, and a former leader that moved to another
// group would reach the group it left. To signal a member's group, signal
// through a PidFd of the group's leader (a child started with
// SysProcAttr.Setpgid leads a group of its own). A thread PidFd leads a
// group only if it names the first thread of a leading process. The check
// and the signal are two steps: a leader that leaves its group between them
// is racing the caller, and the signal then reaches the group it led when
// the call began, never any other.
//
// A leader that has exited still names its group: while it is a zombie
// (see [PidFd.WaitExited]), and once reaped, for as long as a member is
// left, since the group keeps the ID and no other group can take it
// meanwhile. So a supervisor can end what a leader left behind; once no
// member is left, the signal fails with [os.ErrProcessDone].
func (p *PidFd) Signal(sig os.Signal, opts ...SignalOption) error {
	return p.signal(sig, opts)
}

// Kill sends SIGKILL to the process.
func (p *PidFd) Kill() error {
	return p.Signal(os.Kill)
}

// KillAndRelease sends SIGKILL and then has the kernel reclaim the
// process's memory at once (process_mrelease, Linux 5.15+) instead of when
// the process gets around to exiting, as out-of-memory killers do. The
// release is best effort: where the kernel cannot do it yet, or has no
// process_mrelease (before 5.15), the kill alone is sent, the memory goes
// as the process exits, and KillAndRelease returns nil. It fails if the
// kill fails, or if the kernel refuses the release for another reason
// (EPERM from a sandbox's seccomp filter, say); the kill stands then.
func (p *PidFd) KillAndRelease() error {
	return p.killAndRelease()
}

// A SignalOption changes where [PidFd.Signal] sends a signal or what the
// signal carries. The zero SignalOption changes nothing.
type SignalOption struct {
	scope    signalScope
	value    int
	hasValue bool
}

// signalScope is one of the kernel's PIDFD_SIGNAL_* flags, or 0 for the
// scope the pidfd was opened with.
type signalScope int

const (
	scopeThread       signalScope = 1 // PIDFD_SIGNAL_THREAD
	scopeThreadGroup  signalScope = 2 // PIDFD_SIGNAL_THREAD_GROUP
	scopeProcessGroup signalScope = 4 // PIDFD_SIGNAL_PROCESS_GROUP
)

// ToThread sends the signal to the thread the PidFd names only: for a
// process PidFd, its first thread (Linux 6.9+).
func ToThread() SignalOption { return SignalOption{scope: scopeThread} }

// ToThreadGroup sends the signal to the whole process, even through a
// thread PidFd (Linux 6.9+).
func ToThreadGroup() SignalOption { return SignalOption{scope: scopeThreadGroup} }

// ToProcessGroup sends the signal to every process in the process group
// that the process leads, or led until it was reaped, and refuses with
// [ErrNotGroupLeader] if it leads none (Linux 6.9+); see [PidFd.Signal].
func ToProcessGroup() SignalOption { return SignalOption{scope: scopeProcessGroup} }

// WithValue sends the signal carrying v, as sigqueue(3) does: the receiver
// finds si_code SI_QUEUE, v in si_value, and the caller's PID and real user
// ID in si_pid and si_uid (the kernel translates them for a receiver in
// other namespaces, and sets si_pid to 0 where the receiver's PID namespace
// cannot see the caller). v fills the pointer-sized si_value.sival_ptr; on
// little-endian machines sival_int holds its low 32 bits.
//
// Only a receiver that reads siginfo (sigwaitinfo, signalfd, an SA_SIGINFO
// handler in C) sees the value: a Go program that receives the signal
// through os/signal gets the signal alone. Signal 0 with a value checks,
// as without, that the process exists.
func WithValue(v int) SignalOption { return SignalOption{value: v, hasValue: true} }
