package pidfd

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrNotPidFd reports that a file descriptor handed to [NewFile] does not
// refer to a process (it is a pipe, an eventfd, a regular file, or closed).
var ErrNotPidFd = errors.New("pidfd: file descriptor is not a pidfd")

// ErrNotInPIDNamespace reports that the process lives in a PID namespace the
// caller cannot see, so it has no PID from the caller's point of view. The
// process may well be alive, and the pidfd still polls readable when it
// exits, but the kernel refuses to signal it from here (EINVAL).
// [PidFd.PPID] reports it for a parent that has no PID here.
var ErrNotInPIDNamespace = errors.New("pidfd: process is not visible in this PID namespace")

// ErrNotGroupLeader reports that a signal to a process group was refused
// because the process does not lead its group: the kernel names a group by
// its leader, and a member's or a former leader's pidfd would reach no
// group, or the group it left. Signal through a PidFd of the group's leader
// instead; see [ToProcessGroup].
var ErrNotGroupLeader = errors.New("pidfd: process does not lead its process group")

// ErrNoExitStatus reports that a process has exited but that the kernel
// cannot tell how: before Linux 6.15 only the parent that reaps a process
// learns its exit status.
var ErrNoExitStatus = errors.New("pidfd: process exited; the kernel cannot tell its exit status")

// A *PidFd is a syscall.Conn: its SyscallConn gives raw access to the
// descriptor with the same guarantees the package's own calls have.
var _ syscall.Conn = (*PidFd)(nil)

// PidFd is an open pidfd: a file descriptor that names one process for as
// long as it is open, even after the process has exited and its PID has been
// given to another. Only Linux has pidfds: elsewhere every constructor
// returns [errors.ErrUnsupported].
//
// The descriptor is non-blocking and registered with Go's runtime poller.
// Every system call on it holds it open against Close, as os.File's own
// calls do, so a Close racing any other method can never make that method
// act on a reused descriptor number: Close returns at once, and the
// descriptor closes when the last call on it returns. A PidFd is safe for
// concurrent use by multiple goroutines.
type PidFd struct {
	handle // what the system holds
}

// Open returns a PidFd for the process with the given PID. If the process
// is a child of the caller, [PidFd.Wait] reaps it; any other process is left
// for its parent to reap.
//
// A PID names whichever process holds it when pidfd_open runs. Unless pid is
// an unreaped child of the caller (or the caller itself), the process the
// caller meant may already have exited and the PID been reused; prefer
// [Start], [FromProcess] or [NewFile], which have no such window.
//
// The ID of a thread other than its process's first is no PID: Open
// refuses it with [syscall.ENOENT] and an error that says so (use
// [OpenThread] for a thread).
func Open(pid int) (*PidFd, error) { return open(pid) }

// Self returns a PidFd for the calling process, which nobody reaps through
// it. A wait on it cannot see its own exit: it returns only when its
// context ends or the PidFd is closed.
func Self() (*PidFd, error) { return Open(os.Getpid()) }

// NewFile returns a PidFd that takes ownership of fd, a pidfd obtained
// elsewhere (for example received over a unix socket). As with [Open],
// [PidFd.Wait] reaps the process if it is a child of the caller, and no
// other. It fails with [ErrNotPidFd] if fd is not a pidfd. On any error fd
// stays the caller's, open and unchanged.
//
// NewFile learns the process's PID at once, for the /proc fallbacks (before
// Linux 6.13 from /proc/self/fdinfo). If it cannot for a passing reason
// (the process is out of descriptors, say), NewFile returns that error
// rather than a PidFd that would never know the PID; call it again later.
//
// A pidfd must be non-blocking for the runtime poller. If fd is blocking,
// NewFile sets O_NONBLOCK on it; that flag belongs to the open file
// description, so every other descriptor sharing it (a dup, or the sender's
// copy of a descriptor passed over a socket) becomes non-blocking too.
func NewFile(fd uintptr) (*PidFd, error) { return newFile(fd) }

// Fd returns the descriptor number, or ^uintptr(0) if the PidFd is closed.
// The number is only valid until Close; use [PidFd.SyscallConn] for calls
// that must not race with Close.
//
// The pidfds the package makes itself (all but those given to [NewFile])
// take numbers from 1024 up where RLIMIT_NOFILE lets them, so that they
// leave the low numbers to the files a program hands its children (see
// [StartProcess]). Such a number is beyond what select(2) takes.
func (p *PidFd) Fd() uintptr { return p.fd() }

// SyscallConn returns a raw connection to the descriptor, so that a PidFd is
// a [syscall.Conn]. Calls made through its Control method cannot race with
// Close.
func (p *PidFd) SyscallConn() (syscall.RawConn, error) { return p.syscallConn() }

// PID returns the process's PID in the caller's PID namespace. It fails with
// [os.ErrProcessDone] once the process has been reaped, and with
// [ErrNotInPIDNamespace] if the process is not visible from here. A child
// from [StartProcessAutoKill], which the kernel reaps itself as it exits,
// keeps its PID until a wait has returned its status, as any other child
// does until it is waited for; unlike a zombie's, that number may by then
// name another process, since the kernel has reaped the child.
//
// The PID is only a name for the moment: to act on the process, use the
// PidFd, not the number.
func (p *PidFd) PID() (int, error) {
	pid, err := p.queryPID()
	return pid, doneErr("PID", err)
}

// Creds are a process's user and group IDs, as the kernel sees them from
// the caller's user namespace.
type Creds struct {
	RUID, EUID, SUID, FSUID uint32 // real, effective, saved, filesystem
	RGID, EGID, SGID, FSGID uint32
}

// Namespace is a kind of Linux namespace.
type Namespace int

// The namespace kinds a process has. The ForChildren kinds are the PID and
// time namespaces that the process's future children will be born into.
const (
	NamespaceCgroup Namespace = iota + 1
	NamespaceIPC
	NamespaceMount
	NamespaceNet
	NamespacePID
	NamespacePIDForChildren
	NamespaceTime
	NamespaceTimeForChildren
	NamespaceUser
	NamespaceUTS
)

var namespaceNames = [...]string{
	NamespaceCgroup:          "cgroup",
	NamespaceIPC:             "ipc",
	NamespaceMount:           "mnt",
	NamespaceNet:             "net",
	NamespacePID:             "pid",
	NamespacePIDForChildren:  "pid_for_children",
	NamespaceTime:            "time",
	NamespaceTimeForChildren: "time_for_children",
	NamespaceUser:            "user",
	NamespaceUTS:             "uts",
}

func (ns Namespace) valid() bool {
	return ns >= NamespaceCgroup && ns <= NamespaceUTS
}

// String returns the namespace's name in /proc/PID/ns, such as "net" or
// "pid_for_children".
func (ns Namespace) String() string {
	if !ns.valid() {
		return fmt.Sprintf("Namespace(%d)", int(ns))
	}
	return namespaceNames[ns]
}

// OpenNamespace opens the process's namespace of the given kind, as opening
// /proc/PID/ns/NAME would (the file is named after the kind): by ioctl on
// Linux 6.11+, else through that very file, verified to be the process's
// own. The caller owns the returned file.
//
// A kind the kernel was built without gives [errors.ErrUnsupported]; a
// process the caller may not inspect (ptrace access rules), EPERM or EACCES.
func (p *PidFd) OpenNamespace(ns Namespace) (*os.File, error) {
	f, err := p.openNamespace(ns)
	return f, doneErr("OpenNamespace", err)
}

// Setns moves the calling thread into the process's namespaces of the given
// kinds, all at once where the kernel can (setns with a pidfd, Linux 5.8+).
// Before 5.8 it opens each namespace through /proc/PID/ns, verified, and
// enters them one after the other: an error there can leave the thread in
// some of them.
//
// Namespaces belong to threads, and Go moves goroutines between threads: call
// [runtime.LockOSThread] first, and do not unlock the thread afterwards
// unless you have moved it back, so that it exits with the goroutine instead
// of running others in the wrong namespaces. A Go program always has several
// threads, and the kernel lets no such process enter a user or mount
// namespace (EINVAL) or a time namespace (EUSERS): Setns refuses those kinds
// before entering anything. The ForChildren kinds cannot be entered on their
// own (EINVAL): entering [NamespacePID] sets the PID namespace for children.
// Setns with no kinds fails with EINVAL, as setns(2) does.
func (p *PidFd) Setns(kinds ...Namespace) error {
	return p.setns(kinds)
}

// doneErr names op, the method the caller called, in err where err says
// that the process is gone: the calls the package made to learn it (an
// ioctl, a /proc read) are the package's own business.
func doneErr(op string, err error) error {
	if errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pidfd: %s: %w", op, os.ErrProcessDone)
	}
	return err
}

// Close closes the pidfd, as [os.File.Close] does: the first call closes
// it, and wakes every goroutine waiting on it, which returns
// [os.ErrClosed]; a later call returns os.ErrClosed, and a call on a nil
// PidFd [os.ErrInvalid]. Closing does not affect the process. A child from
// [StartProcess] whose exit no wait has collected would be left for nothing
// else to reap: the package reaps it when it exits, keeping a descriptor of
// it (and, while it runs, a goroutine parked without a thread) until then.
func (p *PidFd) Close() error {
	if p == nil {
		return os.ErrInvalid
	}
	return p.close()
}

// GetFd returns a duplicate of the process's file descriptor fd
// (pidfd_getfd, Linux 5.6+), close-on-exec. The caller needs ptrace rights
// over the process (PTRACE_MODE_ATTACH_REALCREDS): EPERM otherwise.
func (p *PidFd) GetFd(fd int) (*os.File, error) {
	return p.getFd(fd)
}
