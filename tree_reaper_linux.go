//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The subreaper kind of Tree. With PR_SET_CHILD_SUBREAPER (Linux 3.4) set
// on this process, a process below it whose parent exits is reparented to
// it, not to init, at the parent's exit (before the parent's pidfd polls
// readable). So a tree is its roots, the children a Tree started and the
// orphans this process adopted, and their descendants, found through
// /proc/PID/task/TID/children. When every root has exited, whatever is
// left of the tree has come back to this process as new children.
//
// Nothing in the kernel tells an adopted orphan from a child this process
// started, so the package takes a child for the caller's own when a pidfd
// in this process names it (os/exec, os and this package hold one for
// each child they start, from the clone until the reaping) and for an
// orphan otherwise. A Go fork holds syscall.ForkLock for writing, and the
// clone installs the pidfd before it returns; a round holds the lock for
// reading, so no child of a Go fork can be seen before its pidfd. An
// adopted orphan is held by a pidfd of ours, and reaped by it.
//
// The state is the process's, as the subreaper setting is: every subreaper
// Tree shares the orphans, and a round runs on every SIGCHLD while one is
// open, so that an orphan is reaped as soon as it exits.

var reaper struct {
	mu      sync.Mutex
	trees   map[*tree]struct{}
	setByUs bool         // PR_SET_CHILD_SUBREAPER was 0 before the first Tree
	orphans map[int]int  // PID → our pidfd, for each orphan adopted and not reaped
	ours    map[int]bool // descriptors that the trees hold: they name no child of the caller's
	changed chan struct{}
	down    chan struct{} // while the last Tree's Close takes the rest down: closed when done
	sigchld chan os.Signal
	stop    chan struct{}
	stopped chan struct{}
}

func newSubreaperTree(why error) (*Tree, error) {
	if err := procIsOurs(); err != nil {
		return nil, fmt.Errorf("pidfd: no cgroup (%v), and no subreaper tree either: %w", why, err)
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	for reaper.down != nil {
		down := reaper.down
		reaper.mu.Unlock()
		<-down
		reaper.mu.Lock()
	}
	if len(reaper.trees) == 0 {
		var was int32
		if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&was)), 0, 0, 0); err != nil {
			return nil, fmt.Errorf("pidfd: no cgroup (%v), and no subreaper either: %w", why, os.NewSyscallError("prctl PR_GET_CHILD_SUBREAPER", err))
		}
		if was == 0 {
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
				return nil, fmt.Errorf("pidfd: no cgroup (%v), and no subreaper either: %w", why, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err))
			}
		}
		reaper.setByUs = was == 0
		reaper.trees = map[*tree]struct{}{}
		reaper.orphans = map[int]int{}
		reaper.ours = map[int]bool{}
		reaper.changed = make(chan struct{})
		reaper.sigchld = make(chan os.Signal, 1)
		reaper.stop = make(chan struct{})
		reaper.stopped = make(chan struct{})
		signal.Notify(reaper.sigchld, unix.SIGCHLD)
		go reapOnSigchld(reaper.sigchld, reaper.stop, reaper.stopped)
	}
	t := &Tree{tree{k: TreeSubreaper, why: why.Error(), started: map[int]int{}}}
	reaper.trees[&t.tree] = struct{}{}
	return t, nil
}

// reapOnSigchld runs a round whenever a child of this process exits.
func reapOnSigchld(sigchld <-chan os.Signal, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	for {
		select {
		case <-sigchld:
			reaper.mu.Lock()
			adoptAndReap()
			reaper.mu.Unlock()
		case <-stop:
			return
		}
	}
}

// startTracked starts a child and keeps a pidfd of it as a root of the
// tree.
func (t *tree) startTracked(startChild func() (*PidFd, error)) (*PidFd, error) {
	p, err := startChild()
	if err != nil {
		return nil, err
	}
	var dup int
	err = p.withFd(func(fd int) (err error) {
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	})
	if err != nil {
		p.Kill()
		p.Wait()
		p.Close()
		return nil, os.NewSyscallError("fcntl", err)
	}
	reaper.mu.Lock()
	if old, ok := t.started[p.pid]; ok {
		forget(old) // a child with this PID before, reaped since
	}
	t.started[p.pid] = dup
	reaper.ours[dup] = true
	reaper.mu.Unlock()
	return p, nil
}

// adoptAndReap is a round, under reaper.mu: it forgets the roots that
// have been reaped, adopts the children of this process that no pidfd of
// the caller's names, reaps the orphans that have exited, and wakes the
// waits. It returns how many orphans it adopted.
func adoptAndReap() (int, error) {
	defer func() {
		close(reaper.changed)
		reaper.changed = make(chan struct{})
	}()
	for tr := range reaper.trees {
		for pid, fd := range tr.started {
			if errors.Is(provenAlive(fd), os.ErrProcessDone) {
				delete(tr.started, pid)
				forget(fd)
			}
		}
	}
	adopted, err := adoptOrphans()
	for pid, fd := range reaper.orphans {
		if reapExited(fd) {
			delete(reaper.orphans, pid)
			forget(fd)
		}
	}
	return adopted, err
}

func adoptOrphans() (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	self := os.Getpid()
	kids, err := childrenOf(self)
	if err != nil {
		return 0, err
	}
	var candidates []int
	for _, pid := range kids {
		if _, ok := reaper.orphans[pid]; !ok && !startedByTree(pid) {
			candidates = append(candidates, pid)
		}
	}
	if len(candidates) == 0 {
		return 0, nil
	}
	named, err := namedByPidFds(reaper.ours)
	if err != nil {
		return 0, err
	}
	adopted := 0
	for _, pid := range candidates {
		if named[pid] {
			continue // the caller's
		}
		fd, err := openNonblocking(pid)
		if err != nil {
			continue // reaped meanwhile, by some wait of the caller's
		}
		if ppid, err := readPPID(fd, pid); err != nil || ppid != self {
			unix.Close(fd)
			continue
		}
		reaper.orphans[pid] = fd
		reaper.ours[fd] = true
		adopted++
	}
	return adopted, nil
}

func startedByTree(pid int) bool {
	for tr := range reaper.trees {
		if _, ok := tr.started[pid]; ok {
			return true
		}
	}
	return false
}

// forget closes one of the trees' descriptors.
func forget(fd int) {
	delete(reaper.ours, fd)
	unix.Close(fd)
}

// roots are the tree's processes that are this process's children: the
// ones it started, and every orphan adopted.
func (t *tree) roots() map[int]int {
	roots := make(map[int]int, len(t.started)+len(reaper.orphans))
	for pid, fd := range t.started {
		roots[pid] = fd
	}
	for pid, fd := range reaper.orphans {
		roots[pid] = fd
	}
	return roots
}

// signalTracked sends s to each process of the tree: the roots, and the
// descendants of each, proved to be children of a process of the tree
// before the signal, round after round until one finds none new.
func (t *tree) signalTracked(s unix.Signal) error {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	signalled := map[int]int{} // PID → pidfd
	var opened []int           // the descriptors opened here
	defer func() {
		for _, fd := range opened {
			forget(fd)
		}
	}()
	var errs []error
	send := func(pid, fd int) {
		if err := unix.PidfdSendSignal(fd, s, nil, 0); err != nil && err != unix.ESRCH {
			errs = append(errs, fmt.Errorf("pidfd: PID %d: %w", pid, os.NewSyscallError("pidfd_send_signal", err)))
		}
	}
	for {
		if _, err := adoptAndReap(); err != nil {
			return err
		}
		fresh := 0
		var walk func(parent, parentFd int)
		walk = func(parent, parentFd int) {
			kids, err := childrenOf(parent)
			if err != nil {
				return // exited
			}
			for _, kid := range kids {
				if fd, ok := signalled[kid]; ok && running(fd) {
					walk(kid, fd)
					continue
				}
				fd, err := openNonblocking(kid)
				if err != nil {
					continue
				}
				// Its parent is the tree's process only if that one had
				// not been reaped when the parent was read: its PID was
				// still its own.
				if ppid, err := readPPID(fd, kid); err != nil || ppid != parent || provenAlive(parentFd) != nil {
					unix.Close(fd)
					continue
				}
				opened = append(opened, fd)
				reaper.ours[fd] = true
				signalled[kid] = fd
				fresh++
				send(kid, fd)
				walk(kid, fd)
			}
		}
		for pid, fd := range t.roots() {
			if !running(fd) {
				continue // its children came back to us at its exit
			}
			if known, ok := signalled[pid]; !ok || known != fd {
				signalled[pid] = fd
				fresh++
				send(pid, fd)
			}
			walk(pid, fd)
		}
		if fresh == 0 {
			return errors.Join(errs...)
		}
	}
}

// emptyTracked reports, under reaper.mu, whether no process of the tree
// is left. Each root is seen to have exited before this process's children
// are listed: by then every child of theirs has come back to it.
func (t *tree) emptyTracked() (bool, error) {
	for {
		for _, fd := range t.roots() {
			if running(fd) {
				return false, nil
			}
		}
		adopted, err := adoptAndReap()
		if err != nil || adopted == 0 {
			return err == nil, err
		}
	}
}

// waitTracked waits for the tree to empty, looking again after each round
// (each SIGCHLD: a root can end no other way). Unless closing, it gives up
// with os.ErrClosed once the Tree is closed.
func (t *tree) waitTracked(ctx context.Context, closing bool) error {
	for {
		reaper.mu.Lock()
		empty, err := t.emptyTracked()
		changed := reaper.changed
		reaper.mu.Unlock()
		switch {
		case err != nil:
			return err
		case empty:
			return nil
		}
		select {
		case <-changed:
			if !closing && t.isClosed() {
				return os.ErrClosed
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// closeTracked kills what is left of the tree and waits for it, then lets
// go of the tree; the last subreaper Tree undoes the setting and stops
// the rounds. Orphans that came meanwhile, from outside any tree, get a
// reaper each (see reapOrphan).
func (t *tree) closeTracked() error {
	err := t.signalTracked(unix.SIGKILL)
	if err == nil {
		err = t.waitTracked(context.Background(), true)
	}
	reaper.mu.Lock()
	for pid, fd := range t.started {
		delete(t.started, pid)
		forget(fd)
	}
	delete(reaper.trees, t)
	close(reaper.changed) // waits on this Tree end
	reaper.changed = make(chan struct{})
	last := len(reaper.trees) == 0
	stop, stopped := reaper.stop, reaper.stopped
	if last {
		signal.Stop(reaper.sigchld)
		close(stop)
		reaper.down = make(chan struct{})
	}
	reaper.mu.Unlock()
	if !last {
		return err
	}
	<-stopped // it may have waited for reaper.mu
	reaper.mu.Lock()
	defer func() {
		close(reaper.down)
		reaper.down = nil
		reaper.mu.Unlock()
	}()
	if reaper.setByUs {
		if e := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); e != nil {
			err = errors.Join(err, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", e))
		}
		reaper.setByUs = false
	}
	// No orphan comes now; reap those that came, or leave each a reaper.
	if _, e := adoptAndReap(); e != nil {
		err = errors.Join(err, e)
	}
	for pid, fd := range reaper.orphans {
		delete(reaper.orphans, pid)
		delete(reaper.ours, fd)
		go reapOrphan(os.NewFile(uintptr(fd), "pidfd"), reapExited)
	}
	return err
}
