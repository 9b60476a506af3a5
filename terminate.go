package pidfd

import (
	"context"
	"time"
)

// Terminate ends the process with grace, as a supervisor stops a service:
// it sends SIGTERM, and SIGCONT so that a stopped process can act on it;
// waits up to grace for the process to exit; then, if it has not, sends
// SIGKILL; and waits as [PidFd.Wait] does, reaping the caller's child, and
// returns its status. It holds no OS thread while it waits.
//
// opts choose where the signals go, as for [PidFd.Signal]. With
// [ToProcessGroup] (Linux 6.9+) every signal goes to the group the process
// leads, and the grace lasts until the whole group has ended, not only the
// leader: Terminate reaps the leader once it has exited (the group keeps
// its ID, named by the PidFd, see Signal), checks the group until it is
// empty, and at the end of the grace sends SIGKILL to whatever is left of
// it. A member that has exited counts until it is reaped: an orphan whose
// reaper (init, a subreaper) is slow keeps the grace running. A process
// that is not in the group the process leads (one that called setsid, say)
// escapes it: a [Tree] holds every process a child starts.
//
// If ctx is done first, Terminate sends SIGKILL at once and returns
// ctx.Err() without waiting for the end; a later Wait reaps the child. A
// process that is not the caller's child is reported as Wait reports it,
// once its parent has reaped it.
func (p *PidFd) Terminate(ctx context.Context, grace time.Duration, opts ...SignalOption) (*ExitStatus, error) {
	return p.terminate(ctx, grace, opts)
}
