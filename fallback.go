//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/procfs"
)

// Everything read from /proc lives here. /proc is read by PID, and a PID may
// have been given to another process since the pidfd was made, so every read
// ends by proving that the pidfd's process is still alive and still holds the
// PID that was read; otherwise the answer is os.ErrProcessDone, never the data
// of another process.

const fdinfoPrefix = "/proc/self/fdinfo/"

// procBuffer holds the path and the contents of one small /proc file, so
// that a fallback read allocates nothing.
type procBuffer struct {
	path [len(fdinfoPrefix) + 24]byte
	data [512]byte
}

// fdinfoPID learns the process's PID from /proc/self/fdinfo/FD, the
// fallback for PIDFD_GET_INFO before Linux 6.13. fd must stay pinned (the
// caller runs inside RawConn.Control) so that the number names our pidfd.
func (b *procBuffer) fdinfoPID(fd int) (int, error) {
	if err := procIsOurs(); err != nil {
		return 0, err
	}
	n, err := b.readFdinfo(fd)
	if err != nil {
		return 0, err
	}
	pid, ok := procfs.FdinfoPID(b.data[:n])
	if !ok {
		return 0, errNoPIDField
	}
	if pid, err = visiblePID(pid, nil); err != nil {
		return 0, err
	}
	// Before 5.10 fdinfo keeps the old number after the process is reaped;
	// signal 0 fails with ESRCH exactly when it has been.
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err == unix.ESRCH {
		return 0, wrapErr("pidfd_send_signal", err)
	}
	return pid, nil
}

var errNoPIDField = errors.New("pidfd: /proc/self/fdinfo shows no Pid field")

// procIsOurs checks, once per process, that /proc shows PIDs of this
// process's own PID namespace. A process in a nested namespace may see the
// parent's /proc (a container without its own /proc mount): the numbers
// there name other processes here. Our own NSpid line lists our PID from
// /proc's namespace down to our own, so a single entry means they are one.
var procIsOurs = sync.OnceValue(func() error {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("pidfd: /proc is needed on this kernel: %w", err)
	}
	if levels, ok := procfs.NSpidLevels(status); ok && levels != 1 {
		return fmt.Errorf("%w: /proc is mounted from an ancestor PID namespace, so its PIDs are not ours "+
			"(mount a /proc of this namespace, or use Linux 6.13+)", errors.ErrUnsupported)
	}
	return nil
})

// readFdinfo reads /proc/self/fdinfo/FD into b.data with raw system calls:
// unix.Open would copy the path to the heap.
func (b *procBuffer) readFdinfo(fd int) (int, error) {
	path := append(b.path[:0], fdinfoPrefix...)
	path = strconv.AppendInt(path, int64(fd), 10)
	path = append(path, 0)
	atFDCWD := unix.AT_FDCWD
	r, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&path[0])),
		unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return 0, os.NewSyscallError("open "+fdinfoPrefix, errno)
	}
	file := int(r)
	defer unix.Close(file)
	for {
		n, err := unix.Read(file, b.data[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("read "+fdinfoPrefix, err)
		}
		return n, nil
	}
}

// procSelfFd is the /proc path that names descriptor fd of this process.
func procSelfFd(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}
