//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// terminate is Terminate.
func (p *PidFd) terminate(ctx context.Context, grace time.Duration, opts []SignalOption) (*ExitStatus, error) {
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
