package pidfd

import (
	"context"
	"errors"
	"os"
	"syscall"
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
	if ctx == nil {
		ctx = context.Background()
	}
	group := false
	for _, o := range opts {
		group = group || o.scope == scopeProcessGroup
	}
	send := func(sig syscall.Signal) error {
		err := p.Signal(sig, opts...)
		if errors.Is(err, os.ErrProcessDone) {
			return nil // ended already: the wait below tells how
		}
		return err
	}
	if err := send(syscall.SIGTERM); err != nil {
		return nil, err
	}
	if err := send(syscall.SIGCONT); err != nil {
		return nil, err
	}
	graceCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	ended := p.awaitEnd(graceCtx, group)
	if err := ctx.Err(); err != nil {
		send(syscall.SIGKILL)
		return nil, err
	}
	if !ended {
		if err := send(syscall.SIGKILL); err != nil {
			return nil, err
		}
	}
	status, err := p.WaitContext(ctx)
	if ctx.Err() != nil {
		send(syscall.SIGKILL)
	}
	return status, err
}

// awaitEnd waits until the process has exited and, for group, its group is
// empty, or ctx is done; it reports whether all ended. The leader of a group
// is reaped first (it is in its group while a zombie); a group's emptiness
// is learned by signal 0, checked with pauses that double from
// askAgainFirst up to a tenth of a second.
func (p *PidFd) awaitEnd(ctx context.Context, group bool) bool {
	if _, err := p.WaitExited(ctx); err != nil && !errors.Is(err, ErrNoExitStatus) {
		return false
	}
	if !group {
		return true
	}
	if _, err := p.WaitContext(ctx); ctx.Err() != nil {
		return false
	} else if err != nil && !errors.Is(err, ErrNoExitStatus) {
		return false
	}
	for pause := askAgainFirst; ; pause = min(2*pause, 100*time.Millisecond) {
		if errors.Is(p.Signal(syscall.Signal(0), ToProcessGroup()), os.ErrProcessDone) {
			return true
		}
		timer := time.NewTimer(pause)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false
		}
	}
}
