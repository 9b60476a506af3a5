//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// TestWaitParent waits for a running process that is not a child, by a
// PidFd from Open and from FromProcess: the waits wait, and neither fails
// for want of a child (as waitid would, with ECHILD).
func TestWaitParent(t *testing.T) {
	leakcheck.Check(t)
	parent, err := os.FindProcess(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Release()
	for name, open := range map[string]func() (*PidFd, error){
		"Open":        func() (*PidFd, error) { return Open(os.Getppid()) },
		"FromProcess": func() (*PidFd, error) { return FromProcess(parent) },
	} {
		t.Run(name, func(t *testing.T) {
			p, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if status, err := p.TryWait(); status != nil || err != nil {
				t.Errorf("TryWait on parent = %v, %v; want nil, nil (running)", status, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if status, err := p.WaitContext(ctx); status != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitContext on parent = %v, %v; want DeadlineExceeded", status, err)
			}
		})
	}
}

func TestTryWait(t *testing.T) {
	leakcheck.Check(t)
	for _, construct := range []string{"Start", "Open"} {
		t.Run(construct, func(t *testing.T) {
			p := sleeperBy(t, construct)
			pid, err := p.PID()
			if err != nil {
				t.Fatal(err)
			}
			if status, err := p.TryWait(); status != nil || err != nil {
				t.Fatalf("TryWait while running = %v, %v; want nil, nil", status, err)
			}
			if state := procState(t, pid); state == "Z" {
				t.Fatalf("child is a zombie after TryWait found it running")
			}
			p.Kill()
			waitReadable(t, p)
			status, err := p.TryWait()
			if err != nil || status == nil || status.Signal() != syscall.SIGKILL {
				t.Fatalf("TryWait after exit = %v, %v; want signal: killed", status, err)
			}
			again, err := p.Wait()
			if again != status || err != nil {
				t.Errorf("Wait after TryWait = %v, %v; want the same status", again, err)
			}
		})
	}
}

// TestWaitSelf: a wait on the calling process cannot see its own exit; it
// ends with its context or with Close, as Self's doc says.
func TestWaitSelf(t *testing.T) {
	leakcheck.Check(t)
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if status, err := p.WaitContext(ctx); status != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext on Self = %v, %v; want DeadlineExceeded", status, err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := p.Wait()
		waited <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Wait on Self after Close = %v; want os.ErrClosed", err)
	}
}

func TestWaitContext(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	status, err := p.WaitContext(ctx)
	cancel()
	if status != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext with a deadline = %v, %v; want DeadlineExceeded", status, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	status, err = p.WaitContext(ctx)
	if status != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitContext cancelled = %v, %v; want Canceled", status, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := p.WaitContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitContext with a done context = %v; want Canceled", err)
	}

	// Still usable: a plain wait sees the kill.
	p.Kill()
	status, err = p.Wait()
	if err != nil || status.Signal() != syscall.SIGKILL {
		t.Fatalf("Wait after cancelled waits = %v, %v; want signal: killed", status, err)
	}
}

func TestCloseDuringWait(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Sleep)
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 5
	errs := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := p.Wait()
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them park; the test holds either way
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range waiters {
		if err := <-errs; !errors.Is(err, os.ErrClosed) {
			t.Errorf("Wait interrupted by Close = %v; want os.ErrClosed", err)
		}
	}
	if err := p.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v; want os.ErrClosed", err)
	}
	// Closing the PidFd left the child alone: os/exec still owns its exit.
	if state := procState(t, cmd.Process.Pid); state == "Z" {
		t.Errorf("child state %q after Close; want it still running", state)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func TestConcurrentWaitAndSignal(t *testing.T) {
	leakcheck.Check(t)
	for _, construct := range []string{"Start", "Open"} {
		t.Run(construct, func(t *testing.T) {
			p := sleeperBy(t, construct)
			const n = 16
			statuses := make(chan *ExitStatus, n)
			signalErrs := make(chan error, n)
			for range n {
				go func() {
					status, err := p.Wait()
					if err != nil {
						t.Errorf("Wait: %v", err)
					}
					statuses <- status
				}()
				go func() {
					var err error
					for err == nil {
						err = p.Signal(syscall.Signal(0))
						p.PID()
						p.TryWait()
					}
					signalErrs <- err
				}()
			}
			time.Sleep(10 * time.Millisecond)
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			first := <-statuses
			for range n - 1 {
				if s := <-statuses; s != first {
					t.Errorf("waiters got different statuses: %v and %v", first, s)
				}
			}
			for range n {
				if err := <-signalErrs; !errors.Is(err, os.ErrProcessDone) {
					t.Errorf("Signal(0) after exit = %v; want os.ErrProcessDone", err)
				}
			}
			if first == nil || first.Signal() != syscall.SIGKILL {
				t.Errorf("status = %v; want signal: killed", first)
			}
		})
	}
}

// TestWaitersAgree has twelve goroutines wait on one child in four ways at
// once, half of them from the moment it exits, over many children of every
// constructor: every waiter must get the one reaped status, the one with
// the child's rusage. A wait that comes after os/exec or os has reaped the
// child, but before the status is handed over, must wait for it too, not
// take the child for another's (whose status a kernel before 6.15 cannot
// tell: ErrNoExitStatus). For the Start children a writer that holds the
// output keeps cmd.Wait busy after the reaping until the late waiters have
// started, so that they come in that window.
func TestWaitersAgree(t *testing.T) {
	leakcheck.Check(t)
	const rounds, waiters = 200, 12
	waits := []struct {
		name string
		wait func(p *PidFd) (*ExitStatus, error)
	}{
		{"Wait", (*PidFd).Wait},
		{"WaitContext", func(p *PidFd) (*ExitStatus, error) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return p.WaitContext(ctx)
		}},
		{"TryWait", func(p *PidFd) (*ExitStatus, error) {
			for {
				if s, err := p.TryWait(); s != nil || err != nil {
					return s, err
				}
				time.Sleep(100 * time.Microsecond)
			}
		}},
		{"WaitContext(Background)", func(p *PidFd) (*ExitStatus, error) { return p.WaitContext(context.Background()) }},
	}
	names := slices.Sorted(maps.Keys(constructors))
	var bad []string
	badRounds := 0
	for round := range rounds {
		construct := names[round%len(names)]
		code := 1 + round%100
		cmd := exec.Command("sh", "-c", "echo x; exit "+strconv.Itoa(code))
		held := &heldWriter{release: make(chan struct{})}
		if construct == "Start" {
			cmd.Stdout = held
		}
		p, err := constructors[construct](cmd)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := p.PID()
		if err != nil {
			close(held.release)
			p.Wait()
			p.Close()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			fds := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					break
				}
			}
			close(exited)
		}()
		type result struct {
			how    string
			status *ExitStatus
			err    error
		}
		results := make(chan result, waiters)
		var lateStarted sync.WaitGroup
		for i := range waiters {
			w := waits[i%len(waits)]
			late := i >= waiters/2
			if late {
				lateStarted.Add(1)
			}
			go func() {
				if late {
					<-exited
					lateStarted.Done()
				}
				s, err := w.wait(p)
				results <- result{w.name, s, err}
			}()
		}
		lateStarted.Wait()
		// Let the late waiters look (where os/exec copies output, the
		// child has been reaped by now), then let cmd.Wait finish.
		time.Sleep(time.Millisecond)
		close(held.release)
		var got []result
		for range waiters {
			got = append(got, <-results)
		}
		p.Close()
		reaped := got[0].status
		for _, r := range got {
			if ru, _ := r.status.SysUsage().(*syscall.Rusage); r.err == nil && ru != nil {
				reaped = r.status
			}
		}
		before := len(bad)
		for _, r := range got {
			if r.err != nil || r.status != reaped || r.status.ExitCode() != code || r.status.Pid() != pid {
				bad = append(bad, fmt.Sprintf("round %d (%s, pid %d, exit %d): %s = %v, %v; want the reaped status %v",
					round, construct, pid, code, r.how, r.status, r.err, reaped))
			}
		}
		if len(bad) > before {
			badRounds++
		}
	}
	if len(bad) > 0 {
		t.Errorf("waiters disagreed in %d of %d rounds of %d waiters (kernel records exit statuses: %v):\n%s",
			badRounds, rounds, waiters, KernelFeatures().ExitInfo, strings.Join(bad, "\n"))
	}
}

// heldWriter takes writes once release is closed.
type heldWriter struct{ release chan struct{} }

func (w *heldWriter) Write(b []byte) (int, error) {
	<-w.release
	return len(b), nil
}

// TestWaitersAgreeOnOldKernel runs TestWaitersAgree, and the waits for
// processes that are not children, without PIDFD_GET_INFO, as on Linux 6.1,
// where the kernel has no exit status of its own to give.
func TestWaitersAgreeOnOldKernel(t *testing.T) {
	leakcheck.Check(t)
	if has, _ := getInfo.has(); !has {
		t.Skip("this kernel has no ioctl(PIDFD_GET_INFO) (Linux 6.13) itself: TestWaitersAgree covers it")
	}
	runUnder(t, "6.1", "^(TestWaitersAgree|TestWaitNotChild|TestWaitParent|TestExitStatusUnknowns)$", "TestWaitersAgree")
}

// TestWaitHoldsNoThread parks many waits at once and checks that the OS
// thread count stays near GOMAXPROCS, not one per wait. (exec.Cmd.Wait would
// hold one thread per child.)
func TestWaitHoldsNoThread(t *testing.T) {
	leakcheck.Check(t)
	const children = 200
	pidfds := make([]*PidFd, 0, children)
	defer func() {
		for _, p := range pidfds {
			p.Kill()
			p.Wait()
			p.Close()
		}
	}()
	for range children {
		cmd := exec.Command("sleep", "3600")
		p, err := Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		pidfds = append(pidfds, p)
	}
	done := make(chan struct{})
	for _, p := range pidfds {
		go func() {
			p.Wait()
			done <- struct{}{}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the waits park
	if threads := threadCount(t); threads > 50 {
		t.Errorf("%d OS threads with %d waits parked; want far fewer than one per wait", threads, children)
	}
	for _, p := range pidfds {
		p.Kill()
	}
	for range children {
		<-done
	}
}

func threadCount(t testing.TB) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

func TestCloseDuringOutputCopy(t *testing.T) {
	leakcheck.Check(t)
	// The child exits at once, but a grandchild keeps its stdout open for a
	// while: os/exec's cmd.Wait waits for it. Close must not.
	var stdout bytes.Buffer
	cmd := exec.Command("sh", "-c", "sleep 2 & exit 0")
	cmd.Stdout = &stdout
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	waitReadable(t, p)
	waited := make(chan error, 1)
	go func() {
		_, err := p.Wait()
		waited <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the reaping; the test holds either way
	p.Close()
	if err := <-waited; !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait interrupted by Close while output is copied = %v; want os.ErrClosed", err)
	}
	// TryWait never waits for the copy (see TestTryWaitDuringOutputCopy).
	if status, err := p.TryWait(); status != nil || !errors.Is(err, os.ErrClosed) {
		t.Errorf("TryWait after Close while output is copied = %v, %v; want os.ErrClosed", status, err)
	}
}

// TestTryWaitDuringOutputCopy has a child exit while a grandchild holds its
// output pipe, which os/exec copies into a buffer: TryWait must return at
// once, (nil, nil), while the pipe is still held, and the status once the
// grandchild lets go. The grandchild, cat, holds the pipe until the test
// closes the pipe that cat reads, so the pipe provably is held when
// TryWait returns if the test has not closed it by then.
func TestTryWaitDuringOutputCopy(t *testing.T) {
	leakcheck.Check(t)
	catIn, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd := exec.Command("sh", "-c", "echo early; cat <&3 & exit 0")
	cmd.Stdout = &stdout
	cmd.ExtraFiles = []*os.File{catIn}
	p, err := Start(cmd)
	catIn.Close()
	if err != nil {
		hold.Close()
		t.Fatal(err)
	}
	defer p.Close()
	var letGo sync.Once
	release := func() { letGo.Do(func() { hold.Close() }) }
	defer release()
	waitReadable(t, p) // sh has exited; cat holds its stdout

	// Only so that a TryWait that waits for the pipe ends, and fails.
	var released atomic.Bool
	watchdog := time.AfterFunc(10*time.Second, func() {
		released.Store(true)
		release()
	})
	status, err := p.TryWait()
	stillHeld := !released.Load()
	watchdog.Stop()
	if !stillHeld {
		t.Fatalf("TryWait = %v, %v only once the grandchild let go of the output pipe; want it at once", status, err)
	}
	if status != nil || err != nil {
		t.Errorf("TryWait while the output is copied = %v, %v; want nil, nil", status, err)
	}

	if _, err := io.WriteString(hold, "late\n"); err != nil {
		t.Fatal(err) // cat is gone: the pipe was not held after all
	}
	release()
	for status == nil && err == nil {
		time.Sleep(time.Millisecond)
		status, err = p.TryWait()
	}
	if err != nil || !status.Success() || cmd.ProcessState == nil {
		t.Fatalf("TryWait after the copy = %v, %v (cmd.ProcessState %v); want success", status, err, cmd.ProcessState)
	}
	if got := stdout.String(); got != "early\nlate\n" {
		t.Errorf("output = %q; want everything, copied before the status came", got)
	}
	if again, err := p.Wait(); again != status || err != nil {
		t.Errorf("Wait after TryWait = %v, %v; want the same status", again, err)
	}
}

// TestWaitDelay lets cmd.WaitDelay expire while a grandchild holds the
// output pipe: cmd.Wait reports the exit and exec.ErrWaitDelay together,
// and every wait returns both, the error a *WaitError holding the status.
func TestWaitDelay(t *testing.T) {
	leakcheck.Check(t)
	catIn, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close() // cat's end, after the test
	var stdout bytes.Buffer
	cmd := exec.Command("sh", "-c", "cat <&3 & exit 0")
	cmd.Stdout = &stdout
	cmd.ExtraFiles = []*os.File{catIn}
	cmd.WaitDelay = 10 * time.Millisecond
	p, err := Start(cmd)
	catIn.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	status, err := p.Wait()
	var we *WaitError
	if status == nil || !status.Success() || !errors.As(err, &we) || we.Status != status ||
		!errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("Wait = %v, %v; want exit status 0 and a *WaitError for exec.ErrWaitDelay", status, err)
	}
	if want := "exit status 0: " + exec.ErrWaitDelay.Error(); err.Error() != want {
		t.Errorf("error %q; want %q", err, want)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Errorf("cmd.ProcessState = %v; want the child's success", cmd.ProcessState)
	}
	for name, wait := range map[string]func() (*ExitStatus, error){
		"Wait": p.Wait, "TryWait": p.TryWait,
		"WaitContext": func() (*ExitStatus, error) { return p.WaitContext(context.Background()) },
	} {
		if again, againErr := wait(); again != status || againErr != err {
			t.Errorf("%s after Wait = %v, %v; want the same status and error", name, again, againErr)
		}
	}
}

// grandchild starts sh, which starts a subshell that runs script and ends;
// sh reaps it. It returns a PidFd for the subshell: a process that is not
// our child.
func grandchild(t *testing.T, script string) *PidFd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "("+script+") & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Wait() })
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatal(err)
	}
	// The subshell is alive until the script ends, and sh reaps it only then.
	p, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestWaitNotChild waits for processes that are not the caller's children:
// a grandchild (its parent, sh, reaps it), and a child that os/exec reaps
// while a PidFd from Open waits too. The waits report the kernel's record
// of the exit (Linux 6.15+), or ErrNoExitStatus as soon as the process has
// exited; never ECHILD.
func TestWaitNotChild(t *testing.T) {
	leakcheck.Check(t)
	cases := []struct {
		script string
		kill   bool
		want   string
	}{
		{"sleep 0.2; exit 7", false, "exit status 7"},
		{"exec sleep 3600", true, "signal: killed"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			p := grandchild(t, tc.script)
			pid := mustPIDOf(t, p)
			if status, err := p.TryWait(); status != nil || err != nil {
				t.Errorf("TryWait on a running grandchild = %v, %v; want nil, nil", status, err)
			}
			if tc.kill {
				if err := p.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			status, err := p.Wait()
			if !KernelFeatures().ExitInfo {
				if status != nil || !errors.Is(err, ErrNoExitStatus) {
					t.Errorf("Wait without exit info = %v, %v; want ErrNoExitStatus", status, err)
				}
				// It must have returned at the exit: the pidfd polls readable.
				fds := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
				if n, err := unix.Poll(fds, 0); n != 1 || err != nil {
					t.Errorf("Wait returned while the process still runs (poll: %d, %v)", n, err)
				}
				return
			}
			if err != nil || status.String() != tc.want || status.Pid() != pid {
				t.Errorf("Wait = %v (pid %d), %v; want %s of %d", status, status.Pid(), err, tc.want, pid)
			}
			if again, err := p.TryWait(); err != nil || again.String() != tc.want {
				t.Errorf("TryWait after Wait = %v, %v; want %s", again, err, tc.want)
			}
		})
	}
	t.Run("own child", func(t *testing.T) {
		for name, construct := range constructors {
			cmd := testchild.Command(testchild.Exit, "5")
			p, err := construct(cmd)
			if err != nil {
				t.Fatal(err)
			}
			status, err := p.WaitContext(context.Background())
			if err != nil || status.ExitCode() != 5 {
				t.Errorf("%s: WaitContext on a child = %v, %v; want exit status 5", name, status, err)
			}
			if again, err := p.Wait(); err != nil || again.ExitCode() != 5 {
				t.Errorf("%s: Wait after WaitContext = %v, %v", name, again, err)
			}
			p.Close()
		}
	})
	t.Run("own child reaped by os/exec", func(t *testing.T) {
		cmd := testchild.Command(testchild.Exit, "6")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p, err := Open(cmd.Process.Pid) // our unreaped child: no race
		if err != nil {
			cmd.Wait()
			t.Fatal(err)
		}
		defer p.Close()
		var exitErr *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 6 {
			t.Fatalf("cmd.Wait = %v; want exit status 6", err)
		}
		status, err := p.Wait()
		switch {
		case !KernelFeatures().ExitInfo:
			if status != nil || !errors.Is(err, ErrNoExitStatus) {
				t.Errorf("Wait without exit info = %v, %v; want ErrNoExitStatus", status, err)
			}
		case err != nil || status.ExitCode() != 6 || status.Pid() != cmd.Process.Pid:
			t.Errorf("Wait = %v (pid %d), %v; want exit status 6 of %d", status, status.Pid(), err, cmd.Process.Pid)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		p := grandchild(t, "sleep 3600")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := p.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitContext with a deadline = %v; want DeadlineExceeded", err)
		}
		p.Kill()
		if _, err := p.WaitContext(context.Background()); err != nil && !errors.Is(err, ErrNoExitStatus) {
			t.Errorf("WaitContext after a timed-out one: %v", err)
		}
	})
}

// sleeperBy starts a sleeping test child through the named constructor;
// the PidFd is closed at cleanup (the test itself ends the child).
func sleeperBy(t *testing.T, construct string) *PidFd {
	t.Helper()
	p, err := constructors[construct](testchild.Command(testchild.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestCloseLeavesNoZombie starts children with StartProcess, which only
// their PidFds can reap, and closes the PidFds without waiting: while the
// child runs, once it has exited, and while a Watcher watches it. The
// package must reap every one when it exits: no zombie is left.
func TestCloseLeavesNoZombie(t *testing.T) {
	leakcheck.Check(t)
	n := 2000
	if inVM() {
		n = 500 // emulated: each start costs a hundred times more
	}
	w := newWatcherT(t)
	for i := range n {
		p, err := StartProcess("/bin/true", []string{"true"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 1: // exited, a zombie at the Close
			waitReadable(t, p)
		case 2:
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for w.Len() > 0 {
		if x := nextT(t, w); x.Status == nil && !errors.Is(x.Err, os.ErrClosed) {
			t.Errorf("a PidFd closed while watched: %v, %v; want its status or os.ErrClosed", x.Status, x.Err)
		}
	}
	var kids []int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if kids, err = leakcheck.Children(); err != nil {
			t.Fatal(err)
		}
		if len(kids) == 0 {
			return
		}
	}
	zombies := 0
	for _, pid := range kids {
		if procState(t, pid) == "Z" {
			zombies++
		}
	}
	t.Errorf("%d of %d children closed unwaited are still there, %d of them zombies", len(kids), n, zombies)
}
