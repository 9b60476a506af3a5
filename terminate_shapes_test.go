//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// TestTerminateNil checks that Terminate of a nil or zero PidFd does not
// panic and says os.ErrInvalid.
func TestTerminateNil(t *testing.T) {
	leakcheck.Check(t)
	for _, p := range []*PidFd{nil, {}} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Terminate of %#v panicked: %v", p, r)
				}
			}()
			s, err := p.Terminate(context.Background(), time.Second)
			if !errors.Is(err, os.ErrInvalid) {
				t.Errorf("Terminate of %p = %v, %v; want os.ErrInvalid", p, s, err)
			}
			s, err = p.WaitExited(context.Background())
			if !errors.Is(err, os.ErrInvalid) {
				t.Errorf("WaitExited of %p = %v, %v; want os.ErrInvalid", p, s, err)
			}
		}()
	}
}

// TestTerminateShapes covers stopped, TERM-ignoring forkers, grace 0 and
// negative, concurrent Terminates, already reaped by another waiter,
// ToProcessGroup on a non-leader.
func TestTerminateShapes(t *testing.T) {
	leakcheck.Check(t)
	deaf := "trap '' TERM; (trap '' TERM; sleep 30) & echo ready; while :; do sleep 0.05; done"
	t.Run("stopped", func(t *testing.T) {
		_, p := startChild(t, testchild.Sleep)
		p.Signal(syscall.SIGSTOP)
		time.Sleep(50 * time.Millisecond)
		s, err := p.Terminate(context.Background(), 5*time.Second)
		if err != nil || s.Signal() != syscall.SIGTERM {
			t.Errorf("Terminate of a stopped child = %v, %v; want signal: terminated", s, err)
		}
	})
	for _, grace := range []time.Duration{0, -time.Second} {
		t.Run(fmt.Sprint("grace ", grace), func(t *testing.T) {
			cmd := exec.Command("sh", "-c", deaf)
			out, _ := cmd.StdoutPipe()
			p := startCmd(t, cmd)
			buf := make([]byte, 6)
			out.Read(buf)
			began := time.Now()
			s, err := p.Terminate(context.Background(), grace)
			if err != nil || s.Signal() != syscall.SIGKILL || time.Since(began) > time.Second {
				t.Errorf("Terminate(grace %v) = %v, %v after %v; want killed at once", grace, s, err, time.Since(began))
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		cmd := exec.Command("sh", "-c", deaf)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, _ := cmd.StdoutPipe()
		p := startCmd(t, cmd)
		buf := make([]byte, 6)
		out.Read(buf)
		var wg sync.WaitGroup
		results := make([]string, 6)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var opts []SignalOption
				if i%2 == 0 && KernelFeatures().ThreadPidFds {
					opts = append(opts, ToProcessGroup())
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				s, err := p.Terminate(ctx, 200*time.Millisecond, opts...)
				results[i] = fmt.Sprint(s, err)
			}()
		}
		wg.Wait()
		for i, r := range results {
			if r != "signal: killed <nil>" {
				t.Errorf("Terminate %d = %s; want signal: killed <nil>", i, r)
			}
		}
	})
	t.Run("reaped by another", func(t *testing.T) {
		_, p := startChild(t, testchild.Exit, "4")
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		s, err := p.Terminate(context.Background(), time.Second)
		if err != nil || s.ExitCode() != 4 {
			t.Errorf("Terminate of a reaped child = %v, %v; want exit status 4", s, err)
		}
	})
	t.Run("not leader", func(t *testing.T) {
		if !KernelFeatures().ThreadPidFds {
			t.Skip("signals to a group through a pidfd need PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9)")
		}
		_, p := startChild(t, testchild.Sleep) // in our group
		s, err := p.Terminate(context.Background(), time.Second, ToProcessGroup())
		if !errors.Is(err, ErrNotGroupLeader) {
			t.Errorf("Terminate(ToProcessGroup) of a non-leader = %v, %v; want ErrNotGroupLeader", s, err)
		}
		if st := procState(t, mustPIDOf(t, p)); st == "Z" {
			t.Errorf("the non-leader was signalled")
		}
	})
	t.Run("ctx ends in group phase", func(t *testing.T) {
		if !KernelFeatures().ThreadPidFds {
			t.Skip("signals to a group through a pidfd need PIDFD_SIGNAL_PROCESS_GROUP (Linux 6.9)")
		}
		// The leader dies at TERM, its member ignores it; ctx ends while
		// Terminate checks the group: Terminate kills the group and
		// returns ctx.Err; Wait then has the leader's status.
		cmd := exec.Command("sh", "-c", "(trap '' TERM; echo ready; while :; do sleep 0.05; done) & wait")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, _ := cmd.StdoutPipe()
		p := startCmd(t, cmd)
		buf := make([]byte, 6)
		out.Read(buf)
		pgid := mustPIDOf(t, p)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		s, err := p.Terminate(ctx, 5*time.Second, ToProcessGroup())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Terminate = %v, %v; want DeadlineExceeded", s, err)
		}
		w, err := p.Wait()
		if err != nil || w.Signal() != syscall.SIGTERM {
			t.Errorf("Wait after = %v, %v; want signal: terminated", w, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(-pgid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("group %d still has members after Terminate's ctx ended", pgid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
