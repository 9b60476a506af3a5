//go:build linux

package pidfd

import (
	"errors"
	"fmt"
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
	var sys syscall.SysProcAttr
	if attr.Sys != nil {
		sys = *attr.Sys
	}
	pidfd := -1
	sys.PidFD = &pidfd
	files := make([]uintptr, len(attr.Files))
	for i, f := range childFiles(attr) {
		files[i] = uintptr(f) // -1 is ^0: closed in the child
	}
	pid, err := syscall.ForkExec(name, argv, &syscall.ProcAttr{Dir: attr.Dir, Env: childEnv(attr), Files: files, Sys: &sys})
	runtime.KeepAlive(attr.Files)
	if err != nil {
		return nil, &os.PathError{Op: "fork/exec", Path: name, Err: err}
	}
	var p *PidFd
	if pidfd < 0 {
		err = errNoClonePidFd
	} else if err = unix.SetNonblock(pidfd, true); err != nil { // the description is ours alone
		unix.Close(pidfd)
		err = os.NewSyscallError("fcntl", err)
	} else {
		p, err = newPidFd(pidfd, pid) // closes pidfd if it fails
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

// childEnv is the environment attr gives a child: its Env, or if that is
// nil, ours.
func childEnv(attr *os.ProcAttr) []string {
	if attr.Env == nil {
		return os.Environ()
	}
	return attr.Env
}

// childFiles is attr.Files as descriptor numbers, -1 for nil (closed in the
// child). The caller keeps attr.Files alive until the child has them.
func childFiles(attr *os.ProcAttr) []int {
	fds := make([]int, len(attr.Files))
	for i, f := range attr.Files {
		fds[i] = -1
		if f != nil {
			fds[i] = int(f.Fd())
		}
	}
	return fds
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
	if sys := attr.Sys; sys != nil {
		rest := *sys
		sa.Setsid, sa.Setpgid, sa.Pgid = sys.Setsid, sys.Setpgid, sys.Pgid
		rest.Setsid, rest.Setpgid, rest.Pgid = false, false, 0
		if !reflect.ValueOf(rest).IsZero() {
			return nil, fmt.Errorf("pidfd: StartProcessAutoKill takes only Setsid, Setpgid and Pgid of attr.Sys: %w", os.ErrInvalid)
		}
	}
	var pid, fd int
	err := withFds(attr.Files, func(fds []int) (err error) {
		sa.Files = fds
		pid, fd, err = spawn.Start(&sa)
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
	// The child cleared O_NONBLOCK of the files' descriptions before its
	// exec; the Files learn it, as after os.StartProcess.
	for _, f := range attr.Files {
		if f != nil {
			f.Fd()
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd) // kills the child, which the kernel reaps
		return nil, os.NewSyscallError("fcntl", err)
	}
	p, err := newPidFd(fd, pid) // closes fd, and so kills the child, if it fails
	if err != nil {
		return nil, err
	}
	p.kernelReaps = true
	return p, nil
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
		err = rc.Control(func(fd uintptr) {
			fds = append(fds, int(fd))
			held = hold()
		})
		if err != nil {
			return fmt.Errorf("pidfd: descriptor %d of the new process: %w", i, err)
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
