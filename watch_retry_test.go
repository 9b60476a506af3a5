//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// Tests of the Watcher's retry timer (stepLater, askAgain): an entry whose
// step could not learn whether the kernel records exits (the probe ran out
// of descriptors) is armed again by time.AfterFunc. Remove, re-Add, Close of
// the PidFd and Close of the Watcher while that timer is pending must leave
// no delivery, no leak and no use of a closed epoll set.

// laterEntry watches an exited, unreaped grandchild while the package does
// not know whether the kernel records exits and the descriptor table is
// full, and calls Next until the entry's step has asked for a pause (a
// timer pending). It returns the PidFd, the Watcher, a function that frees
// the table, and one that has the grandchild reaped.
func laterEntry(t *testing.T) (p *PidFd, w *Watcher, free, reap func()) {
	t.Helper()
	pid, reap := startLateReaper(t)
	p, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	w = newWatcherT(t)
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, p)
	// Nothing known: the probe needs a descriptor, also where the kernel
	// lacks PIDFD_GET_INFO (5.10: the probe of that answers first).
	for _, c := range []*capability{&exitInfo, &getInfo} {
		saved := c.state.Swap(capUnknown)
		t.Cleanup(func() { c.state.Store(saved) })
	}
	free = fillFdTable(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	x, err := w.Next(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		free()
		t.Fatalf("Next out of descriptors = %v, %v, %v; want nothing yet", x.Status, x.Err, err)
	}
	if exitInfo.state.Load() != capUnknown {
		free()
		t.Fatal("the probe answered: no retry timer is pending")
	}
	return p, w, free, reap
}

func nextNothing(t *testing.T, w *Watcher, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if x, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s: Next = %v, %v, %v; want nothing delivered", what, x.Status, x.Err, err)
	}
}

func TestWatcherRetryTimer(t *testing.T) {
	leakcheck.Check(t)
	t.Run("Remove", func(t *testing.T) {
		p, w, free, reap := laterEntry(t)
		if err := w.Remove(p); err != nil {
			t.Fatal(err)
		}
		free()
		time.Sleep(1200 * time.Millisecond) // every pending timer fires
		nextNothing(t, w, "after Remove")
		if n := w.Len(); n != 0 {
			t.Errorf("Len after Remove = %d", n)
		}
		reap()
		if status, err := p.Wait(); !KernelFeatures().ExitInfo {
			if !errors.Is(err, ErrNoExitStatus) {
				t.Errorf("Wait without PIDFD_INFO_EXIT = %v, %v; want ErrNoExitStatus", status, err)
			}
		} else if err != nil || status.ExitCode() != 7 {
			t.Errorf("Wait = %v, %v; want exit status 7", status, err)
		}
	})
	t.Run("Remove and Add again", func(t *testing.T) {
		p, w, free, reap := laterEntry(t)
		if err := w.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		free()
		time.Sleep(1200 * time.Millisecond)
		reap()
		x := nextT(t, w)
		if x.PidFd != p {
			t.Errorf("delivered another PidFd")
		}
		checkGrandchild(t, x, "exit status 7", KernelFeatures().ExitInfo)
		nextNothing(t, w, "after the one delivery")
	})
	t.Run("Close of the PidFd", func(t *testing.T) {
		p, w, free, _ := laterEntry(t)
		p.Close()
		free()
		x := nextT(t, w)
		if !errors.Is(x.Err, os.ErrClosed) || x.PidFd != p {
			t.Errorf("delivered %v, %v; want os.ErrClosed", x.Status, x.Err)
		}
		time.Sleep(1200 * time.Millisecond)
		nextNothing(t, w, "after Close of the PidFd")
	})
	t.Run("Close of the Watcher", func(t *testing.T) {
		_, w, free, _ := laterEntry(t)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		free()
		time.Sleep(1200 * time.Millisecond) // the timer fires on a closed Watcher
		if _, err := w.Next(context.Background()); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Next after Close = %v", err)
		}
	})
	t.Run("WaitContext and Close", func(t *testing.T) {
		p, w, free, _ := laterEntry(t)
		w.Remove(p)
		done := make(chan error, 1)
		go func() {
			_, err := p.WaitContext(context.Background())
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // pausing between questions
		p.Close()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("WaitContext pausing, then Close = %v; want os.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("WaitContext pausing did not return after Close")
		}
		free()
	})
}
