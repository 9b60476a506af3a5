//go:build linux

// Package spawn starts a program with clone3 flags that syscall.ForkExec
// cannot pass: it always asks clone3 for SIGCHLD, while CLONE_AUTOREAP needs
// an exit signal of 0.
//
// The child is made as os/exec makes it, with CLONE_VM|CLONE_VFORK: it runs
// in the parent's memory while the calling thread is suspended, until it
// execs or exits. It runs no Go code. The parent plans everything the child
// has to do (move descriptors, change directory, exec) as a list of system
// calls with their arguments ready; the child, a few lines of assembly per
// architecture, makes those calls in order, and on the first failure writes
// which call failed and its errno into the plan and exits. It touches no
// stack and no Go state, so it needs no stack of its own, no signal handler
// can run in it (Start always asks for CLONE_CLEAR_SIGHAND), and neither the
// race detector nor coverage can instrument it.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether this architecture has the child code.
const Supported = haveChild

// Clone flags of Linux 7.1 (include/uapi/linux/sched.h) that
// golang.org/x/sys/unix lacks.
const (
	CloneAutoreap      = 1 << 34 // CLONE_AUTOREAP: the kernel reaps the child
	CloneNNP           = 1 << 35 // CLONE_NNP: the child runs with no_new_privs
	ClonePidFdAutokill = 1 << 36 // CLONE_PIDFD_AUTOKILL: SIGKILL when the clone pidfd is closed
)

// Attr is what the child is to be.
type Attr struct {
	Path string   // the program, as execve takes it (after Dir is entered)
	Argv []string // argv, Argv[0] included
	Env  []string
	Dir  string // "" to stay in the parent's directory
	// Files[i] is the descriptor that becomes the child's descriptor i;
	// -1: closed. The child has no other descriptor, whether or not it
	// has close-on-exec. The child's cost grows with the number of
	// descriptors open below the highest of Files, and with no other (see
	// Start).
	Files []int
	// Blocking hands the child its Files in blocking mode, as
	// os.StartProcess does (os.File.Fd). The mode belongs to the open file
	// description, which the child shares with this process, so it is
	// cleared only in the child, just before its exec; if the exec fails,
	// Start sets O_NONBLOCK back. A start that fails before changes
	// nothing.
	Blocking bool
	// Setsid makes the child a session leader; Setpgid puts it in the
	// process group Pgid (0: a new group it leads).
	Setsid  bool
	Setpgid bool
	Pgid    int
	// Pdeathsig, if not 0, is the signal the child gets when the thread
	// that started it ends (PR_SET_PDEATHSIG). If this process has ended
	// before the child could ask for it, the child fails instead.
	Pdeathsig syscall.Signal
	// Nofile, if not nil, is the child's RLIMIT_NOFILE, set after its
	// descriptors are in place (moving them may need numbers above it).
	Nofile *unix.Rlimit
	// Flags are clone flags besides CLONE_VM|CLONE_VFORK,
	// CLONE_CLEAR_SIGHAND and CLONE_FILES, which Start always adds; with
	// CloneAutoreap it adds CLONE_PIDFD too (see Start).
	Flags uint64
	// ExitSignal is the signal the parent gets at the child's exit:
	// SIGCHLD for a child to reap as usual, 0 for none (and for
	// CLONE_AUTOREAP, which needs 0).
	ExitSignal syscall.Signal
}

// step is one system call of the child. The layout is the assembly's: six
// words. want, if not zero, is the only return the call may give, an
// error's -errno included; any other fails the step, with the errno that
// want names (or, if want is no error, with whatever it is).
type step struct {
	nr, a1, a2, a3, a4 uintptr
	want               uintptr
}

// plan is what the child reads and writes. The layout is the assembly's:
// done counts the steps that succeeded, errno is set by the step that
// failed, if one did.
type plan struct {
	steps *step
	n     uintptr
	done  uintptr
	errno uintptr
}

// unblocking is a step that clears O_NONBLOCK on a description the parent
// holds as fd.
type unblocking struct {
	step int
	fd   int
}

// stepInfo is what the parent keeps about a step, to name its failure.
type stepInfo struct {
	op   string
	path string // "" if the call takes none
	fd   int    // the child's descriptor it sets up, or -1
}

func (s stepInfo) err(errno syscall.Errno) error {
	switch {
	case s.op == "execve":
		return &os.PathError{Op: "fork/exec", Path: s.path, Err: errno} // as os.StartProcess says it
	case s.path != "":
		return &os.PathError{Op: s.op, Path: s.path, Err: errno}
	case s.fd >= 0:
		return fmt.Errorf("descriptor %d of the new process: %w", s.fd, os.NewSyscallError(s.op, errno))
	}
	return os.NewSyscallError(s.op, errno)
}

// cloneArgs is struct clone_args, as far as CLONE_ARGS_SIZE_VER0. The
// fields this package leaves zero are blank, named in comments.
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	_          uint64 // child_tid
	_          uint64 // parent_tid
	exitSignal uint64
	_          uint64 // stack
	_          uint64 // stack_size
	_          uint64 // tls
}

// ErrNoPrivateTable is the failure of the child's first step, which makes
// it a descriptor table of its own (close_range's CLOSE_RANGE_UNSHARE,
// Linux 5.9): a kernel without close_range, or a policy that denies it.
// The child did nothing else.
var ErrNoPrivateTable = errors.New("spawn: the new process could not make a descriptor table of its own")

// Start starts the child and returns its PID and, if Flags has
// CLONE_PIDFD, its pidfd.
//
// The child shares this process's descriptor table (CLONE_FILES) until its
// first step, close_range(K, ~0U, CLOSE_RANGE_UNSHARE), gives it a copy of
// the entries below K alone, K being one above the highest of Files. A
// clone without CLONE_FILES would copy the whole table, taking a reference
// on every open file, and the exec would walk it again to close them: the
// cost of a start would grow with every descriptor this process holds. The
// child changes nothing in the shared table before its copy is made, so no
// other thread can see a descriptor number change. An error of clone3 itself is the bare errno (and
// the PID -1); only clone3's is bare. An attr that cannot be planned (a
// NUL byte in a string) is an *os.PathError, as os.StartProcess gives it,
// and no child was made. If a step of the child failed, the error names
// the step (an *os.PathError for chdir and execve, as os.StartProcess
// gives them; ErrNoPrivateTable for the first) and the child has exited with status 127: without
// CLONE_AUTOREAP it is left as a zombie for the caller to reap by the
// returned PID; with it, Start returns once the kernel has reaped it.
func Start(attr *Attr) (pid, pidfd int, err error) {
	if !Supported {
		return -1, -1, syscall.ENOSYS
	}
	canary := canaryAbove(attr.Files)
	if canary >= 0 {
		defer unix.Close(canary)
	}
	p, infos, unblock, keep, err := makePlan(attr, canary)
	if err != nil {
		return -1, -1, err
	}
	// On the heap, like all the child reads and the kernel writes: a
	// goroutine's stack can move before the call.
	fd := new(int32)
	*fd = -1
	keep = append(keep, fd)
	// Without CLONE_CLEAR_SIGHAND the child has this process's handlers,
	// and a signal that reaches it before its exec runs Go's handler in
	// it, on the signal stack of the thread that cloned it.
	flags := attr.Flags | unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_CLEAR_SIGHAND
	if canary >= 0 {
		flags |= unix.CLONE_FILES
	}
	if flags&CloneAutoreap != 0 {
		flags |= unix.CLONE_PIDFD // to wait for a failed child to be reaped
	}
	args := &cloneArgs{flags: flags, exitSignal: uint64(attr.ExitSignal)}
	if flags&unix.CLONE_PIDFD != 0 {
		args.pidfd = uint64(uintptr(unsafe.Pointer(fd)))
	}
	// No syscall.ForkLock: it keeps a descriptor that another goroutine
	// has made and not yet marked close-on-exec from reaching a child, and
	// the child marks every descriptor it is not given close-on-exec
	// itself. Taking the lock for writing would wait for a moment with no
	// os/exec start in flight, since those share their hold on it.
	r, errno := clone3(args, unsafe.Sizeof(*args), p)
	runtime.KeepAlive(keep)
	if errno != 0 {
		return -1, -1, syscall.Errno(errno)
	}
	pid, pidfd = int(r), int(*fd)
	if p.errno == 0 { // the child execed: execve, the last step, does not return
		if attr.Flags&unix.CLONE_PIDFD == 0 && pidfd >= 0 {
			unix.Close(pidfd) // Start's own
			pidfd = -1
		}
		return pid, pidfd, nil
	}
	for _, u := range unblock {
		if u.step < int(p.done) {
			unix.SetNonblock(u.fd, true)
		}
	}
	if flags&CloneAutoreap != 0 {
		awaitReaped(pidfd)
	} else if pidfd >= 0 {
		unix.Close(pidfd)
	}
	if canary >= 0 && p.done < privateSteps {
		return pid, -1, fmt.Errorf("%w: %w", ErrNoPrivateTable, infos[p.done].err(syscall.Errno(p.errno)))
	}
	return pid, -1, infos[p.done].err(syscall.Errno(p.errno))
}

// awaitReaped waits until the process of pidfd, which the kernel reaps,
// has been reaped, and closes pidfd. The vfork parent resumes once the
// child has let go of its memory, before the child's descriptors are closed
// and before it is reaped: until then it holds a copy of every descriptor
// it had and is still this process's child. A pidfd polls POLLIN once its
// process has exited and POLLHUP once it has been reaped. The wait parks in
// the runtime poller rather than holding a thread.
func awaitReaped(pidfd int) {
	if err := unix.SetNonblock(pidfd, true); err != nil {
		unix.Close(pidfd)
		return
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	reaped := func(fd uintptr) bool {
		// The kernel always writes revents: -1 left in place means that
		// the call did not run (a sandbox faking its success), and the
		// poller, edge-triggered, would never wake this wait again.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN, Revents: -1}}
		n, err := unix.Poll(fds, 0)
		if err != nil || fds[0].Revents == -1 {
			return err != unix.EINTR // nothing to wait with: give up
		}
		return n > 0 && fds[0].Revents&unix.POLLHUP != 0
	}
	if rc.Read(reaped) == nil {
		return
	}
	// The poller refused the pidfd (no kernel with CLONE_AUTOREAP does):
	// look every millisecond.
	for {
		var done bool
		if rc.Control(func(fd uintptr) { done = reaped(fd) }) != nil || done {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// privateSteps counts the steps that make the child's table its own and
// prove it: the first in every plan.
const privateSteps = 2

// privateEnd is the end of the part of the table that the child copies:
// one above the highest of files.
func privateEnd(files []int) int {
	end := 0
	for _, f := range files {
		end = max(end, f+1)
	}
	return end
}

// canaryAbove returns a new descriptor, close-on-exec, numbered at or
// above privateEnd(files): one that the child's own table must not hold.
// Where it cannot make one (RLIMIT_NOFILE is below that number, every
// number from it up is taken, a policy denies the call) it returns -1, and
// the child copies the whole table, as a clone without CLONE_FILES does.
func canaryAbove(files []int) int {
	for _, f := range files {
		if f >= 0 {
			fd, err := unix.FcntlInt(uintptr(f), unix.F_DUPFD_CLOEXEC, privateEnd(files))
			if err != nil {
				return -1
			}
			return fd
		}
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // no files: any number will do
	if err != nil {
		return -1
	}
	return fd
}

// makePlan turns attr into the child's steps. unblock lists the steps that
// clear O_NONBLOCK, to be undone if the exec fails. keep holds every value
// the steps point into, to be kept alive until the child is done with them.
func makePlan(attr *Attr, canary int) (p *plan, infos []stepInfo, unblock []unblocking, keep []any, err error) {
	// A string with a NUL byte: EINVAL, said as os.StartProcess says it,
	// never bare, which is clone3's answer alone.
	unplannable := func(op, path string, err error) error {
		return &os.PathError{Op: op, Path: path, Err: err}
	}
	path, err := syscall.BytePtrFromString(attr.Path)
	if err != nil {
		return nil, nil, nil, nil, unplannable("fork/exec", attr.Path, err)
	}
	argv, err := syscall.SlicePtrFromStrings(attr.Argv)
	if err != nil {
		return nil, nil, nil, nil, unplannable("fork/exec", attr.Path, err)
	}
	envv, err := syscall.SlicePtrFromStrings(attr.Env)
	if err != nil {
		return nil, nil, nil, nil, unplannable("fork/exec", attr.Path, err)
	}
	keep = []any{path, argv, envv}
	var steps []step
	add := func(info stepInfo, nr uintptr, a ...uintptr) *step {
		s := step{nr: nr}
		dst := []*uintptr{&s.a1, &s.a2, &s.a3, &s.a4}
		for i, v := range a {
			*dst[i] = v
		}
		steps = append(steps, s)
		infos = append(infos, info)
		return &steps[len(steps)-1]
	}
	// First, before anything can fail for another reason: a table of the
	// child's own, holding the entries below the highest of Files alone.
	// Every step after it changes only that copy.
	if canary >= 0 {
		add(stepInfo{op: "close_range", fd: -1}, unix.SYS_CLOSE_RANGE, uintptr(privateEnd(attr.Files)), uintptr(^uint32(0)), unix.CLOSE_RANGE_UNSHARE)
		// Then proof that the copy was made, before a step that would change
		// a table this process shares: canary, at or above the copy's end, must
		// be missing from it. A policy that makes close_range return 0 without
		// running would otherwise have the moves and closes below done to
		// this process's own descriptors.
		proof := add(stepInfo{op: "fcntl", fd: -1}, unix.SYS_FCNTL, uintptr(canary), unix.F_GETFD)
		proof.want = ^uintptr(unix.EBADF - 1) // -EBADF
	}
	// The thread that clones may have signals blocked; the program starts
	// with none, whichever thread starts it. (Under os/exec it keeps the
	// mask of the thread that forks it.)
	var noSignals [2]uint32 // a kernel sigset_t of 64 signals
	keep = append(keep, &noSignals)
	add(stepInfo{op: "rt_sigprocmask", fd: -1}, unix.SYS_RT_SIGPROCMASK,
		unix.SIG_SETMASK, uintptr(unsafe.Pointer(&noSignals)), 0, unsafe.Sizeof(noSignals))
	if attr.Setsid {
		add(stepInfo{op: "setsid", fd: -1}, unix.SYS_SETSID)
	}
	if attr.Pdeathsig != 0 {
		add(stepInfo{op: "prctl", fd: -1}, unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(attr.Pdeathsig))
		// A parent that died before the prctl sends no signal: the
		// child's parent must still be this process.
		alive := add(stepInfo{op: "getppid", fd: -1}, unix.SYS_GETPPID)
		alive.want = uintptr(os.Getpid())
	}
	if attr.Setpgid {
		add(stepInfo{op: "setpgid", fd: -1}, unix.SYS_SETPGID, 0, uintptr(attr.Pgid))
	}
	if attr.Dir != "" {
		dir, err := syscall.BytePtrFromString(attr.Dir)
		if err != nil {
			return nil, nil, nil, nil, unplannable("chdir", attr.Dir, err)
		}
		keep = append(keep, dir)
		add(stepInfo{op: "chdir", path: attr.Dir, fd: -1}, unix.SYS_CHDIR, uintptr(unsafe.Pointer(dir)))
	}
	// Descriptors, in two passes as os/exec moves them: first every source
	// that a lower target would overwrite goes above all sources and
	// targets, then each lands on its number without close-on-exec.
	files := append([]int(nil), attr.Files...)
	spare := len(files)
	for _, f := range files {
		spare = max(spare, f+1)
	}
	for i, f := range files {
		if f >= 0 && f < i {
			add(stepInfo{op: "dup3", fd: i}, unix.SYS_DUP3, uintptr(f), uintptr(spare), unix.O_CLOEXEC)
			files[i] = spare
			spare++
		}
	}
	for i, f := range files {
		switch {
		case f < 0: // close_range, unlike close, is content with a number not open
			add(stepInfo{op: "close_range", fd: i}, unix.SYS_CLOSE_RANGE, uintptr(i), uintptr(i), 0)
		case f == i:
			add(stepInfo{op: "fcntl", fd: i}, unix.SYS_FCNTL, uintptr(i), unix.F_SETFD, 0)
		default:
			add(stepInfo{op: "dup3", fd: i}, unix.SYS_DUP3, uintptr(f), uintptr(i), 0)
		}
	}
	// Every other descriptor, the standard ones not given included, goes
	// at the exec, with or without close-on-exec of its own (close_range's
	// CLOSE_RANGE_CLOEXEC, Linux 5.11). Marked, not closed: a close runs
	// the file's flush (NFS, FUSE) while the parent thread waits, where
	// the exec closes them after it has let the parent go.
	add(stepInfo{op: "close_range", fd: -1}, unix.SYS_CLOSE_RANGE, uintptr(len(files)), uintptr(^uint32(0)), unix.CLOSE_RANGE_CLOEXEC)
	if attr.Nofile != nil {
		lim := *attr.Nofile
		keep = append(keep, &lim)
		add(stepInfo{op: "prlimit64", fd: -1}, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&lim)), 0)
	}
	// Last before the exec, since it changes what the parent shares.
	if attr.Blocking {
		for i, f := range attr.Files {
			if f < 0 {
				continue
			}
			fl, err := unix.FcntlInt(uintptr(f), unix.F_GETFL, 0)
			if err != nil || fl&unix.O_NONBLOCK == 0 {
				continue // a bad descriptor fails its move above
			}
			unblock = append(unblock, unblocking{step: len(steps), fd: f})
			add(stepInfo{op: "fcntl", fd: i}, unix.SYS_FCNTL, uintptr(i), unix.F_SETFL, uintptr(fl&^unix.O_NONBLOCK))
		}
	}
	add(stepInfo{op: "execve", path: attr.Path, fd: -1}, unix.SYS_EXECVE,
		uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	keep = append(keep, steps)
	return &plan{steps: &steps[0], n: uintptr(len(steps))}, infos, unblock, keep, nil
}
