package pidfd

import (
	"context"
	"time"
)

// Wait waits for the process to exit and returns how it ended. It waits for
// any process, and reaps the ones that are the caller's to reap:
//
//   - The caller's child is reaped, by whoever owns it: for a PidFd from
//     [Start], by calling cmd.Wait; from [FromProcess] of a child, by
//     calling [os.Process.Wait]; from [StartProcess], or [Open] of an
//     unreaped child, directly (waitid). The status then has the child's
//     resource usage.
//   - Any other process (not the caller's child, or a child that another
//     party reaps) is not reaped: Wait waits for its exit and returns the
//     status the kernel records when its parent reaps it (Linux 6.15+,
//     PIDFD_INFO_EXIT). It then also waits for that reaping, so for as long
//     as the parent leaves the process a zombie. Older kernels tell only
//     the parent how a process ended: there Wait returns [ErrNoExitStatus]
//     as soon as the process has exited.
//   - A thread ([OpenThread]) is never reaped: Wait waits for the thread to
//     exit, as for any other process.
//
// Any number of goroutines may wait at once, in any of the three ways (Wait,
// [PidFd.WaitContext], [PidFd.TryWait]); all get the same status, and so do
// later calls. Wait parks on Go's runtime poller and holds no OS thread;
// [PidFd.Close] wakes it with [os.ErrClosed]. Waiting on the caller's own
// process waits forever.
//
// For a PidFd from Start, Wait returns when cmd.Wait has returned: the
// child's output has been copied and cmd.ProcessState is set. cmd.Wait can
// report an error along with the exit, such as [os/exec.ErrWaitDelay] when
// cmd.WaitDelay expired before the output was copied: Wait then returns the
// status together with a [*WaitError] that holds both, so that code that
// only checks the error still learns the status. An unsuccessful exit is a
// status, not an error.
func (p *PidFd) Wait() (*ExitStatus, error) {
	return p.wait(context.Background())
}

// WaitContext is [PidFd.Wait] that gives up when ctx is done, returning
// ctx.Err(). Giving up affects neither the process nor the PidFd: a later
// wait picks up where this one left.
func (p *PidFd) WaitContext(ctx context.Context) (*ExitStatus, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	return p.wait(ctx)
}

// WaitExited waits until the process has exited, and returns without
// reaping it: a child of the caller stays a zombie, which holds its PID and
// the process group it leads, until a wait ([PidFd.Wait], WaitContext,
// TryWait, or a [Watcher] it was added to) reaps it. So a supervisor can
// signal the group of a leader that has exited (see [ToProcessGroup]) while
// its ID cannot name another group, and then reap it.
//
// The status is what the kernel tells at the exit: for the caller's
// unreaped child, its exit status without resource usage (waitid with
// WNOWAIT; the reaping reports the usage); for a process that has been
// reaped, what Wait returns; for a child from [StartProcessAutoKill], which
// the kernel reaps as it exits, its record. Any other process that has
// exited (not the caller's child, its parent has not reaped it yet), and
// any process on kernels without the record (before 6.15) once reaped by
// another: [ErrNoExitStatus], as soon as it has exited; its status comes
// with Wait once its parent has reaped it. A thread ([OpenThread]) is
// reaped as it exits, as such a child is.
//
// WaitExited returns ctx.Err() once ctx is done and [os.ErrClosed] once the
// PidFd is closed, and holds no OS thread while it waits.
func (p *PidFd) WaitExited(ctx context.Context) (*ExitStatus, error) {
	return p.waitExited(ctx)
}

// TryWait is [PidFd.Wait] that never blocks: it returns what Wait would
// return at once, or (nil, nil) while Wait would wait: while the process
// runs and, for one that is not the caller's child on Linux 6.15+, until
// its parent has reaped it.
//
// For a PidFd from [Start] whose cmd copies input or output through pipes
// (cmd.Stdin, cmd.Stdout or cmd.Stderr set, and not to an [*os.File]), the
// wait ends only once os/exec has copied everything, which lasts as long as
// any process (a grandchild, say) holds a pipe. Once the child has exited
// TryWait has cmd.Wait run in the background and returns (nil, nil) until
// it has returned; cmd.WaitDelay bounds how long that can take.
func (p *PidFd) TryWait() (*ExitStatus, error) {
	return p.tryWait()
}

// WaitError is the error of a wait that learned how the process ended and
// failed as well. cmd.Wait, which a wait on a PidFd from [Start] calls, can
// report both: an exit, and an error such as [os/exec.ErrWaitDelay], a failed
// copy of the child's output, or the error of a cancelled
// [os/exec.CommandContext]. The wait methods then return (Status, *WaitError),
// and errors.As finds the status in the error too:
//
//	status, err := p.Wait()
//	var we *pidfd.WaitError
//	if errors.As(err, &we) {
//		log.Printf("%v, and then: %v", we.Status, we.Err)
//	} else if err != nil {
//		return err // no status
//	}
type WaitError struct {
	Status *ExitStatus // how the process ended; the status the wait returned
	Err    error       // what failed besides
}

// Error describes the status and the error: "exit status 0: exec:
// WaitDelay expired before I/O complete".
func (e *WaitError) Error() string {
	if e.Err == nil {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Err.Error()
}

// Unwrap returns e.Err, so that errors.Is(err, exec.ErrWaitDelay) holds.
func (e *WaitError) Unwrap() error { return e.Err }

// How long a wait that could not learn what it needs for a passing reason
// pauses before it asks again: doubling from the first to the most.
const (
	askAgainFirst = 10 * time.Millisecond
	askAgainMost  = time.Second
)
