package pidfd

import (
	"errors"
	"syscall"
)

// ErrNotPidFd reports that a file descriptor handed to [NewFile] does not
// refer to a process (it is a pipe, an eventfd, a regular file, or closed).
var ErrNotPidFd = errors.New("pidfd: file descriptor is not a pidfd")

// ErrNotInPIDNamespace reports that the process lives in a PID namespace the
// caller cannot see, so it has no PID from the caller's point of view. The
// process may well be alive, and the pidfd still polls readable when it
// exits, but the kernel refuses to signal it from here (EINVAL).
var ErrNotInPIDNamespace = errors.New("pidfd: process is not visible in this PID namespace")

// A *PidFd is a syscall.Conn: its SyscallConn gives raw access to the
// descriptor with the same guarantees the package's own calls have.
var _ syscall.Conn = (*PidFd)(nil)
