//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"syscall"

	"github.com/pidfd-go/pidfd/internal/nofile"
	"github.com/pidfd-go/pidfd/internal/spawn"
	"golang.org/x/sys/unix"
)

var errNoClonePidFd = wrapping("pidfd: clone returned no pidfd: ", errors.ErrUnsupported)

func start(cmd *exec.Cmd) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err // before starting anything
	}
	if err := mayOpen(); err != nil {
		return nil, err
	}
	callerAttr := cmd.SysProcAttr
	var attr syscall.SysProcAttr
	if callerAttr != nil {
		attr = *callerAttr
	}
	cloned := -1
	ownCloned := attr.PidFD == nil // the caller's own PidFD stays theirs
	if ownCloned {
		attr.PidFD = &cloned
	}
	cmd.SysProcAttr = &attr
	err := cmd.Start()
	cmd.SysProcAttr = callerAttr
	if err != nil {
		return nil, err
	}
	anchor := *attr.PidFD
	if ownCloned && anchor >= 0 {
		defer unix.Close(anchor)
	}
	pfd, err := startedPidFd(cmd, anchor)
	if err != nil {
		killAndReap(cmd, cmd.Process.Pid)
		return nil, err
	}
	return pfd, nil
}

// startedPidFd opens the PidFd for cmd's child, pinned by anchor, the
// clone's pidfd, and has it reap through cmd.Wait.
func startedPidFd(cmd *exec.Cmd, anchor int) (*PidFd, error) {
	if anchor < 0 {
		return nil, errNoClonePidFd
	}
	fd, err := openPinned(cmd.Process.Pid, anchor)
	if err != nil {
		return nil, err
	}
	pfd, err := newPidFd(fd, cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	pfd.reap = func() (*ExitStatus, error) {
		err := cmd.Wait()
		if cmd.ProcessState == nil {
			return nil, err
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			err = nil // a non-zero status is the answer, not a failure
		}
		return exitStatusOf(cmd.ProcessState), err
	}
	pfd.reapMayBlock = copiesIO(cmd)
	return pfd, nil
}

// copiesIO reports whether cmd.Wait waits, after the exit, for os/exec to
// copy input or output: it does for each of Stdin, Stdout and Stderr that
// is set and not an *os.File.
func copiesIO(cmd *exec.Cmd) bool {
	for _, stream := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if _, isFile := stream.(*os.File); stream != nil && !isFile {
			return true
		}
	}
	return false
}

// killAndReap kills a child that a failed start leaves behind, and reaps
// it: through os/exec if cmd is not nil, which also releases cmd's pipes
// and handle, else by its PID, which names it safely until it is reaped.
func killAndReap(cmd *exec.Cmd, pid int) {
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			return
		}
	}
}

func startProcess(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	if attr == nil {
		attr = new(os.ProcAttr)
	}
	pid, pidfd, err, started := startOwnTable(name, argv, attr)
	if !started {
		pid, pidfd, err = forkExec(name, argv, attr)
	}
	if err != nil {
		return nil, err
	}
	var p *PidFd
	if pidfd < 0 {
		err = errNoClonePidFd
	} else if err = unix.SetNonblock(pidfd, true); err != nil { // the description is ours alone
		unix.Close(pidfd)
		err = os.NewSyscallError("fcntl", err)
	} else {
		p, err = newPidFd(setAside(pidfd), pid) // closes pidfd if it fails
		if err == nil {
			p.ownChild()
		}
	}
	if err != nil {
		killAndReap(nil, pid)
		return nil, err
	}
	return p, nil
}

// forkExec starts a child for StartProcess as os.StartProcess does: its
// clone copies this process's whole descriptor table.
func forkExec(name string, argv []string, attr *os.ProcAttr) (pid, pidfd int, err error) {
	var sys syscall.SysProcAttr
	if attr.Sys != nil {
		sys = *attr.Sys
	}
	pidfd = -1
	sys.PidFD = &pidfd
	files := make([]uintptr, len(attr.Files))
	for i, f := range attr.Files {
		files[i] = ^uintptr(0) // closed in the child
		if f == nil {
			continue
		}
		if files[i] = f.Fd(); files[i] == ^uintptr(0) {
			return -1, -1, closedFileErr(i)
		}
	}
	pid, err = syscall.ForkExec(name, argv, &syscall.ProcAttr{Dir: attr.Dir, Env: childEnv(attr), Files: files, Sys: &sys})
	runtime.KeepAlive(attr.Files)
	if err != nil {
		return -1, -1, &os.PathError{Op: "fork/exec", Path: name, Err: err}
	}
	return pid, pidfd, nil
}

// ownTable is what startOwnTable needs: the child code for this
// architecture, and close_range with CLOSE_RANGE_UNSHARE (Linux 5.9), for
// a child that shares this process's descriptor table and then makes a
// copy of its low part its own, and CLOSE_RANGE_CLOEXEC (5.11), to mark
// the rest of that copy. The probe asks for the second flag alone:
// close_range with CLOSE_RANGE_UNSHARE would take the calling thread out
// of the table that this process's threads share.
var ownTable = capability{name: "close_range(CLOSE_RANGE_CLOEXEC)", since: "5.11", probe: func() (bool, error) {
	if !spawn.Supported {
		return false, nil
	}
	return answered("close_range", unix.CloseRange(math.MaxUint32, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)) // a range with no descriptor
}}

// startOwnTable starts a child for StartProcess through internal/spawn,
// whose cost does not grow with the descriptors this process holds above
// the child's own (see spawn.Start). started is false, and nothing was
// started, where it cannot: Sys settings that spawn does not make, a
// kernel or a policy without what it needs. Its errors are those of
// forkExec.
func startOwnTable(name string, argv []string, attr *os.ProcAttr) (pid, pidfd int, err error, started bool) {
	sa := spawn.Attr{Flags: unix.CLONE_PIDFD, ExitSignal: syscall.SIGCHLD, Blocking: true}
	if !spawnSys(&sa, attr.Sys, false) {
		return -1, -1, nil, false
	}
	if has, _ := ownTable.ask(); !has {
		return -1, -1, nil, false
	}
	// Only now: a start that falls back reads none of these.
	sa.Path, sa.Argv, sa.Env, sa.Dir, sa.Nofile = name, argv, childEnv(attr), attr.Dir, childNofile()
	pid, pidfd = -1, -1 // until a child is made
	err = withFds(attr.Files, func(fds []int) (err error) {
		sa.Files = fds
		if pid, pidfd, err = spawn.Start(&sa); err == nil {
			learnBlocking(attr.Files)
		}
		return err
	})
	errno, cloneFailed := err.(syscall.Errno) // only clone3's answer is bare
	switch {
	case err == nil:
		return pid, pidfd, nil, true
	case cloneFailed:
		// EINVAL, ENOSYS, EPERM: a kernel without a flag, or a policy;
		// nothing was made.
		if errno == syscall.EINVAL || errno == syscall.ENOSYS || errno == syscall.EPERM {
			ownTable.learn(false)
			return -1, -1, nil, false
		}
		return -1, -1, &os.PathError{Op: "fork/exec", Path: name, Err: errno}, true
	case pid < 0:
		return -1, -1, err, true // a string with a NUL byte, or a closed file
	}
	killAndReap(nil, pid) // the child has exited: reap it
	if errors.Is(err, spawn.ErrNoPrivateTable) {
		ownTable.learn(false) // the child did nothing else
		return -1, -1, nil, false
	}
	if errors.As(err, &errno) {
		err = errno // said as forkExec says it
	}
	return -1, -1, &os.PathError{Op: "fork/exec", Path: name, Err: err}, true
}

// spawnSys copies into sa the settings of sys that internal/spawn makes,
// and reports whether sys has no other. StartProcess's child takes
// Setsid, Setpgid, Pgid and Pdeathsig (and PidFD, which it ignores); an
// AutoKill child only the first three.
func spawnSys(sa *spawn.Attr, sys *syscall.SysProcAttr, autoKill bool) bool {
	if sys == nil {
		return true
	}
	rest := *sys
	sa.Setsid, sa.Setpgid, sa.Pgid = sys.Setsid, sys.Setpgid, sys.Pgid
	rest.Setsid, rest.Setpgid, rest.Pgid = false, false, 0
	if !autoKill {
		sa.Pdeathsig = sys.Pdeathsig
		rest.Pdeathsig, rest.PidFD = 0, nil
	}
	return reflect.ValueOf(rest).IsZero()
}

// childEnv is the environment attr gives a child: its Env, or if that is
// nil, ours.
func childEnv(attr *os.ProcAttr) []string {
	if attr.Env == nil {
		return os.Environ()
	}
	return attr.Env
}

// autoKillFlags are StartProcessAutoKill's clone flags (Linux 7.1).
const autoKillFlags = unix.CLONE_PIDFD | spawn.CloneAutoreap | spawn.CloneNNP | spawn.ClonePidFdAutokill

func startProcessAutoKill(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	if !spawn.Supported {
		return nil, fmt.Errorf("pidfd: StartProcessAutoKill has no child code for %s: %w", runtime.GOARCH, errors.ErrUnsupported)
	}
	if attr == nil {
		attr = new(os.ProcAttr)
	}
	sa := spawn.Attr{
		Path: name, Argv: argv, Env: childEnv(attr), Dir: attr.Dir,
		Blocking: true, Nofile: childNofile(),
		Flags: autoKillFlags,
	}
	if !spawnSys(&sa, attr.Sys, true) {
		return nil, fmt.Errorf("pidfd: StartProcessAutoKill takes only Setsid, Setpgid and Pgid of attr.Sys: %w", os.ErrInvalid)
	}
	var pid, fd int
	err := withFds(attr.Files, func(fds []int) (err error) {
		sa.Files = fds
		if pid, fd, err = spawn.Start(&sa); err == nil {
			learnBlocking(attr.Files)
		}
		return err
	})
	// Only clone3's own answer is a bare errno; a failed step, or a
	// string with a NUL byte, comes wrapped.
	errno, cloneFailed := err.(syscall.Errno)
	switch {
	case errno == syscall.EINVAL || errno == syscall.ENOSYS || errno == syscall.EPERM:
		// EINVAL: a kernel without the flags; ENOSYS, EPERM: a seccomp
		// filter (or a kernel before clone3, 5.3).
		return nil, fmt.Errorf("pidfd: clone3 answered %v: StartProcessAutoKill needs CLONE_PIDFD_AUTOKILL (Linux 7.1): %w", err, errors.ErrUnsupported)
	case cloneFailed:
		return nil, os.NewSyscallError("clone3", errno)
	case err != nil:
		return nil, err // a failed step: the kernel has reaped the child
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd) // kills the child, which the kernel reaps
		return nil, os.NewSyscallError("fcntl", err)
	}
	p, err := newPidFd(setAside(fd), pid) // closes fd, and so kills the child, if it fails
	if err != nil {
		return nil, err
	}
	p.kernelReaps = true
	return p, nil
}

// learnBlocking tells files, which a child has just been given, that the
// child cleared O_NONBLOCK of their descriptions before its exec, as they
// learn it after os.StartProcess (os.File.Fd). It is called while withFds
// holds them, so that a Close by another goroutine cannot race with it.
func learnBlocking(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Fd()
		}
	}
}

// closedFileErr is the error for a closed *os.File given as the new
// process's descriptor i. (os.StartProcess would start the process with
// that descriptor closed.)
func closedFileErr(i int) error {
	return fmt.Errorf("pidfd: descriptor %d of the new process: %w", i, os.ErrClosed)
}

// withFds calls f with the descriptor numbers of files (-1 for nil), each
// kept open by its RawConn's Control until f returns. Unlike os.File.Fd,
// it leaves the files' blocking mode as it is.
func withFds(files []*os.File, f func(fds []int) error) error {
	fds := make([]int, 0, len(files))
	var hold func() error
	hold = func() error {
		i := len(fds)
		if i == len(files) {
			return f(fds)
		}
		if files[i] == nil {
			fds = append(fds, -1)
			return hold()
		}
		rc, err := files[i].SyscallConn()
		if err != nil {
			return fmt.Errorf("pidfd: descriptor %d of the new process: %w", i, err)
		}
		var held error
		if rc.Control(func(fd uintptr) {
			fds = append(fds, int(fd))
			held = hold()
		}) != nil {
			return closedFileErr(i) // a file that is not nil fails only so
		}
		return held
	}
	return hold()
}

// childNofile is the RLIMIT_NOFILE that os.StartProcess gives a child
// (syscall/exec_linux.go): the limits this process started with if Go
// raised its soft limit at start-up (syscall/rlimit.go) and it is still
// what Go set, else nil, for the child to keep the current ones. Go stops
// giving the original back after a syscall.Setrlimit of RLIMIT_NOFILE;
// here only a limit other than Go's shows that one happened.
func childNofile() *unix.Rlimit {
	start, ok := nofile.Start()
	if !ok || start.Max == 0 || start.Cur >= start.Max-1 {
		return nil // Go left the limit alone
	}
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil || now.Cur != start.Max-1 || now.Max != start.Max {
		return nil
	}
	return &unix.Rlimit{Cur: start.Cur, Max: start.Max}
}

func fromProcess(p *os.Process) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	fd, openErr := -1, error(nil)
	err := p.WithHandle(func(handle uintptr) {
		fd, openErr = openPinned(p.Pid, int(handle))
	})
	if err != nil {
		return nil, fmt.Errorf("pidfd: process %d: %w", p.Pid, err)
	}
	if openErr != nil {
		return nil, openErr
	}
	pfd, err := newPidFd(fd, p.Pid)
	if err != nil {
		return nil, err
	}
	pfd.reap = func() (*ExitStatus, error) {
		state, err := p.Wait()
		if err != nil {
			return nil, err
		}
		return exitStatusOf(state), nil
	}
	return pfd, nil
}
