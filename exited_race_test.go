//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// TestWaitExitedWhileCopying starts a child with Start that exits at once
// while a grandchild holds its stdout for 3 s, and a Wait on the PidFd runs
// meanwhile (a supervisor's usual goroutine): WaitExited returns at the
// exit, not when os/exec has copied the output.
func TestWaitExitedWhileCopying(t *testing.T) {
	leakcheck.Check(t)
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", "sleep 3 & exit 7")
	cmd.Stdout = &out
	p := startCmd(t, cmd)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		p.Wait()
	}()
	// Let the Wait see the exit and start os/exec's reaping.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, err := p.WaitExited(ctx)
	took := time.Since(start)
	t.Logf("WaitExited = %v, %v after %v", status, err, took)
	if err != nil || status.ExitCode() != 7 {
		t.Errorf("WaitExited = %v, %v; want exit status 7", status, err)
	}
	if took > time.Second {
		t.Errorf("WaitExited took %v: it waited for the grandchild's copy, not the exit (sh exited 300ms before the call)", took)
	}
	<-waited
}

// TestWaitExitedExternalReap has our child (Open: the PidFd reaps
// directly) reaped behind the PidFd's back by wait4 while WaitExited looks:
// once reaped, WaitExited returns what Wait returns (the kernel's record,
// 6.15+), never ErrNoExitStatus for our own child.
func TestWaitExitedExternalReap(t *testing.T) {
	leakcheck.Check(t)
	if !KernelFeatures().ExitInfo {
		t.Skip("a process reaped by another has no status to read before PIDFD_INFO_EXIT (Linux 6.15)")
	}
	bad := 0
	for i := 0; i < 150; i++ {
		p, err := startAndOpen(exec.Command("sh", "-c", "exit 3"))
		if err != nil {
			t.Fatal(err)
		}
		pid := mustPIDOf(t, p)
		var wg sync.WaitGroup
		wg.Add(1)
		var status *ExitStatus
		var werr error
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			status, werr = p.WaitExited(ctx)
		}()
		var ws unix.WaitStatus
		for {
			n, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if err != nil || n == pid {
				break
			}
			runtime.Gosched()
		}
		wg.Wait()
		if werr != nil || status.ExitCode() != 3 {
			bad++
			if bad < 4 {
				t.Errorf("round %d: WaitExited = %v, %v; want exit status 3 (our child, reaped by wait4)", i, status, werr)
			}
		}
		p.Close()
	}
	if bad > 0 {
		t.Errorf("%d of 150 rounds wrong", bad)
	}
}

// TestWaitExitedRaces: many goroutines in WaitExited, Wait, TryWait and
// a Watcher on one PidFd, each constructor; every status agrees.
func TestWaitExitedRaces(t *testing.T) {
	leakcheck.Check(t)
	for _, name := range constructorNames {
		t.Run(name, func(t *testing.T) {
			for round := 0; round < 10; round++ {
				cmd := testchild.Command(testchild.Exit, "5")
				p, err := constructors[name](cmd)
				if err != nil {
					t.Fatal(err)
				}
				w := newWatcherT(t)
				if round%2 == 0 {
					w.Add(p)
				} else {
					w.AddExited(p)
				}
				var wg sync.WaitGroup
				errs := make(chan string, 64)
				check := func(who string, s *ExitStatus, err error) {
					if err != nil || s.ExitCode() != 5 {
						errs <- who + ": " + s.String() + " " + errString(err)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				for i := 0; i < 8; i++ {
					wg.Add(3)
					go func() { defer wg.Done(); s, err := p.WaitExited(ctx); check("WaitExited", s, err) }()
					go func() { defer wg.Done(); s, err := p.WaitContext(ctx); check("Wait", s, err) }()
					go func() {
						defer wg.Done()
						for ctx.Err() == nil {
							s, err := p.TryWait()
							if s != nil || err != nil {
								check("TryWait", s, err)
								return
							}
							time.Sleep(time.Millisecond)
						}
					}()
				}
				x, err := w.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				check("Next", x.Status, x.Err)
				wg.Wait()
				cancel()
				close(errs)
				for e := range errs {
					t.Errorf("round %d: %s", round, e)
				}
				if s, err := p.Wait(); err != nil || s.ExitCode() != 5 {
					t.Errorf("final Wait = %v, %v", s, err)
				}
				p.Close()
				w.Close()
			}
		})
	}
}

// TestWaitExitedCloseRace closes the PidFd while many WaitExited park:
// each returns ErrClosed or the status, none hangs, no leak.
func TestWaitExitedCloseRace(t *testing.T) {
	leakcheck.Check(t)
	for round := 0; round < 20; round++ {
		cmd, p := startChild(t, testchild.Sleep)
		_ = cmd
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				s, err := p.WaitExited(ctx)
				if errors.Is(err, context.DeadlineExceeded) || (err == nil && s == nil) {
					t.Errorf("WaitExited = %v, %v", s, err)
				}
			}()
		}
		if round%2 == 0 {
			p.Kill()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		p.Close()
		wg.Wait()
	}
}

var _ = os.Getpid
