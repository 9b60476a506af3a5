//go:build linux

package pidfd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// TestWatcherExactlyOnce watches 600 short children, added by Add or
// AddExited, some removed, some closed while watched, while Exits and Next
// both take exits; every watched PidFd is delivered exactly once, removed
// ones never.
func TestWatcherExactlyOnce(t *testing.T) {
	leakcheck.Check(t)
	const n = 600
	w := newWatcherT(t)
	type rec struct {
		p       *PidFd
		exited  bool
		removed bool
		closed  bool
	}
	var mu sync.Mutex
	byP := map[*PidFd]*rec{}
	got := map[*PidFd]int{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deliver := func(x Exit) {
		mu.Lock()
		defer mu.Unlock()
		got[x.PidFd]++
		r := byP[x.PidFd]
		switch {
		case r == nil:
			t.Errorf("delivered an unknown PidFd %p", x.PidFd)
		case r.closed:
			// status or ErrClosed
		case x.Err != nil || x.Status.ExitCode() != 0:
			t.Errorf("exit of %p (exited %v) = %v, %v", x.PidFd, r.exited, x.Status, x.Err)
		}
	}
	total := make(chan int, 1)
	count := 0
	var cmu sync.Mutex
	done := make(chan struct{})
	take := func(x Exit) {
		deliver(x)
		cmu.Lock()
		count++
		c := count
		cmu.Unlock()
		select {
		case want := <-total:
			if c >= want {
				close(done)
			} else {
				total <- want
			}
		default:
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case x, ok := <-w.Exits():
				if !ok {
					return
				}
				take(x)
			case <-done:
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			nctx, ncancel := context.WithTimeout(ctx, 50*time.Millisecond)
			x, err := w.Next(nctx)
			ncancel()
			if err == nil {
				take(x)
				continue
			}
			select {
			case <-done:
				return
			default:
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Next: %v", err)
				return
			}
		}
	}()
	expect := 0
	for i := 0; i < n; i++ {
		cmd := exec.Command("true")
		p := startCmd(t, cmd)
		r := &rec{p: p, exited: i%3 == 1}
		mu.Lock()
		byP[p] = r
		mu.Unlock()
		var err error
		if r.exited {
			err = w.AddExited(p)
		} else {
			err = w.Add(p)
		}
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		switch i % 10 {
		case 4:
			if err := w.Remove(p); err == nil {
				mu.Lock()
				r.removed = true
				mu.Unlock()
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Remove: %v", err)
			} else {
				expect++ // delivered already
			}
		case 7:
			mu.Lock()
			r.closed = true
			mu.Unlock()
			p.Close()
			expect++
		default:
			expect++
		}
	}
	// Counting race: count may already exceed; seed the total.
	cmu.Lock()
	if count >= expect {
		close(done)
	} else {
		total <- expect
	}
	cmu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		t.Errorf("only %d of %d exits delivered; Len %d", count, expect, w.Len())
	}
	cancel()
	wg.Wait()
	mu.Lock()
	for p, r := range byP {
		switch c := got[p]; {
		case r.removed && c != 0:
			t.Errorf("removed PidFd delivered %d times", c)
		case !r.removed && c != 1:
			t.Errorf("PidFd (exited %v closed %v) delivered %d times", r.exited, r.closed, c)
		}
	}
	mu.Unlock()
	if l := w.Len(); l != 0 {
		t.Errorf("Len = %d after all delivered", l)
	}
}

// TestWatcherCloseHoldingExit calls Close while forward holds an exit no
// one receives; the channel closes, Exits after Close is closed, a Wait on
// the dropped PidFd still has its status, nothing leaks.
func TestWatcherCloseHoldingExit(t *testing.T) {
	leakcheck.Check(t)
	for round := 0; round < 20; round++ {
		w, err := NewWatcher()
		if err != nil {
			t.Fatal(err)
		}
		ch := w.Exits()
		_, p := startChild(t, testchild.Exit, "9")
		_, q := startChild(t, testchild.Sleep)
		if round%2 == 0 {
			w.Add(p)
		} else {
			w.AddExited(p)
		}
		w.Add(q)
		time.Sleep(time.Duration(round%4) * 30 * time.Millisecond)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for x := range ch {
			// at most what was held
			if x.PidFd != p {
				t.Errorf("after Close: delivered %v", x)
			}
		}
		if _, ok := <-w.Exits(); ok {
			t.Errorf("Exits after Close delivered")
		}
		s, err := p.Wait()
		if err != nil || s.ExitCode() != 9 {
			t.Errorf("Wait of the dropped PidFd = %v, %v", s, err)
		}
		if _, err := w.Next(context.Background()); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	}
}
