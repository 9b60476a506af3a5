//go:build linux

package pidfd

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// Tests of Close of an unwaited StartProcess PidFd (orphan_linux.go).

// zombieAfter kills pid (a child of ours that the package promised to
// reap) and reports whether it is still a zombie after a while. It reaps
// a zombie it finds, so that the test leaves nothing behind.
func zombieAfter(t *testing.T, pid int, wait time.Duration) bool {
	t.Helper()
	syscall.Kill(pid, syscall.SIGKILL)
	state := ""
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false // reaped: gone
		}
		s := string(stat)
		state = strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
	}
	if state == "Z" {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		return true
	}
	return false
}

// TestCloseOutOfDescriptorsReaps closes a running StartProcess child's
// PidFd while the descriptor table is full, so that no copy of the
// descriptor can be made: the package still reaps the child when it exits,
// from the PidFd's own descriptor.
func TestCloseOutOfDescriptorsReaps(t *testing.T) {
	leakcheck.Check(t)
	p, err := StartProcess("/bin/sleep", []string{"sleep", "3600"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := mustPIDOf(t, p)
	free := fillFdTable(t, 0)
	closeErr := p.Close()
	free()
	if closeErr != nil {
		t.Fatalf("Close out of descriptors = %v", closeErr)
	}
	if zombieAfter(t, pid, 2*time.Second) {
		t.Errorf("PID %d, closed unwaited while the descriptor table was full, was left a zombie (reaped by the test)", pid)
	}
}

// TestCollectedPidFdReaps drops a running StartProcess child's PidFd
// without Close: once the garbage collector has it, the package reaps the
// child when it exits.
func TestCollectedPidFdReaps(t *testing.T) {
	leakcheck.Check(t)
	pid := func() int {
		p, err := StartProcess("/bin/sleep", []string{"sleep", "3600"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return mustPIDOf(t, p)
	}()
	for range 5 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if zombieAfter(t, pid, 2*time.Second) {
		t.Errorf("PID %d, whose StartProcess PidFd was collected without Close, was left a zombie (reaped by the test)", pid)
	}
}

// TestCloseRacesWait races Close against Wait, TryWait and a
// Watcher on StartProcess children that have exited (zombies): the orphan
// reaper and the waiter both try to reap. A waiter must get the child's own
// status (exit status 7) or os.ErrClosed, never another answer.
func TestCloseRacesWait(t *testing.T) {
	leakcheck.Check(t)
	const rounds = 150
	w := newWatcherT(t)
	for _, how := range []string{"Wait", "TryWait", "Watcher"} {
		t.Run(how, func(t *testing.T) {
			outcomes := map[string]int{}
			for i := range rounds {
				p, err := StartProcess("/bin/sh", []string{"sh", "-c", "exit 7"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if how == "Watcher" {
					if err := w.Add(p); err != nil {
						t.Fatal(err)
					}
				}
				if i%2 == 0 {
					waitReadable(t, p) // a zombie: both sides can reap at once
				}
				var start, done sync.WaitGroup
				start.Add(1)
				done.Add(2)
				var status *ExitStatus
				var waitErr error
				go func() {
					defer done.Done()
					start.Wait()
					switch how {
					case "Wait":
						status, waitErr = p.Wait()
					case "TryWait":
						for {
							status, waitErr = p.TryWait()
							if status != nil || waitErr != nil {
								break
							}
							runtime.Gosched()
						}
					case "Watcher":
						x := nextT(t, w)
						status, waitErr = x.Status, x.Err
					}
				}()
				go func() {
					defer done.Done()
					start.Wait()
					if i%3 == 0 {
						runtime.Gosched()
					}
					p.Close()
				}()
				start.Done()
				done.Wait()
				var outcome string
				switch {
				case waitErr == nil && status != nil && status.ExitCode() == 7 && status.SysUsage() != nil:
					outcome = "status with usage"
				case waitErr == nil && status != nil && status.ExitCode() == 7:
					outcome = "status from the kernel's record (no usage)"
				case status == nil && errors.Is(waitErr, os.ErrClosed):
					outcome = "os.ErrClosed"
				default:
					outcome = "WRONG: " + status.String() + " / " + errString(waitErr)
					t.Errorf("round %d: %s racing Close = %v, %v; want exit status 7 or os.ErrClosed", i, how, status, waitErr)
				}
				outcomes[outcome]++
			}
			t.Logf("%s racing Close, %d rounds: %v", how, rounds, outcomes)
			// A child whose PidFd was closed first is reaped by the
			// package as it exits, a moment after the Close returned.
			eventually(t, "the reaping of the children closed unwaited", func() bool {
				kids, err := leakcheck.Children()
				return err == nil && len(kids) == 0
			})
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestCloseRacesWaitOldKernel runs TestCloseRacesWait as Linux 6.1 sees
// it (no PIDFD_GET_INFO, so no record of the exit to fall back on): the
// orphan reaper and a waiter share the one status.
func TestCloseRacesWaitOldKernel(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "6.1", "^TestCloseRacesWait$", "TestCloseRacesWait")
}

// TestCloseTwiceRacesOrphan closes a running StartProcess child's
// PidFd from many goroutines at once, while a Wait and a WaitContext are
// parked: one Close closes, the waiters get os.ErrClosed, and once the
// child dies no zombie, descriptor or goroutine is left.
func TestCloseTwiceRacesOrphan(t *testing.T) {
	leakcheck.Check(t)
	for range 20 {
		p, err := StartProcess("/bin/sleep", []string{"sleep", "3600"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pid := mustPIDOf(t, p)
		waitErrs := make(chan error, 2)
		go func() { _, err := p.Wait(); waitErrs <- err }()
		go func() { _, err := p.WaitContext(t.Context()); waitErrs <- err }()
		time.Sleep(5 * time.Millisecond)
		var start sync.WaitGroup
		start.Add(1)
		errs := make(chan error, 8)
		for range 8 {
			go func() { start.Wait(); errs <- p.Close() }()
		}
		start.Done()
		closed := 0
		for range 8 {
			switch err := <-errs; err {
			case nil:
				closed++
			case os.ErrClosed:
			default:
				t.Errorf("racing Close = %v", err)
			}
		}
		if closed != 1 {
			t.Errorf("%d racing Closes closed; want 1", closed)
		}
		for range 2 {
			if err := <-waitErrs; !errors.Is(err, os.ErrClosed) {
				t.Errorf("parked wait after Close = %v; want os.ErrClosed", err)
			}
		}
		if zombieAfter(t, pid, time.Second) {
			t.Errorf("PID %d left a zombie", pid)
		}
	}
}
