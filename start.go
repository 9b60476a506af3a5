package pidfd

import (
	"fmt"
	"os"
	"os/exec"
)

// Start starts cmd, as cmd.Start does, and returns a PidFd for the child.
// os/exec reaps the child: [PidFd.Wait] collects its exit by calling
// cmd.Wait, so that cmd.ProcessState is set and the child's output copied
// when it returns. Call one of the two, not both. A child costs two
// descriptors, os/exec's and the PidFd's; see [StartProcess] for one.
//
// The child's pidfd comes from the clone call itself (SysProcAttr.PidFD), so
// there is no moment at which the PID could name another process. The
// caller's SysProcAttr settings are kept, its PidFD too (the descriptor it
// receives is the caller's); cmd.SysProcAttr is left as it was.
//
// As with cmd.Start, the child may still be finishing its exec when Start
// returns: until the new program runs, its /proc/PID/cmdline can read
// empty. Wait for a sign from the program before reading what exec sets.
//
// If Start returns an error, no child is left running. Where this process
// may not use pidfd_open (see Errors in the package doc), Start returns an
// error for which errors.Is(err, [errors.ErrUnsupported]) holds before it
// starts anything: cmd is as it was, and cmd.Start may still run it.
func Start(cmd *exec.Cmd) (*PidFd, error) {
	if cmd == nil {
		return nil, fmt.Errorf("pidfd: nil *exec.Cmd: %w", os.ErrInvalid)
	}
	return start(cmd)
}

// StartProcess starts the program name with the arguments argv, as
// [os.StartProcess] does, and returns a PidFd that alone owns the child: no
// os.Process is made, and [PidFd.Wait] reaps the child directly. A child
// costs one descriptor instead of the two of [Start] or of os.StartProcess
// and [FromProcess], which matters for many children that need none of
// os/exec's plumbing. name is not looked up in PATH.
//
// The pidfd comes from the clone itself, so there is no race. attr's Sys
// settings are kept (its PidFD field is ignored); a nil Env means the
// caller's environment. A closed file in attr.Files is an error for which
// errors.Is(err, [os.ErrClosed]) holds. If StartProcess returns an error,
// no child is left running. Closing the PidFd before a wait leaves no
// zombie: the package reaps the child when it exits (see [PidFd.Close]).
//
// A start costs the same however many descriptors this process holds
// above the child's files. os.StartProcess copies the whole descriptor
// table into the child, a reference taken on every open file, and the exec
// walks it again to close them, so that a supervisor pays at every start
// for every child it already has. Here the child shares the table and
// copies the part below the highest of attr.Files alone; so it gets
// attr.Files and no other descriptor, not even one without close-on-exec.
// The pidfds the package makes sit above the numbers where files are
// opened (see [PidFd.Fd]), so the files a program opens for a child stay
// below them. That needs Linux 5.11 (close_range), the child code of amd64,
// arm64 or 386, and no Sys settings but Setsid, Setpgid, Pgid and
// Pdeathsig.
// Elsewhere, and where a seccomp filter denies clone3 or close_range, the
// child is made as os.StartProcess makes it, at that cost, and inherits
// the descriptors without close-on-exec. Where the child makes a table of
// its own, its soft RLIMIT_NOFILE follows StartProcessAutoKill's rule, with
// the one exception stated there.
func StartProcess(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	return startProcess(name, argv, attr)
}

// FromProcess returns a new PidFd for the process p refers to. If p is a
// child, os reaps it: [PidFd.Wait] collects its exit by calling p.Wait, so
// that p's state stays true. Call one of the two, not both; for an
// [exec.Cmd] use [Start].
//
// FromProcess opens its own non-blocking descriptor while p's handle keeps
// the process from being recycled, and proves against that handle that both
// name the same process; p keeps its own handle and stays fully usable.
//
// It fails with [os.ErrProcessDone] if p has already been waited for, and
// with [os.ErrNoHandle] if p holds no pidfd (released, or a kernel where Go
// does not use pidfds).
func FromProcess(p *os.Process) (*PidFd, error) {
	if p == nil {
		return nil, fmt.Errorf("pidfd: nil *os.Process: %w", os.ErrInvalid)
	}
	return fromProcess(p)
}

// StartProcessAutoKill starts the program name as [StartProcess] does, as
// a child that cannot outlive the returned PidFd: when the PidFd's
// descriptor is closed, the kernel kills the child with SIGKILL. That
// happens on [PidFd.Close], when the garbage collector finalizes an
// unreachable PidFd, and when this process ends in any way, SIGKILL and
// crashes included, so a supervisor's children never outlive it. Only a
// copy of the descriptor keeps the child alive: one passed to another
// process (see [WriteMessage]) hands it the child's life, until it closes
// its copy too.
//
// The kernel reaps the child itself: it never becomes a zombie, sends no
// SIGCHLD, and [PidFd.Wait] reads its status from the kernel's record.
// The child and every program it execs run with no_new_privs: setuid bits
// and file capabilities grant them nothing, so that a child that cannot
// outlive an unprivileged parent cannot become a privileged one either.
//
// attr's Dir, Env (nil: the caller's environment) and Files are honoured as
// by StartProcess, the files handed over in blocking mode as
// os.StartProcess hands them; of attr.Sys, only Setsid, Setpgid and Pgid
// (any other setting is an error). The child gets no other descriptor,
// not even one without close-on-exec, and its start costs the same however
// many descriptors this process holds above its files, as under
// StartProcess on kernels since 5.11. It starts
// with no signal blocked, with the caller's ignored signals still ignored,
// and with the soft RLIMIT_NOFILE that os.StartProcess would give it: the
// one this process started with, which Go raises for itself, unless it
// has changed since. (After a syscall.Setrlimit to exactly the limit Go
// had set, os.StartProcess gives the child that limit and this call the
// one this process started with.) name is not looked up in PATH. If the
// child cannot exec, the error says which step failed (an [*os.PathError]
// for the program or Dir, as os.StartProcess gives it) and no child is
// left; then, as when the kernel refuses the call, attr.Files are as they
// were.
//
// It needs CLONE_PIDFD_AUTOKILL (Linux 7.1) and runs on amd64, arm64 and
// 386; elsewhere, and where a seccomp filter denies clone3, the error is
// [errors.ErrUnsupported]; [Features].AutoKill tells beforehand. A caller
// that falls back to StartProcess gets a child that differs in three
// ways: it outlives the caller unless the caller ends it (see
// [PidFd.Terminate]), a setuid program it execs gains its privileges, and
// its status has its resource usage (an AutoKill child's has none:
// SysUsage is nil, the kernel's record holds none).
//
// The form is os.StartProcess's, so that the fallback takes the same
// arguments: name is a path (exec.LookPath finds one), and attr.Files
// lists the child's descriptors, a nil entry closed (pass os.Stdin, or an
// open /dev/null, for a child that reads its standard input).
func StartProcessAutoKill(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	return startProcessAutoKill(name, argv, attr)
}
