//go:build linux

// The kernel table (which call arrived in which release, and what the
// package does before it) is in doc.go; design notes in internal/NOTES.md.
// Where a call is missing the package falls back to /proc
// (fallback_linux.go) and proves that what it read still belongs to the
// pidfd's process; what the kernel offers is learned by features_linux.go.

package pidfd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// handle is what a PidFd holds on Linux.
type handle struct {
	// pid is the process's PID here, learned when the PidFd was made: -1
	// if it was reaped by then, 0 if not visible here (see learnPID). A
	// PID never changes while its process lives, and the /proc fallbacks
	// prove that it still lives after each read.
	pid    int
	thread bool // opened with PIDFD_THREAD: names one thread (see OpenThread)
	// ownsChild: a child from StartProcess, which only this PidFd can reap
	// (see orphan_linux.go). abandoned reaps it if the PidFd is collected
	// unclosed; keepFile: Close leaves the descriptor to the reaping.
	ownsChild bool
	abandoned runtime.Cleanup
	keepFile  atomic.Bool
	// kernelReaps: a child started with CLONE_AUTOREAP. Once it has
	// execed, waitid sees it as an ordinary child while it lives, but the
	// kernel reaps it: its status is only ever in the kernel's record.
	kernelReaps bool

	// The package's own calls use fdNum while they hold a pin (see pin);
	// file is the descriptor's owner, registered with the runtime poller
	// for the waits, and conn its raw access, for the caller and the waits.
	fdNum   int
	pins    atomic.Int64 // calls in flight, plus closedBit once Close has run
	file    *os.File
	conn    syscall.RawConn
	closing chan struct{} // closed by Close, to wake waiters parked off the poller

	// reap, when set, finishes a wait through os/exec or os instead of
	// reaping directly, so that their bookkeeping stays true (see Start).
	// reapMayBlock: it may wait for a pipe after the exit (see TryWait).
	reap         func() (*ExitStatus, error)
	reapMayBlock bool

	waiter    chan struct{} // a token: the one goroutine that parks on the poller
	mu        sync.Mutex    // guards exitSeen and exited, and serialises the reaping waitid
	exitSeen  bool
	exited    *ExitStatus   // as seen without reaping, where os/exec or os reaps
	done      chan struct{} // closed once status and statusErr are final
	status    *ExitStatus
	statusErr error

	watch atomic.Pointer[watchEntry] // the Watcher's entry while watched (watch_linux.go)
}

func newPidFd(fd, pid int) (*PidFd, error) {
	file := os.NewFile(uintptr(fd), "pidfd")
	conn, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	p := &PidFd{handle: handle{
		pid:     pid,
		fdNum:   fd,
		file:    file,
		conn:    conn,
		closing: make(chan struct{}),
		waiter:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}}
	return p, nil
}

// wrapErr names the failed call and turns ESRCH, "no such process", into
// os.ErrProcessDone.
func wrapErr(call string, err error) error {
	switch err {
	case nil:
		return nil
	case unix.ESRCH:
		err = os.ErrProcessDone
	}
	return os.NewSyscallError(call, err)
}

// onAndroid bars every pidfd system call (see unsupported). A variable,
// so that tests can bar them on Linux too.
var onAndroid = runtime.GOOS == "android"

var errOnAndroid = wrapping("pidfd: not used on Android, whose app sandbox kills a process for pidfd calls before Android 12: ", errors.ErrUnsupported)

// wrapping returns the error prefix+err.Error() that wraps err, as
// fmt.Errorf(prefix+"%w", err) does, for the package's error variables:
// fmt at package initialisation would cost every program that imports the
// package, `pidfd run` as an init among them, its time and memory as it
// starts.
func wrapping(prefix string, err error) error {
	return &wrappingError{prefix + err.Error(), err}
}

type wrappingError struct {
	text string
	err  error
}

func (e *wrappingError) Error() string { return e.text }
func (e *wrappingError) Unwrap() error { return e.err }

// unsupported keeps the package from making any pidfd system call on
// Android. Before Android 12 the app sandbox's seccomp filter kills a
// process with SIGSYS for pidfd_open and pidfd_send_signal, instead of
// failing them, and no probe can learn beforehand whether it would: Go's os
// package survives its own probe because the runtime's signal handler
// ignores SIGSYS meanwhile (Go issue 69065), which no library can ask for.
// Every constructor calls it first.
func unsupported() error {
	if onAndroid {
		return errOnAndroid
	}
	return nil
}

// openNonblocking opens a new pidfd, with an open file description of its
// own, for pid.
func openNonblocking(pid int) (int, error) {
	if err := unsupported(); err != nil {
		return -1, err
	}
	if pid <= 0 || pid > math.MaxInt32 {
		return -1, os.NewSyscallError("pidfd_open", unix.EINVAL)
	}
	if known := nonblockOpen.state.Load(); known != capMissing {
		fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
		if err == nil && known == capUnknown {
			nonblockOpen.learn(true)
		}
		if err != unix.EINVAL || known == capPresent {
			return fd, pidfdOpenErr(pid, err)
		}
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, pidfdOpenErr(pid, err)
	}
	// EINVAL has other causes (a thread ID, a process being reaped): only a
	// plain open that succeeds where the flagged one failed shows the flag
	// is unknown.
	nonblockOpen.learn(false)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}

// pidfdOpenErr wraps pidfd_open's refusal of pid. The ID of a thread that
// is not its process's first is no process's PID: Linux 6.15+ says so with
// ENOENT, older kernels with EINVAL, which has other causes and is taken
// for a thread only where /proc shows one. Either way the answer is ENOENT
// and says why.
func pidfdOpenErr(pid int, err error) error {
	switch {
	case err == unix.ENOENT || err == unix.EINVAL && namesThread(pid):
		return fmt.Errorf("pidfd: PID %d is the ID of a thread, not of a process (see OpenThread): %w",
			pid, os.NewSyscallError("pidfd_open", unix.ENOENT))
	case err == unix.EPERM || err == unix.ENOSYS:
		// pidfd_open checks no permission: EPERM is a policy's (a seccomp
		// filter, a container runtime's), as ENOSYS may be.
		return fmt.Errorf("pidfd: this process may not use pidfd_open: %w: %w",
			os.NewSyscallError("pidfd_open", err), errors.ErrUnsupported)
	}
	return wrapErr("pidfd_open", err)
}

// mayOpen returns nil if this process may call pidfd_open now, or the
// error every pidfd_open would return. Start needs the call after its
// child runs, and asks first, so that a refusal starts nothing. A refusal
// is kept (a seccomp filter is never lifted); a permission is not, since a
// process may install a filter later: one open and close per Start.
func mayOpen() error {
	if err := openRefusal.Load(); err != nil {
		return *err
	}
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err == nil {
		unix.Close(fd)
		return nil
	}
	err = pidfdOpenErr(os.Getpid(), err)
	if errors.Is(err, errors.ErrUnsupported) {
		openRefusal.Store(&err)
	}
	return err
}

var openRefusal atomic.Pointer[error]

// openPinned opens a non-blocking pidfd for pid while anchor, another pidfd
// believed to name the same process, is held. If the anchor's process was
// still unreaped after the open, its PID could not have been reused, so the
// new descriptor names the same process.
func openPinned(pid, anchor int) (int, error) {
	fd, err := openNonblocking(pid)
	if err != nil {
		return -1, err
	}
	if err := provenAlive(anchor); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return setAside(fd), nil
}

func open(pid int) (*PidFd, error) {
	fd, err := openNonblocking(pid)
	if err != nil {
		return nil, err
	}
	return newPidFd(setAside(fd), pid)
}

func newFile(fd uintptr) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	if fd > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %w", ErrNotPidFd, os.NewSyscallError("fstatfs", unix.EBADF))
	}
	ifd := int(fd)
	if err := checkPidFd(ifd); err != nil {
		return nil, err
	}
	flags, err := unix.FcntlInt(uintptr(ifd), unix.F_GETFL, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	pid, err := learnPID(ifd)
	if err != nil {
		return nil, err
	}
	if flags&unix.O_NONBLOCK == 0 {
		if _, err := unix.FcntlInt(uintptr(ifd), unix.F_SETFL, flags|unix.O_NONBLOCK); err != nil {
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	p, err := newPidFd(ifd, pid)
	if err != nil {
		return nil, err
	}
	p.thread = flags&unix.PIDFD_THREAD != 0 // the kernel keeps it among the status flags
	return p, nil
}

// learnPID returns the PID for a PidFd to keep: the process's PID, -1 if it
// has been reaped, 0 if it is not visible here or this process's /proc
// cannot show PIDs at all (the fallbacks then refuse with the same answer
// every time). Any other error is returned: a PID that was not learned is
// never kept.
func learnPID(fd int) (int, error) {
	pid, err := readPID(fd)
	switch {
	case err == nil:
		return pid, nil
	case errors.Is(err, os.ErrProcessDone):
		return -1, nil
	case errors.Is(err, ErrNotInPIDNamespace), errors.Is(err, errProcNotOurs):
		return 0, nil
	default:
		return 0, err
	}
}

// checkPidFd reports whether fd is a pidfd: on pidfs kernels (6.9+) by its
// filesystem, before that by the name of its anonymous inode.
func checkPidFd(fd int) error {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return fmt.Errorf("%w: %w", ErrNotPidFd, os.NewSyscallError("fstatfs", err))
	}
	switch uint32(fs.Type) {
	case unix.PID_FS_MAGIC:
		return nil
	case unix.ANON_INODE_FS_MAGIC:
		var name [32]byte
		n, err := unix.Readlink(procSelfFd(fd), name[:])
		if err != nil {
			return fmt.Errorf("pidfd: cannot name anonymous inode: %w", os.NewSyscallError("readlink", err))
		}
		if string(name[:n]) == "anon_inode:[pidfd]" {
			return nil
		}
	}
	return ErrNotPidFd
}

// closedBit, set in pins by Close, refuses new pins; the descriptor closes
// when the last pin goes.
const closedBit = 1 << 62

// pin holds the descriptor open until unpin, so that a Close meanwhile
// cannot let the number name another file, and returns its number. It is
// the one way the package's calls reach the descriptor: two atomic
// operations, no allocation, as os.File's own reference count but without
// a callback to escape.
func (p *PidFd) pin() (int, error) {
	if p == nil || p.file == nil {
		return -1, os.ErrInvalid
	}
	for {
		n := p.pins.Load()
		if n&closedBit != 0 {
			return -1, os.ErrClosed
		}
		if p.pins.CompareAndSwap(n, n+1) {
			return p.fdNum, nil
		}
	}
}

// unpin lets go of a pin. The last one after a Close closes the file, and
// os.File.Close waits for a waiter's poll callback (pollExit, which takes
// p.mu) to return: never unpin while holding p.mu, or any lock such a
// callback takes.
func (p *PidFd) unpin() {
	if p.pins.Add(-1) == closedBit {
		p.closeFile() // Close ran while pinned, and this was the last pin
	}
}

// withFd runs f on the pinned descriptor. f does not escape, so a closure
// passed here costs no allocation.
func (p *PidFd) withFd(f func(fd int) error) error {
	fd, err := p.pin()
	if err != nil {
		return err
	}
	defer p.unpin()
	return f(fd)
}

func (p *PidFd) isClosed() bool { return p.pins.Load()&closedBit != 0 }

func (p *PidFd) close() error {
	if p.file == nil {
		return os.ErrInvalid
	}
	if p.ownsChild && !p.isClosed() {
		p.leaveOrphan()
	}
	old := p.pins.Or(closedBit)
	if old&closedBit != 0 {
		return os.ErrClosed
	}
	close(p.closing)
	if old != 0 {
		// The last unpin closes the descriptor; a waiter parked on the
		// poller meanwhile wakes now, as os.File.Close would wake it. A
		// Watcher gives up its pin now, not at the process's exit.
		p.file.SetReadDeadline(deadlinePassed)
		p.unwatch()
		return nil
	}
	err := p.closeFile()
	p.unwatch()
	return err
}

func (p *PidFd) fd() uintptr {
	if p == nil || p.file == nil || p.isClosed() {
		return ^uintptr(0)
	}
	return uintptr(p.fdNum)
}

func (p *PidFd) syscallConn() (syscall.RawConn, error) {
	if p == nil || p.conn == nil {
		return nil, os.ErrInvalid
	}
	return p.conn, nil
}

func (p *PidFd) queryPID() (pid int, err error) {
	err = p.withFd(func(fd int) error {
		pid, err = readPID(fd)
		return err
	})
	if p.reapedUnwaited(err) {
		return p.pid, nil
	}
	if err != nil {
		return 0, err
	}
	return pid, nil
}

// reapedUnwaited reports whether err, the answer of a question about the
// process, says that the kernel has reaped a child that it reaps itself
// (kernelReaps), and no wait has returned its status yet. Such a child
// keeps the PID it had from the clone until then, as a zombie child keeps
// its own until it is waited for: a caller must not see it vanish sooner
// because it exited at once.
func (p *PidFd) reapedUnwaited(err error) bool {
	if p == nil || !p.kernelReaps || p.pid <= 0 || !errors.Is(err, os.ErrProcessDone) {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// readPID asks the kernel for the PID of fd's process, or /proc before 6.13.
func readPID(fd int) (int, error) {
	askedKernel := false
	if known := getInfo.state.Load(); known != capMissing {
		info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_PID}
		err := unix.IoctlPidfdInfo(fd, &info)
		switch {
		case err == unix.EREMOTE: // outside our PID namespace (6.18)
			return 0, ErrNotInPIDNamespace
		case err == unix.ESRCH:
			// Reaped, or on some kernels not visible here: fdinfo tells
			// the two apart (-1 or 0).
			askedKernel = true
		case !infoFallBack(known, err):
			if err == nil && info.Mask&unix.PIDFD_INFO_PID == 0 {
				err = unix.ENODATA
			}
			return visiblePID(int(int32(info.Pid)), wrapErr("ioctl PIDFD_GET_INFO", err))
		}
	}
	pid, err := fdinfoPID(fd)
	if err != nil && askedKernel && !errors.Is(err, ErrNotInPIDNamespace) {
		// The kernel said ESRCH and /proc cannot say more: take its word.
		return 0, wrapErr("ioctl PIDFD_GET_INFO", unix.ESRCH)
	}
	return pid, err
}

// visiblePID turns the kernel's PID numbers into answers: 0 means the
// process is outside our PID namespace, -1 that it has been reaped.
func visiblePID(pid int, err error) (int, error) {
	switch {
	case err != nil:
		return 0, err
	case pid == 0:
		return 0, ErrNotInPIDNamespace
	case pid < 0:
		return 0, os.ErrProcessDone
	}
	return pid, nil
}

func (p *PidFd) getFd(fd int) (*os.File, error) {
	if fd < 0 || fd > math.MaxInt32 {
		return nil, os.NewSyscallError("pidfd_getfd", unix.EBADF)
	}
	var dup int
	err := p.withFd(func(pidfd int) (err error) {
		dup, err = unix.PidfdGetfd(pidfd, fd, 0)
		return err
	})
	if err != nil {
		return nil, wrapErr("pidfd_getfd", err)
	}
	return os.NewFile(uintptr(dup), fmt.Sprintf("pidfd_getfd:%d", fd)), nil
}
