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
	return p.openNamespace(ns)
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

// Features says which pidfd facilities the running kernel offers this
// process (a seccomp filter can take some away). Everything in the package
// works without them, through /proc, except where a method says otherwise.
type Features struct {
	NonblockOpen    bool // pidfd_open(PIDFD_NONBLOCK), Linux 5.10
	PeerPidfd       bool // SO_PEERPIDFD on unix sockets, Linux 6.5
	Pidfs           bool // pidfs: unique process IDs (ID), Linux 6.9
	ThreadPidfds    bool // pidfd_open(PIDFD_THREAD), Linux 6.9
	NamespaceIoctls bool // PIDFD_GET_*_NAMESPACE, Linux 6.11
	GetInfo         bool // ioctl(PIDFD_GET_INFO), Linux 6.13
	FileHandles     bool // name_to_handle_at on pidfds, Linux 6.13
	ExitInfo        bool // PIDFD_INFO_EXIT, Linux 6.15 (judged by the kernel's version)
}

// Close closes the pidfd, as [os.File.Close] does: the first call closes
// it, and wakes every goroutine waiting on it, which returns
// [os.ErrClosed]; a later call returns os.ErrClosed, and a call on a nil
// PidFd [os.ErrInvalid]. Closing does not affect the process.
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
