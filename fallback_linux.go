//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
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
// that a fallback read allocates nothing. The fields a fallback needs sit in
// the first lines of each file it reads, well within data.
type procBuffer struct {
	path [64]byte
	data [512]byte
}

// fdinfoPID learns the process's PID from /proc/self/fdinfo/FD, the
// fallback for PIDFD_GET_INFO before Linux 6.13. fd must stay pinned (see
// PidFd.pin) so that the number names our pidfd.
func fdinfoPID(fd int) (int, error) {
	if err := procIsOurs(); err != nil {
		return 0, err
	}
	var b procBuffer
	pid, err := visiblePID(b.fdinfoPIDField(fd))
	if err != nil {
		return 0, err
	}
	// Before 5.10 fdinfo keeps the old number after the process is reaped.
	if err := provenAlive(fd); err != nil {
		return 0, err
	}
	return pid, nil
}

// fdinfoPIDField reads the Pid field of the pidfd's fdinfo as it stands:
// -1 once the process is reaped (Linux 5.10+), 0 outside our namespace.
func (b *procBuffer) fdinfoPIDField(fd int) (int, error) {
	path := strconv.AppendInt(append(b.path[:0], fdinfoPrefix...), int64(fd), 10)
	n, err := b.read(path)
	if err != nil {
		return 0, err
	}
	pid, ok := procfs.FdinfoPID(b.data[:n])
	if !ok {
		return 0, errNoPIDField
	}
	return pid, nil
}

var errNoPIDField = errors.New("pidfd: /proc/self/fdinfo shows no Pid field")

// inProcDir is the one way the package uses /proc/PID: every fallback
// goes through it. pid is the PID the pidfd fd's process had when the PidFd
// was made. inProcDir refuses a /proc of another PID namespace and a PID
// that names nothing here (0: not visible; -1: reaped), calls use with the
// path /proc/PID/name (/proc/PID if name is empty), and then proves that
// the process still lives: a live process keeps its PID, so what use found
// there was its own. If the proof fails, inProcDir calls discard (if not
// nil) to throw away what use kept, and returns the proof's error, never
// use's: whatever use found belonged to another process, or none.
func (b *procBuffer) inProcDir(fd, pid int, name string, use func(path []byte) error, discard func()) error {
	if err := procIsOurs(); err != nil {
		return err
	}
	if _, err := visiblePID(pid, nil); err != nil {
		return err
	}
	path := strconv.AppendInt(append(b.path[:0], "/proc/"...), int64(pid), 10)
	if name != "" {
		path = append(append(path, '/'), name...)
	}
	useErr := use(path)
	if err := provenAlive(fd); err != nil {
		if discard != nil {
			discard()
		}
		return err
	}
	return useErr
}

// readVerified reads /proc/PID/name through inProcDir.
func (b *procBuffer) readVerified(fd, pid int, name string) ([]byte, error) {
	var data []byte
	err := b.inProcDir(fd, pid, name, func(path []byte) error {
		n, err := b.read(path)
		data = b.data[:n]
		if err == nil && n == len(b.data) {
			// It may go on (a long cgroup path): read it whole, allocating.
			data, err = os.ReadFile(string(path))
		}
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// provenAlive proves that the pidfd's process (or thread) has not been
// reaped, so that a PID read or used before the call was still its own.
//
// The proof must not fail open: a sandbox may deny pidfd_send_signal
// (EPERM, ENOSYS) or even fake its success, and "not ESRCH" then says
// nothing. A pidfd polls readable once its process has exited (a thread
// pidfd once its thread has), and only an exited process can be reaped, so
// an unreadable pidfd is the proof. For an exited process, or where poll
// cannot answer, fdinfo's Pid field (-1 once reaped) or signal 0 tell a
// zombie from a reaped process; where neither can, the answer is
// os.ErrProcessDone, never a guess.
func provenAlive(fd int) error {
	revents, pollErr := pollNow(fd)
	if pollErr == nil && revents&unix.POLLIN == 0 {
		return nil
	}
	// fdinfo's Pid field turns -1 once the process is reaped from 5.5
	// (and 5.4.294); before, the stale number stays. No call can probe it
	// without a reaped process, so the package trusts it where
	// PIDFD_NONBLOCK works (5.10+). An unfinished probe (EMFILE) is an
	// error, so that it is not taken for an old kernel.
	trusted, fdinfoErr := nonblockOpen.has()
	if trusted {
		var b procBuffer
		pid, err := b.fdinfoPIDField(fd)
		switch {
		case err == nil && pid < 0:
			return os.ErrProcessDone
		case err == nil:
			return nil
		}
		fdinfoErr = err
	}
	sigErr := unix.PidfdSendSignal(fd, 0, nil, 0)
	switch {
	case sigErr == unix.ESRCH:
		return wrapErr("pidfd_send_signal", sigErr)
	case sigErr == nil && signalsAreReal():
		return nil // a zombie: exited, not reaped
	case fdinfoErr != nil:
		return fdinfoErr // perhaps transient (EMFILE): worth another try
	case pollErr != nil:
		return pollErr
	}
	return fmt.Errorf("pidfd: the process has exited, and this system cannot tell whether it was also reaped "+
		"(pidfd_send_signal: %v): %w", sigErr, os.ErrProcessDone)
}

// signalsAreReal reports whether pidfd_send_signal runs at all: a sandbox
// that fakes its success answers nil where the kernel answers EBADF.
func signalsAreReal() bool { return unix.PidfdSendSignal(-1, 0, nil, 0) == unix.EBADF }

// read reads the file at path into b.data with raw system calls, one read:
// unix.Open would copy the path to the heap.
func (b *procBuffer) read(path []byte) (int, error) {
	name := path
	path = append(path, 0)
	atFDCWD := unix.AT_FDCWD
	r, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&path[0])),
		unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return 0, &os.PathError{Op: "open", Path: string(name), Err: errno}
	}
	file := int(r)
	defer unix.Close(file)
	for {
		n, err := unix.Read(file, b.data[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: string(name), Err: err}
		}
		return n, nil
	}
}

// procIsOurs checks, once per process, that /proc shows PIDs of this
// process's own PID namespace. A process in a nested namespace may see the
// parent's /proc (a container without its own /proc mount): the numbers
// there name other processes here. Our own NSpid line lists our PID from
// /proc's namespace down to our own, so a single entry means they are one.
func procIsOurs() error {
	_, err := procChecked()
	return err
}

var procChecked = learnOnce(func() (struct{}, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return struct{}{}, fmt.Errorf("pidfd: /proc is needed on this kernel: %w", err)
	}
	if levels, ok := procfs.NSpidLevels(status); ok && levels != 1 {
		return struct{}{}, errProcNotOurs
	}
	return struct{}{}, nil
})

var errProcNotOurs = &wrappingError{errors.ErrUnsupported.Error() + ": /proc is mounted from an ancestor PID namespace, so its PIDs are not ours " +
	"(mount a /proc of this namespace, or use Linux 6.13+)", errors.ErrUnsupported}

// procSelfFd is the /proc path that names descriptor fd of this process.
func procSelfFd(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// namesThread reports whether /proc shows pid as the ID of a thread that
// is not its process's first. The answer only names an error: the thread
// may end, and its ID go to another, as soon as it has been read.
func namesThread(pid int) bool {
	if procIsOurs() != nil {
		return false
	}
	var b procBuffer
	path := append(strconv.AppendInt(append(b.path[:0], "/proc/"...), int64(pid), 10), "/status"...)
	n, err := b.read(path)
	tgid, ok := procfs.Tgid(b.data[:n])
	return err == nil && ok && tgid != pid
}

func (p *PidFd) withProcDir(fn func(dir *os.Root) error) error {
	if p == nil || p.file == nil || fn == nil {
		return os.ErrInvalid
	}
	var dir *os.Root
	err := p.withFd(func(fd int) error {
		// The open directory stays bound to the process it was opened
		// for: prove that was ours before fn can act through it.
		var b procBuffer
		return b.inProcDir(fd, p.pid, "", func(path []byte) (err error) {
			dir, err = os.OpenRoot(string(path))
			return err
		}, func() {
			if dir != nil {
				dir.Close()
			}
		})
	})
	if err != nil {
		return err
	}
	fnErr := fn(dir)
	dir.Close()
	if err := p.withFd(provenAlive); err != nil {
		return err
	}
	return fnErr
}
