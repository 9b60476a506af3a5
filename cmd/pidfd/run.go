//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pidfd-go/pidfd"
	"golang.org/x/sys/unix"
)

var runCommand = command{
	name:    "run",
	args:    "[-v] [-g] [-s] [-t [-k DURATION]] -- COMMAND [ARG...]",
	summary: "run a command as its init: forward signals, reap orphans, exit as it did",
	doc: `Start COMMAND with no race window, hold it by pidfd and exit as it did: with
its exit code, or 128+N if signal N killed it.

Every signal the tool can catch is forwarded to the command through its
pidfd, never to a process that got its PID since. With -g the command
starts in a process group of its own, in the terminal's foreground if the
tool has it, and the signals go to that whole group. The signals of a
fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT) are
forwarded when a process sends them, as "docker kill -s ABRT" does: only
a real fault of the tool's own crashes it. Not forwarded:

  SIGKILL, SIGSTOP  nobody can catch them
  SIGCHLD           the tool's own business
  SIGURG            Go's runtime sends it itself, so a user's cannot be
                    told from the runtime's
  SIGPROF           Go's runtime takes it for its profiler and never
                    relays it to a program: the tool drops it (tini and
                    dumb-init forward it)
  32, 33, 34        the C library's, which Go's runtime keeps from
                    programs: it drops 33, and leaves 32 and 34 at their
                    default action, which ends the tool, unless it is a
                    PID namespace's init (the kernel spares the init)

A signal that was ignored when the tool started (SIGHUP under nohup, or
after trap '' HUP) stays ignored, for the tool and for the command, and is
not forwarded, where Go's runtime lets the tool know of it: for SIGHUP,
SIGINT, SIGTSTP, SIGTTIN, SIGTTOU and SIGCONT. Go's runtime takes every
other signal over as the tool starts, before the tool can tell whether it
was ignored (a shell's background job ignores SIGQUIT, say): the command
gets such a signal with its default action, and the tool forwards it.

Job control: the tool stops when its job does, so that the shell that
started it gets its prompt back (Ctrl-Z). It forwards a SIGTSTP, SIGTTIN
or SIGTTOU it gets, and then stops itself (SIGSTOP); with -g, whose
command the terminal's stop signals reach without the tool, it stops
itself too when the command stops. A SIGCONT ("fg", "bg") continues the
tool, which forwards it, after giving the terminal back to the command's
group if -g put it in the foreground and the tool has it again. As PID 1
of a PID namespace the tool forwards these signals and never stops: the
kernel drops a stop signal that a namespace's init sends itself, and a
container's init has no shell to continue it. Nor does it stop when its
process group is orphaned (no shell of its session started it: the tool
asks its ancestors), where the kernel would not stop a process on
SIGTSTP, SIGTTIN or SIGTTOU either: nobody would continue it.

As PID 1 of a PID namespace (a container's init), or as a child subreaper
with -s, the tool is the parent of every orphan among the command's
descendants, and reaps them as they exit, so no zombie piles up; the
command's own status is never taken by that reaping.

With -t the tool holds the command's whole process tree, daemons that
call setsid, fork twice or ignore SIGTERM included, and ends it with the
command. It holds it in a cgroup of its own, made inside the tool's
cgroup, where it can (-v names it), and else as a child subreaper, as -s
makes it. When the command exits, whatever is left of its tree gets
SIGTERM and SIGCONT, then SIGKILL once the grace period (-k, 10s) is
over; the tool exits as the command did once the tree has ended. A
SIGTERM, SIGINT or SIGHUP sent to the tool goes to every process of the
tree in the same way, and a second one kills the tree at once. (tini and
dumb-init leave running a daemon that left the command's process group.)
If the tool dies without ending the tree (SIGKILL, a crash), the tree
outlives it: its processes are reparented to init (or the nearest
subreaper) and run on, and its cgroup stays, empty once they have exited;
"echo 1 > DIR/cgroup.kill" (Linux 5.14+) kills them, "rmdir DIR" removes
it.

As a container's init the tool must be a static binary, which runs in an
image that holds nothing else (FROM scratch): install it with
"CGO_ENABLED=0 go install github.com/pidfd-go/pidfd/cmd/pidfd@latest".

Exit status, as a shell gives it (the command may exit with any of these
codes itself; the tool says on stderr when a code is its own):

  N      the command exited with status N
  128+N  signal N killed the command (143: SIGTERM, 137: SIGKILL)
  126    COMMAND was found but could not be executed (no execute
         permission, a directory, not a program)
  127    COMMAND was not found
  1      the tool failed
  2      a usage error

Configuration: run reads no configuration file and needs none; its flags
are all its settings.

Environment: the tool reads PATH, to find COMMAND when its name holds no
slash, as a shell does, and no other variable; the command gets the
tool's environment as it is. Go's runtime reads its own variables (GOGC,
GOMEMLIMIT, GOMAXPROCS, GODEBUG, GOTRACEBACK), as in every Go program.`,
	setup: func(flags *flag.FlagSet) func([]string, stdio) (int, error) {
		var o runOptions
		flags.BoolVar(&o.verbose, "v", false, "say on stderr what happens to the command, its signals and the orphans")
		flags.BoolVar(&o.group, "g", false, "start the command in a process group of its own and forward signals to the group")
		flags.BoolVar(&o.subreaper, "s", false, "become a child subreaper (PR_SET_CHILD_SUBREAPER), to reap orphans when not PID 1")
		flags.BoolVar(&o.tree, "t", false, "hold the command's whole process tree, and end it with the command")
		flags.DurationVar(&o.grace, "k", defaultGrace, "with -t, the grace period between SIGTERM and SIGKILL to the tree")
		return func(args []string, s stdio) (int, error) { return runMain(args, o, s) }
	},
}

type runOptions struct {
	verbose, group, subreaper, tree bool
	grace                           time.Duration
}

func runMain(args []string, o runOptions, s stdio) (int, error) {
	if len(args) == 0 {
		return 2, usageError("run needs a command")
	}
	var sayMu sync.Mutex
	say := func(format string, a ...any) {
		if o.verbose {
			sayMu.Lock()
			fmt.Fprintf(s.err, "pidfd: "+format+"\n", a...)
			sayMu.Unlock()
		}
	}
	if o.subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 1, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
		}
	}
	// Catch the signals before the command exists: one that comes while it
	// starts is forwarded, not fatal to the tool. The handlers stay until
	// the tool exits: a signal that comes after the command's end must not
	// kill the tool with another status than the command's.
	//
	// A signal ignored when the tool started stays ignored, for the tool and
	// the command: it is not caught (nor forwarded), so the tool keeps
	// SIG_IGN, which the command inherits through exec, as it would not a
	// handler.
	ignored := ignoredSignals()
	var caught []os.Signal
	for _, sig := range forwardedSignals {
		if !ignored[sig.(syscall.Signal)] {
			caught = append(caught, sig)
		}
	}
	signals := make(chan os.Signal, 32)
	signal.Notify(signals, caught...)
	childEvents := make(chan os.Signal, 1) // a pending wake-up is enough
	signal.Notify(childEvents, unix.SIGCHLD)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.in, s.out, s.err
	tty, foreground := -1, false
	if o.group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if tty, foreground = foregroundTerminal(s.in); foreground {
			cmd.SysProcAttr.Foreground, cmd.SysProcAttr.Ctty = true, tty
		}
	}
	if errors.Is(cmd.Err, exec.ErrNotFound) && foundInPath(args[0]) {
		return 126, &exec.Error{Name: args[0], Err: fs.ErrPermission}
	}
	start := pidfd.Start
	var ender *treeEnder
	if o.tree {
		tree, err := pidfd.NewTree()
		if err != nil {
			return 1, err
		}
		defer tree.Close() // after the tree has ended: nothing left to kill
		say("holding the command's process tree: %v", tree)
		ender = &treeEnder{tree: tree, grace: max(o.grace, 0), say: say}
		start = tree.Start
	}
	p, err := start(cmd)
	if err != nil {
		return startStatus(err), err
	}
	defer p.Close()
	pid := cmd.Process.Pid
	if o.verbose { // ID's system calls are for say alone
		if id, err := p.ID(); err == nil {
			say("started %s as PID %d, process ID %d, held by pidfd %d", args[0], pid, id, p.Fd())
		} else {
			say("started %s as PID %d, held by pidfd %d", args[0], pid, p.Fd())
		}
	}

	f := forwarder{p: p, pid: pid, group: o.group, byPidFd: true}
	jobs := jobControl{f: &f, tty: tty, foreground: foreground, contCaught: !ignored[unix.SIGCONT], say: say}
	for {
		// Only this loop reaps, and the command only after it: until then
		// the command is alive or a zombie, and its PID and process group
		// ID name it and its group, and nobody else.
		if zombie, err := exitedUnreaped(pid); err != nil {
			return 1, fmt.Errorf("PID %d: %w", pid, err)
		} else if zombie {
			break
		}
		if ender == nil || ender.tree.Kind() != pidfd.TreeSubreaper { // the Tree reaps its orphans
			reapOrphans(pid, say)
		}
		if o.group {
			jobs.commandStopped(pid)
		}
		select {
		case sig := <-signals:
			if ender != nil && ending(sig) {
				ender.begin(sig.(syscall.Signal), "the tool got "+sig.String())
				continue
			}
			if sig == unix.SIGCONT {
				jobs.continued()
			}
			if err := f.forward(sig.(syscall.Signal)); err != nil {
				say("%v not forwarded to %s: %v", sig, f.target(), err)
			} else {
				say("forwarded %v to %s", sig, f.target())
			}
			if stopsJob(sig) {
				jobs.stop("got " + unix.SignalName(sig.(syscall.Signal)))
			}
		case <-childEvents:
		case <-ender.expired():
			ender.kill("the grace period of " + ender.grace.String() + " is over")
		}
	}
	var treeErr error
	if ender != nil {
		treeErr = ender.finish(signals)
		if ender.tree.Kind() != pidfd.TreeSubreaper {
			reapOrphans(pid, say)
		}
	}
	status, err := p.Wait()
	reapOrphans(0, say)
	if foreground {
		// Take the terminal back, as a shell does when its job ends:
		// from a background group that takes ignoring SIGTTOU.
		signal.Ignore(unix.SIGTTOU)
		unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, unix.Getpgrp())
	}
	var waitErr *pidfd.WaitError
	switch {
	case errors.As(err, &waitErr): // it ended, and copying its output failed
		status = waitErr.Status
		say("PID %d ended: %v", pid, status)
		return exitCode(status), err
	case err != nil:
		return 1, fmt.Errorf("PID %d: %w", pid, err)
	}
	say("PID %d ended: %v", pid, status)
	if treeErr != nil {
		treeErr = fmt.Errorf("the command's tree: %w", treeErr)
	}
	return exitCode(status), treeErr
}

// foundInPath reports whether one of PATH's directories has a file (not a
// directory) of that name: a command that exec.LookPath passed over as not
// executable, which a shell would have found, and failed to execute.
func foundInPath(name string) bool {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "." // as exec.LookPath and shells read PATH
		}
		if info, err := os.Stat(filepath.Join(dir, name)); err == nil && !info.IsDir() {
			return true
		}
	}
	return false
}

// startStatus is the exit status for a command that could not be started,
// as POSIX shells have it: 127 if it was not found, 126 if it was found but
// could not be executed (EACCES, ENOEXEC...); 1 if the tool itself failed.
func startStatus(err error) int {
	var lookErr *exec.Error // from exec.LookPath
	var execErr *fs.PathError
	switch {
	case errors.As(err, &lookErr):
		err = lookErr.Err
	case errors.As(err, &execErr) && execErr.Op == "fork/exec":
		err = execErr.Err
	default:
		return 1
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

// forwarder sends the signals the tool receives to the command, or to its
// process group.
type forwarder struct {
	p       *pidfd.PidFd
	pid     int
	group   bool
	byPidFd bool // for a group: the kernel takes PIDFD_SIGNAL_PROCESS_GROUP
}

func (f *forwarder) target() string {
	if f.group {
		return fmt.Sprintf("process group %d", f.pid)
	}
	return fmt.Sprintf("PID %d", f.pid)
}

func (f *forwarder) forward(sig syscall.Signal) error {
	if !f.group {
		return f.p.Signal(sig)
	}
	if f.byPidFd {
		err := f.p.Signal(sig, pidfd.ToProcessGroup())
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		f.byPidFd = false // before Linux 6.9
	}
	// kill(-pgid) names the group by number, which is safe here, and only
	// here: the group's ID is the PID of our child, the command, which the
	// run loop alone reaps, and not before it stops forwarding. Until it is
	// reaped, alive or a zombie, the command keeps its PID, so no other
	// process can get that number, nor found a group by it: the number
	// names the command's group and no other. The check that the command
	// still leads its group (it may have moved to another) matches what
	// ToProcessGroup does.
	pgid, err := unix.Getpgid(f.pid)
	switch {
	case err != nil:
		return os.NewSyscallError("getpgid", err)
	case pgid != f.pid:
		return fmt.Errorf("%w (PID %d is in group %d)", pidfd.ErrNotGroupLeader, f.pid, pgid)
	}
	return os.NewSyscallError("kill", unix.Kill(-f.pid, sig))
}

// exitedUnreaped reports whether the command (PID pid) has exited, leaving
// it a zombie (WNOWAIT): its reaping is for PidFd.Wait. Named by PID, which
// is safe for a child that nobody else reaps.
func exitedUnreaped(pid int) (bool, error) {
	var si childInfo
	err := waitid(unix.P_PID, pid, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
	return si.signo == int32(unix.SIGCHLD), os.NewSyscallError("waitid", err)
}

// reapOrphans reaps the children that have exited, other than the command
// (PID main). The tool has other children only as PID 1 of a PID namespace
// or as a subreaper: orphans, reparented to it. It looks before it reaps
// (WNOWAIT), and reaps by PID a child seen to be a zombie, which keeps its
// PID until then; so the command's status is never taken here.
func reapOrphans(main int, say func(string, ...any)) {
	for {
		var si childInfo
		err := waitid(unix.P_ALL, 0, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
		if err != nil || si.signo != int32(unix.SIGCHLD) || int(si.pid) == main {
			return // ECHILD: no children; or none has exited; or only the command
		}
		var ws unix.WaitStatus
		for {
			_, err = unix.Wait4(int(si.pid), &ws, unix.WNOHANG, nil)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			say("orphan PID %d not reaped: %v", si.pid, os.NewSyscallError("wait4", err))
			return
		}
		say("reaped orphan PID %d: %s", si.pid, describeWaitStatus(ws))
	}
}

func describeWaitStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("signal: %v", ws.Signal())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// childInfo is the start of siginfo_t as waitid fills it: after three ints
// the union is aligned like a pointer, so si_pid is at byte 16 on 64-bit
// machines and at 12 on 32-bit ones.
type childInfo struct {
	signo, errno, code int32
	_                  [unsafe.Sizeof(uintptr(0)) - 4]byte
	pid                int32
	_                  [128 - 12 - unsafe.Sizeof(uintptr(0))]byte
}

func waitid(idType, id int, si *childInfo, options int) error {
	for {
		err := unix.Waitid(idType, id, (*unix.Siginfo)(unsafe.Pointer(si)), options, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// foregroundTerminal returns stdin's descriptor if stdin is the tool's
// controlling terminal and the tool is in its foreground process group:
// then a command in a group of its own is put in the foreground, as a
// shell does with a job, or it could not read the terminal.
func foregroundTerminal(in io.Reader) (int, bool) {
	f, ok := in.(*os.File)
	if !ok {
		return -1, false
	}
	fd := int(f.Fd())
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return fd, err == nil && pgrp == unix.Getpgrp()
}
