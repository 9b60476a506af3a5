package pidfd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// TreeKind says how a [Tree] holds its processes.
type TreeKind int

// The kinds of Tree, as [Tree.Kind] reports them.
const (
	// TreeCgroup: the tree has a cgroup v2 of its own, a child of the
	// caller's cgroup, and every process started in it and every
	// descendant of those belongs to that cgroup, whatever it does
	// (setsid, double fork, a new process group): only a process with
	// the right to move processes between cgroups can leave it.
	TreeCgroup TreeKind = iota + 1
	// TreeSubreaper: no cgroup could be made, and the calling process is
	// a child subreaper instead (PR_SET_CHILD_SUBREAPER): a process of
	// the tree whose parent dies becomes the caller's child, rather than
	// init's, so that the tree can still find it, signal it and reap
	// it. See [NewTree] for what that costs.
	TreeSubreaper
)

// String returns "cgroup" or "subreaper".
func (k TreeKind) String() string {
	switch k {
	case TreeCgroup:
		return "cgroup"
	case TreeSubreaper:
		return "subreaper"
	}
	return fmt.Sprintf("TreeKind(%d)", int(k))
}

// Tree holds a whole tree of processes: those started through it
// ([Tree.Start], [Tree.StartProcess]) and every descendant of theirs,
// including a daemon that calls setsid and forks twice so that its parent
// exits, which a signal to the process the caller started, or to its
// process group, never reaches. A Tree signals, kills and waits for them
// all, and ends them with a grace period ([Tree.Terminate]), those that
// ignore SIGTERM included.
//
// The kernel offers two ways to hold a tree, and [NewTree] takes the first
// it can have; [Tree.Kind] says which:
//
//   - [TreeCgroup], a cgroup v2 of the tree's own (Linux 5.7+ starts a
//     child straight into it): nothing can leave it, a kill reaches every
//     member at once (Linux 5.14+), and the kernel says when the last has
//     exited. It needs a cgroup2 hierarchy, found in /proc/self/mountinfo
//     wherever it is mounted (systemd's hybrid layout has it beside the v1
//     controllers), and the right to make a cgroup under the caller's own
//     and move processes into it: root, or a cgroup delegated to the
//     caller (systemd's Delegate=yes).
//   - [TreeSubreaper], otherwise: the caller becomes a child subreaper,
//     and the tree is the processes it started, their descendants, and the
//     orphans that come back to the caller. See NewTree for its limits.
//
// Processes the tree starts run as the caller's children, reaped through
// the PidFds that Start and StartProcess return, as those of [Start] and
// [StartProcess] are. In a cgroup tree, a process orphaned below them goes
// to init (or to the nearest subreaper), as it would without a Tree, and
// is reaped there. A Tree is safe for concurrent use.
type Tree struct {
	tree // what the system holds
}

// NewTree makes a Tree, of the [TreeCgroup] kind where it can: a new
// cgroup, named pidfd-PID-N after the caller's PID and a count, made
// inside the caller's own cgroup. Nothing is moved into it but what the
// Tree starts. Where no such cgroup can be made (no cgroup2 hierarchy, no
// right to make one, a read-only mount as in many containers) the Tree is
// of the [TreeSubreaper] kind, and [Tree.String] says why.
//
// A subreaper is a setting of the whole calling process, which NewTree
// sets, and the last subreaper Tree's Close undoes if it was not set
// before. While it is set, every process orphaned anywhere below the
// caller comes back to it, also from children that no Tree started, and
// only the package can reap those: it does, on SIGCHLD (which it listens
// to with [os/signal.Notify]), so no zombie is left. The kernel does not
// say where an orphan came from, so the package tells it from a child that
// the caller started itself by the pidfds this process holds: os/exec, os
// and this package hold one for each child they start until it is reaped.
// A child of the caller that no pidfd of this process names is an orphan,
// adopted for good; one that a pidfd names is the caller's own, and left
// alone. Hence the limits of the subreaper kind, none of which the cgroup
// kind has:
//
//   - A child started without a pidfd (by C code, by [syscall.ForkExec]
//     without SysProcAttr.PidFD, or whose [os.Process] was released) is
//     taken for an orphan: a subreaper Tree signals, kills and reaps it.
//   - The package adopts an orphan when it next looks, on the next
//     SIGCHLD or call on a subreaper Tree. One that the caller has opened
//     a pidfd of by then (with [Open], say) is taken for the caller's own
//     child, and escapes the tree.
//   - Orphans cannot be told apart between trees: each subreaper Tree
//     open in a process counts every orphan the process has adopted as
//     its own, and signals, kills and waits for it. Hold one at a time
//     where you can.
//
// Only Linux has either: elsewhere NewTree returns [errors.ErrUnsupported].
func NewTree() (*Tree, error) { return newTree() }

// Kind says how the tree holds its processes: [TreeCgroup] or
// [TreeSubreaper]. It is 0 for a nil Tree.
func (t *Tree) Kind() TreeKind {
	if t == nil {
		return 0
	}
	return t.kind()
}

// Cgroup returns the directory of the tree's cgroup, or "" for a Tree of
// the subreaper kind. It stays until [Tree.Close] removes it; if the
// program ends without a Close (killed by SIGKILL, say), the cgroup and
// whatever still runs in it outlive it: the processes, reparented to init
// or to the nearest subreaper, keep running, and the directory stays,
// empty once they have exited, until someone writes 1 to its cgroup.kill
// (Linux 5.14+) and removes it.
func (t *Tree) Cgroup() string {
	if t == nil {
		return ""
	}
	return t.cgroup()
}

// String describes how the tree holds its processes: "cgroup DIR", or
// "subreaper (no cgroup: WHY)".
func (t *Tree) String() string {
	if t == nil {
		return "<nil>"
	}
	return t.describe()
}

// Start starts cmd as [Start] does, inside the tree, and returns a PidFd
// for the child, which os/exec reaps as it does for Start. For the cgroup
// kind the child starts in the tree's cgroup (SysProcAttr.UseCgroupFD,
// CLONE_INTO_CGROUP, Linux 5.7+), so that nothing it does can leave it;
// the cgroup belongs to the Tree, and a cmd that sets UseCgroupFD itself is
// refused with [os.ErrInvalid]. Before Linux 5.7 the child is moved into
// the cgroup just after it starts: what it forks before that (a new
// program has just begun to run) stays outside. The caller's SysProcAttr
// is otherwise kept, and left as it was.
//
// It fails with [os.ErrClosed] once the Tree is closed.
func (t *Tree) Start(cmd *exec.Cmd) (*PidFd, error) {
	if t == nil {
		return nil, os.ErrInvalid
	}
	if cmd == nil {
		return nil, fmt.Errorf("pidfd: nil *exec.Cmd: %w", os.ErrInvalid)
	}
	return t.start(cmd)
}

// StartProcess starts the program name as [StartProcess] does, inside the
// tree, as [Tree.Start] does: attr.Sys may not set UseCgroupFD for the
// cgroup kind. The returned PidFd alone owns the child, as StartProcess's.
func (t *Tree) StartProcess(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	if t == nil {
		return nil, os.ErrInvalid
	}
	return t.startProcess(name, argv, attr)
}

// Signal sends sig to every process of the tree, each through a pidfd of
// its own, opened and then proved to belong to the tree (its cgroup, or
// its parent in the tree) before the signal, so that no process outside
// the tree that took a member's PID is reached. It goes over the tree
// again until a round finds no process it has not signalled, so that
// children forked meanwhile get it too; a tree that forks faster than it
// can be walked is for [Tree.Kill]. A process that exits meanwhile is no
// error.
//
// A sig that is not a [syscall.Signal] the kernel knows is
// [syscall.EINVAL]. Signal 0 sends nothing.
func (t *Tree) Signal(sig os.Signal) error {
	if t == nil {
		return os.ErrInvalid
	}
	return t.signal(sig)
}

// Kill sends SIGKILL to every process of the tree. For the cgroup kind on
// Linux 5.14+ the kernel kills the whole cgroup at once (cgroup.kill),
// which no fork can race; elsewhere it is [Tree.Signal] with SIGKILL, which
// a killed process cannot race either, as it forks no more. Kill does not
// wait for the processes to exit: [Tree.Wait] does.
func (t *Tree) Kill() error {
	if t == nil {
		return os.ErrInvalid
	}
	return t.kill()
}

// Wait waits until no process of the tree is left: every process it
// started, and every descendant of those, has exited. (A child the tree
// started may still be a zombie then, for its PidFd's Wait to reap.) It
// returns at once for a tree that never started anything. It returns
// ctx.Err() if ctx is done first (a nil ctx is [context.Background]), and
// [os.ErrClosed] if the Tree is closed.
//
// For the cgroup kind the kernel says when the cgroup has emptied
// ("populated 0" in cgroup.events, which wakes the waiting goroutine on
// Go's runtime poller). For the subreaper kind, the package looks at the
// tree whenever a child of the caller exits (SIGCHLD), and reaps the
// orphans that have exited.
func (t *Tree) Wait(ctx context.Context) error {
	if t == nil {
		return os.ErrInvalid
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return t.wait(ctx)
}

// Terminate ends the tree as a service manager stops a service: it sends
// SIGTERM to every process of the tree, and SIGCONT so that a stopped one
// can act on it, waits up to grace for the tree to empty, then sends
// SIGKILL to whatever is left and waits until nothing is. It returns nil
// once the tree is empty. If ctx is done first it sends SIGKILL at once, as
// [PidFd.Terminate] does, and returns ctx.Err() without waiting for the
// tree to empty. A grace of 0 or less kills at once.
func (t *Tree) Terminate(ctx context.Context, grace time.Duration) error {
	if t == nil {
		return os.ErrInvalid
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return t.terminate(ctx, grace)
}

// Close ends the tree and lets go of it. Whatever is left of it is killed
// (SIGKILL; call [Tree.Terminate] first to give it a grace period), and
// Close waits until the tree is empty, which a process stuck in the kernel
// (uninterruptible sleep) can delay. It then removes the cgroup; the last
// subreaper Tree unsets the subreaper setting if NewTree set it, and
// leaves each orphan that came to the process since the tree emptied (from
// children no Tree started) a goroutine that reaps it when it exits. A
// second Close returns [os.ErrClosed], and so do the other methods after
// Close; Close of a nil Tree returns [os.ErrInvalid].
func (t *Tree) Close() error {
	if t == nil {
		return os.ErrInvalid
	}
	return t.close()
}
