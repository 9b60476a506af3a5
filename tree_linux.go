//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd/internal/procfs"
	"golang.org/x/sys/unix"
)

// A Tree holds its processes in a cgroup of its own where it can (this
// file), or as a child subreaper (tree_reaper_linux.go). What each kernel
// gives the cgroup kind:
//
//	4.5   cgroup2; cgroup.events "populated", pollable: Wait
//	5.7   CLONE_INTO_CGROUP: Start puts the child in the cgroup as it is
//	      made (before: moved in after the start, which a fast fork races)
//	5.14  cgroup.kill: Kill kills the whole cgroup at once (before: each
//	      member by pidfd, round after round until none is new)
//	6.13  PIDFD_GET_INFO's cgroup ID proves a member's cgroup (before:
//	      /proc/PID/cgroup, verified)
//
// A member is signalled through a pidfd opened by its PID, read from
// cgroup.procs, and then proved to be in the cgroup (its cgroup ID is the
// tree's or that of a cgroup below it), so that a process that got a
// member's PID after it exited is never reached. Zombies are no members:
// cgroup.procs does not list them, and "populated" does not count them.

// tree is what a Tree holds on Linux.
type tree struct {
	k TreeKind

	// mu: the calls that use the descriptors hold it for reading, and
	// Close for writing, so that no call can use a descriptor Close
	// closed. Waits hold it only to begin.
	mu     sync.RWMutex
	closed bool

	// The cgroup kind.
	dir     string // the cgroup's directory
	hasKill bool   // cgroup.kill (Linux 5.14)
	// Children start in the cgroup, and after each cgroup.kill in a new
	// one below it (see startCgroup); dirFds are the directories opened
	// for CLONE_INTO_CGROUP, the one new children start in last.
	genMu  sync.Mutex
	dirFds []int
	killed atomic.Bool // cgroup.kill written since the last one was made

	// The subreaper kind (see tree_reaper_linux.go).
	why     string      // why no cgroup could be made
	started map[int]int // PID → our pidfd of each child started, until reaped; under reaper.mu
}

// treeKinds are the kinds NewTree may choose, in order; tests narrow it.
var treeKinds = []TreeKind{TreeCgroup, TreeSubreaper}

// treeCount numbers the cgroups this process makes.
var treeCount atomic.Int64

var errTreeCgroupFD = wrapping("pidfd: the Tree puts the child in its own cgroup: SysProcAttr.UseCgroupFD is the Tree's: ", os.ErrInvalid)

func newTree() (*Tree, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	why := errors.New("pidfd: a cgroup was not tried")
	for _, kind := range treeKinds {
		switch kind {
		case TreeCgroup:
			t, err := newCgroupTree()
			if err == nil {
				return t, nil
			}
			why = err
		case TreeSubreaper:
			return newSubreaperTree(why)
		}
	}
	return nil, why
}

// newCgroupTree makes a cgroup inside the caller's own, and checks that
// the caller may move processes into it: that takes write access to
// cgroup.procs of the target and of the common ancestor of the source and
// the target, the caller's cgroup (cgroup v2's delegation rule).
func newCgroupTree() (*Tree, error) {
	root, err := cgroup2Root()
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	own, ok := procfs.CgroupV2Path(self)
	if !ok {
		return nil, fmt.Errorf("pidfd: /proc/self/cgroup names no cgroup v2 directory of ours: %w", errors.ErrUnsupported)
	}
	parent := filepath.Join(root, own)
	var dir string
	for tries := 0; ; tries++ {
		dir = filepath.Join(parent, fmt.Sprintf("pidfd-%d-%d", os.Getpid(), treeCount.Add(1)))
		err := unix.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if err != unix.EEXIST || tries == 100 {
			return nil, &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
		// Left behind by an earlier process that had our PID.
	}
	t := &Tree{tree{k: TreeCgroup, dir: dir}}
	fail := func(err error) (*Tree, error) {
		unix.Rmdir(dir)
		return nil, err
	}
	for _, procs := range []string{filepath.Join(parent, "cgroup.procs"), filepath.Join(dir, "cgroup.procs")} {
		if err := unix.Faccessat(unix.AT_FDCWD, procs, unix.W_OK, unix.AT_EACCESS); err != nil {
			return fail(&os.PathError{Op: "access", Path: procs, Err: err})
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(&os.PathError{Op: "open", Path: dir, Err: err})
	}
	t.dirFds = []int{fd}
	_, err = os.Stat(filepath.Join(dir, "cgroup.kill"))
	t.hasKill = err == nil
	return t, nil
}

func (t *tree) kind() TreeKind { return t.k }

func (t *tree) cgroup() string { return t.dir }

func (t *tree) describe() string {
	if t.k == TreeCgroup {
		return "cgroup " + t.dir
	}
	return "subreaper (no cgroup: " + t.why + ")"
}

// use runs f while holding the Tree open, or says it is closed.
func (t *tree) use(f func() error) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return os.ErrClosed
	}
	return f()
}

func (t *tree) isClosed() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.closed
}

func (t *tree) start(cmd *exec.Cmd) (p *PidFd, err error) {
	err = t.use(func() error {
		if t.k == TreeSubreaper {
			p, err = t.startTracked(func() (*PidFd, error) { return start(cmd) })
			return err
		}
		caller := cmd.SysProcAttr
		if caller != nil && caller.UseCgroupFD {
			return errTreeCgroupFD
		}
		p, err = t.startInCgroup(func(cgroupFd int) (*PidFd, error) {
			if cgroupFd < 0 {
				return start(cmd)
			}
			var attr syscall.SysProcAttr
			if caller != nil {
				attr = *caller
			}
			attr.UseCgroupFD, attr.CgroupFD = true, cgroupFd
			cmd.SysProcAttr = &attr
			defer func() { cmd.SysProcAttr = caller }()
			return start(cmd)
		})
		return err
	})
	return p, err
}

func (t *tree) startProcess(name string, argv []string, attr *os.ProcAttr) (p *PidFd, err error) {
	err = t.use(func() error {
		if t.k == TreeSubreaper {
			p, err = t.startTracked(func() (*PidFd, error) { return startProcess(name, argv, attr) })
			return err
		}
		if attr == nil {
			attr = new(os.ProcAttr)
		}
		if attr.Sys != nil && attr.Sys.UseCgroupFD {
			return errTreeCgroupFD
		}
		p, err = t.startInCgroup(func(cgroupFd int) (*PidFd, error) {
			if cgroupFd < 0 {
				return startProcess(name, argv, attr)
			}
			a := *attr
			var sys syscall.SysProcAttr
			if attr.Sys != nil {
				sys = *attr.Sys
			}
			sys.UseCgroupFD, sys.CgroupFD = true, cgroupFd
			a.Sys = &sys
			return startProcess(name, argv, &a)
		})
		return err
	})
	return p, err
}

// startInCgroup starts a child into the cgroup where clone3 can
// (CLONE_INTO_CGROUP, 5.7), given the descriptor of its directory, and
// otherwise (given -1) moves it in right after: a child that forks before
// the move leaves that child outside.
func (t *tree) startInCgroup(startChild func(cgroupFd int) (*PidFd, error)) (*PidFd, error) {
	into, err := cloneIntoCgroup.has()
	if err != nil {
		return nil, err
	}
	dir, fd, err := t.startCgroup()
	if err != nil {
		return nil, err
	}
	if !into {
		fd = -1
	}
	p, err := startChild(fd)
	if err != nil || into {
		return p, err
	}
	// Our child, not reaped: its PID names it until we let the caller
	// have it.
	err = writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(p.pid))
	if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: it has exited already
		p.Kill()
		p.Wait()
		p.Close()
		return nil, err
	}
	return p, nil
}

// startCgroup returns the cgroup new children start in, and its open
// directory. Once cgroup.kill has been written, that is a new cgroup below
// the Tree's: some kernels (6.18, measured; 7.3 is right) kill at birth
// every child cloned into a cgroup that was ever killed, as they compare
// the kill count of the cgroup the child goes to with that of the
// parent's own cgroup. A new cgroup has none. The directories stay open
// until Close, so that a start racing another never sees one closed.
func (t *tree) startCgroup() (string, int, error) {
	t.genMu.Lock()
	defer t.genMu.Unlock()
	n := len(t.dirFds)
	dir := t.dir
	if n > 1 {
		dir = filepath.Join(t.dir, "gen-"+strconv.Itoa(n-1))
	}
	if !t.killed.Swap(false) {
		return dir, t.dirFds[n-1], nil
	}
	dir = filepath.Join(t.dir, "gen-"+strconv.Itoa(n))
	if err := unix.Mkdir(dir, 0o755); err != nil {
		return "", -1, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Rmdir(dir)
		return "", -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	t.dirFds = append(t.dirFds, fd)
	return dir, fd, nil
}

func (t *tree) signal(sig os.Signal) error {
	s, _, err := checkSignal(sig, nil)
	if err != nil {
		return err
	}
	return t.use(func() error { return t.signalAll(s) })
}

func (t *tree) signalAll(s unix.Signal) error {
	if t.k == TreeSubreaper {
		return t.signalTracked(s)
	}
	return t.signalCgroup(s)
}

func (t *tree) kill() error {
	return t.use(t.killAll)
}

func (t *tree) killAll() error {
	if t.k == TreeCgroup && t.hasKill {
		err := writeFile(filepath.Join(t.dir, "cgroup.kill"), "1")
		if err == nil {
			t.killed.Store(true)
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return t.signalAll(unix.SIGKILL)
}

func (t *tree) wait(ctx context.Context) error {
	if t.isClosed() {
		return os.ErrClosed
	}
	err := t.waitEmpty(ctx)
	if err != nil && ctx.Err() == nil && t.isClosed() {
		return os.ErrClosed
	}
	return err
}

func (t *tree) waitEmpty(ctx context.Context) error {
	if t.k == TreeSubreaper {
		return t.waitTracked(ctx, false)
	}
	return t.waitCgroup(ctx)
}

func (t *tree) terminate(ctx context.Context, grace time.Duration) error {
	if grace > 0 {
		var errs []error
		for _, s := range []unix.Signal{unix.SIGTERM, unix.SIGCONT} {
			if err := t.use(func() error { return t.signalAll(s) }); err != nil {
				if errors.Is(err, os.ErrClosed) {
					return err
				}
				errs = append(errs, err) // some member refused: SIGKILL may not
			}
		}
		graceCtx, cancel := context.WithTimeout(ctx, grace)
		err := t.wait(graceCtx)
		cancel()
		switch {
		case err == nil:
			return errors.Join(errs...)
		case ctx.Err() != nil:
			t.kill() // as PidFd.Terminate: a caller that gives up ends it now
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return err
		}
	}
	if err := t.kill(); err != nil {
		return err
	}
	return t.wait(ctx)
}

func (t *tree) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return os.ErrClosed
	}
	t.closed = true
	// Every call that began has ended; the ones that begin now find the
	// Tree closed.
	t.mu.Unlock()
	if t.k == TreeSubreaper {
		return t.closeTracked()
	}
	err := t.killAll()
	if err == nil {
		err = t.waitCgroup(context.Background())
	}
	if err == nil {
		err = removeCgroups(t.dir)
	}
	for _, fd := range t.dirFds {
		unix.Close(fd)
	}
	return err
}

// running reports whether the pidfd's process has not exited.
func running(fd int) bool {
	revents, err := pollNow(fd)
	return err == nil && revents&unix.POLLIN == 0
}

// writeFile writes s to a cgroup file in one write, as the kernel wants.
func writeFile(path, s string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(s)); err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
