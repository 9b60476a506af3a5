//go:build linux

package pidfd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// newWatcherT returns a Watcher that is closed at cleanup.
func newWatcherT(t *testing.T) *Watcher {
	t.Helper()
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// nextT is Next with a deadline, failing t if nothing comes.
func nextT(t *testing.T, w *Watcher) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	x, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return x
}

// constructorNames are the keys of constructors, in a fixed order.
var constructorNames = []string{"Start", "FromProcess", "Open", "StartProcess"}

// TestWatcherMany watches 200 children, made by every constructor, that end
// in random order: half exit with a code of their own, half are killed by
// SIGKILL or SIGTERM in a shuffled order, some before they are added. Each
// is delivered once, with what it did.
func TestWatcherMany(t *testing.T) {
	leakcheck.Check(t)
	const n = 200
	w := newWatcherT(t)
	type child struct {
		pid  int
		code int            // exit code, or
		sig  syscall.Signal // the signal that kills it
	}
	children := make(map[*PidFd]*child)
	var sleepers []*PidFd
	for i := range n {
		c := &child{code: -1}
		var cmd *exec.Cmd
		if i%2 == 0 {
			c.code = rand.IntN(120)
			cmd = exec.Command("sh", "-c", fmt.Sprintf("exit %d", c.code))
		} else {
			c.sig = []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM}[rand.IntN(2)]
			cmd = exec.Command("sleep", "3600")
		}
		p, err := constructors[constructorNames[i%len(constructorNames)]](cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		c.pid = mustPIDOf(t, p)
		children[p] = c
		if c.code < 0 {
			sleepers = append(sleepers, p)
		}
		if i%10 == 3 && c.code < 0 {
			p.Signal(c.sig) // exits before it is watched
		}
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Len(); got != n {
		t.Errorf("Len = %d; want %d", got, n)
	}
	rand.Shuffle(len(sleepers), func(i, j int) { sleepers[i], sleepers[j] = sleepers[j], sleepers[i] })
	go func() {
		for _, p := range sleepers {
			p.Signal(children[p].sig)
		}
	}()
	delivered := make(map[*PidFd]bool)
	for range n {
		x := nextT(t, w)
		c := children[x.PidFd]
		switch {
		case c == nil:
			t.Fatalf("Next delivered a PidFd never added: %v", x)
		case delivered[x.PidFd]:
			t.Errorf("PID %d delivered twice", c.pid)
		case x.Err != nil:
			t.Errorf("PID %d: %v", c.pid, x.Err)
		case x.Status.Pid() != c.pid:
			t.Errorf("PID %d delivered with the status of PID %d", c.pid, x.Status.Pid())
		case c.code >= 0 && (!x.Status.Exited() || x.Status.ExitCode() != c.code):
			t.Errorf("PID %d exited with %d; delivered %v", c.pid, c.code, x.Status)
		case c.code < 0 && x.Status.Signal() != c.sig:
			t.Errorf("PID %d killed by %v; delivered %v", c.pid, c.sig, x.Status)
		}
		delivered[x.PidFd] = true
		// Delivered means reaped, and the same status for Wait.
		if status, err := x.PidFd.TryWait(); status != x.Status || err != x.Err {
			t.Errorf("PID %d: TryWait after delivery = %v, %v; want %v, %v", c.pid, status, err, x.Status, x.Err)
		}
	}
	if got := w.Len(); got != 0 {
		t.Errorf("Len after every delivery = %d; want 0", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if x, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with nothing watched = %v, %v; want context.DeadlineExceeded", x, err)
	}
}

// TestWatcherAddRemoveRace adds and removes PidFds while another goroutine
// takes deliveries and the processes are killed. Every successful Add ends
// in exactly one successful Remove or one delivery.
func TestWatcherAddRemoveRace(t *testing.T) {
	leakcheck.Check(t)
	const n = 60
	w := newWatcherT(t)
	ps := make([]*PidFd, n)
	for i := range ps {
		ps[i] = sleeperBy(t, constructorNames[i%len(constructorNames)])
	}
	var mu sync.Mutex
	adds := make(map[*PidFd]int)
	removes := make(map[*PidFd]int)
	deliveries := make(map[*PidFd]int)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loopDone := make(chan error)
	go func() {
		for {
			x, err := w.Next(ctx)
			if err != nil {
				loopDone <- err
				return
			}
			mu.Lock()
			deliveries[x.PidFd]++
			mu.Unlock()
		}
	}()

	var wg sync.WaitGroup
	for worker := range 3 {
		wg.Go(func() {
			for round := range 200 {
				p := ps[(worker*7+round*13)%n]
				mu.Lock()
				if err := w.Add(p); err == nil {
					adds[p]++
				} else if !errors.Is(err, os.ErrExist) {
					t.Errorf("Add: %v", err)
				}
				mu.Unlock()
				if round%3 == 0 {
					continue
				}
				mu.Lock()
				if err := w.Remove(p); err == nil {
					removes[p]++
				} else if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Remove: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for i := range ps {
			ps[(i*17)%n].Kill()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	// Whatever is still watched is delivered, since every process is dead.
	for _, p := range ps {
		mu.Lock()
		if err := w.Add(p); err == nil {
			adds[p]++
		}
		mu.Unlock()
	}
	eventually(t, "every watch to end", func() bool { return w.Len() == 0 })
	cancel()
	if err := <-loopDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the loop ended with %v; want context.Canceled", err)
	}
	for i, p := range ps {
		if adds[p] != removes[p]+deliveries[p] {
			t.Errorf("PidFd %d: %d adds, %d removes, %d deliveries", i, adds[p], removes[p], deliveries[p])
		}
		if deliveries[p] == 0 {
			t.Errorf("PidFd %d: never delivered", i)
		}
		if status, err := p.Wait(); err != nil || status.Signal() != syscall.SIGKILL {
			t.Errorf("PidFd %d: Wait = %v, %v; want signal: killed", i, status, err)
		}
	}
}

// TestWatcherWaitAgrees waits on watched PidFds of every constructor: Wait
// and the Watcher give the same status.
func TestWatcherWaitAgrees(t *testing.T) {
	leakcheck.Check(t)
	w := newWatcherT(t)
	type waited struct {
		status *ExitStatus
		err    error
	}
	results := make(map[*PidFd]chan waited)
	for i, name := range constructorNames {
		p, err := constructors[name](testchild.Command(testchild.Sleep))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		result := make(chan waited, 1)
		results[p] = result
		go func() {
			status, err := p.Wait()
			result <- waited{status, err}
		}()
		if i%2 == 0 {
			p.Kill()
		} else {
			p.Signal(syscall.SIGTERM)
		}
	}
	for range constructorNames {
		x := nextT(t, w)
		got := <-results[x.PidFd]
		if x.Err != nil || got.err != nil || x.Status != got.status {
			t.Errorf("Watcher delivered %v, %v; Wait returned %v, %v; want one status", x.Status, x.Err, got.status, got.err)
		}
		if x.Status.Signal() == nil {
			t.Errorf("status %v; want a signal", x.Status)
		}
	}
}

// TestWatcherNotChild watches a grandchild, which its parent reaps, and a
// thread of a child.
func TestWatcherNotChild(t *testing.T) {
	leakcheck.Check(t)
	exitInfo := KernelFeatures().ExitInfo
	t.Run("grandchild", func(t *testing.T) {
		w := newWatcherT(t)
		// The grandchild stays a zombie until its parent reads a line: the
		// kernel records the exit at the reaping, which the Watcher waits
		// for where it records exits.
		pid, reap := startLateReaper(t)
		zombie, err := Open(pid) // unreaped: its PID is its own
		if err != nil {
			t.Fatal(err)
		}
		defer zombie.Close()
		slow := grandchild(t, "sleep 0.2; exit 9")
		for _, p := range []*PidFd{zombie, slow} {
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the subshell's exit", func() bool { return procState(t, pid) == "Z" })
		if exitInfo {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			x, err := w.Next(ctx)
			cancel()
			if x.PidFd == zombie || !errors.Is(err, context.DeadlineExceeded) && x.PidFd != slow {
				t.Errorf("Next while the grandchild is a zombie = %v, %v; want nothing until its reaping", x, err)
			}
			if x.PidFd == slow {
				checkGrandchild(t, x, "exit status 9", exitInfo)
				slow = nil
			}
		}
		reap()
		want := map[*PidFd]string{zombie: "exit status 7"}
		if slow != nil {
			want[slow] = "exit status 9"
		}
		for range want {
			x := nextT(t, w)
			checkGrandchild(t, x, want[x.PidFd], exitInfo)
		}
	})
	t.Run("thread", func(t *testing.T) {
		if !KernelFeatures().ThreadPidFds {
			t.Skip("no thread pidfds (PIDFD_THREAD, Linux 6.9)")
		}
		w := newWatcherT(t)
		c := startBlocked(t, nil)
		tid := c.newThread(t)
		thread, err := OpenThread(tid)
		if err != nil {
			t.Fatal(err)
		}
		defer thread.Close()
		if err := w.Add(thread); err != nil {
			t.Fatal(err)
		}
		if err := w.Add(c.p); err != nil {
			t.Fatal(err)
		}
		c.say(t, "end", false)
		x := nextT(t, w)
		switch {
		case x.PidFd != thread:
			t.Fatalf("delivered the process, not the thread: %v, %v", x.Status, x.Err)
		case !exitInfo:
			if !errors.Is(x.Err, ErrNoExitStatus) {
				t.Errorf("before Linux 6.15 (no PIDFD_INFO_EXIT): %v, %v; want ErrNoExitStatus", x.Status, x.Err)
			}
		case x.Err != nil || !x.Status.Success() || x.Status.Pid() != tid:
			t.Errorf("thread delivered %v (pid %d), %v; want exit status 0 of %d", x.Status, x.Status.Pid(), x.Err, tid)
		}
		if status, err := c.p.TryWait(); status != nil || err != nil {
			t.Errorf("the process after its thread: TryWait = %v, %v; want running", status, err)
		}
		c.in.Close()
		if x := nextT(t, w); x.PidFd != c.p || x.Err != nil || !x.Status.Success() {
			t.Errorf("the process delivered %v, %v; want exit status 0", x.Status, x.Err)
		}
	})
}

const lateReaperRole = "late-reaper"

// lateReaper is a test child that starts a grandchild that exits with 7,
// prints the grandchild's PID, and reaps it once it has read a line.
func lateReaper([]string) int {
	cmd := testchild.Command(testchild.Exit, "7")
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "late-reaper:", err)
		return 2
	}
	fmt.Println(cmd.Process.Pid)
	bufio.NewReader(os.Stdin).ReadString('\n')
	cmd.Wait()
	return 0
}

// startLateReaper starts a lateReaper and returns its grandchild's PID, and
// a function that has it reaped. Cleanup ends both.
func startLateReaper(t *testing.T) (pid int, reap func()) {
	t.Helper()
	cmd := testchild.Command(lateReaperRole)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatal(err)
	}
	return pid, func() { in.Write([]byte("\n")) }
}

// checkGrandchild checks the delivery of a process that is not our child.
func checkGrandchild(t *testing.T, x Exit, want string, exitInfo bool) {
	t.Helper()
	if !exitInfo {
		if x.Status != nil || !errors.Is(x.Err, ErrNoExitStatus) {
			t.Errorf("before Linux 6.15 (no PIDFD_INFO_EXIT): %v, %v; want ErrNoExitStatus", x.Status, x.Err)
		}
		return
	}
	if x.Err != nil || x.Status.String() != want {
		t.Errorf("delivered %v, %v; want %s", x.Status, x.Err, want)
	}
	// The kernel's record: each read makes a status of its own.
	if status, err := x.PidFd.Wait(); err != nil || *status != *x.Status {
		t.Errorf("Wait after delivery = %v, %v; want %v", status, err, x.Status)
	}
}

// TestWatcherOutputCopy watches a child from Start whose output a grandchild
// holds: the exit is delivered when os/exec gives up (WaitDelay), with its
// error, and Close meanwhile leaves no goroutine.
func TestWatcherOutputCopy(t *testing.T) {
	leakcheck.Check(t)
	for _, closeEarly := range []bool{false, true} {
		t.Run(fmt.Sprintf("close=%v", closeEarly), func(t *testing.T) {
			w, err := NewWatcher()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			r, wr, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cmd := exec.Command("sh", "-c", "sleep 3600 & echo $! >&2; exit 0")
			var out bytes.Buffer
			cmd.Stdout = &out // copied by os/exec, through a pipe the grandchild holds
			cmd.Stderr = wr
			cmd.WaitDelay = 300 * time.Millisecond
			p := startCmd(t, cmd)
			wr.Close()
			var pid int
			if _, err := fmt.Fscan(r, &pid); err != nil {
				t.Fatal(err)
			}
			sleeper, err := Open(pid)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				sleeper.Kill() // init reaps it, in its own time
				sleeper.Close()
			}()
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
			if closeEarly {
				waitReadable(t, p)
				time.Sleep(50 * time.Millisecond) // let a Next see it
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				_, err := w.Next(ctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Next while os/exec copies = %v; want context.DeadlineExceeded", err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				return // leakcheck: no goroutine of the Watcher's left
			}
			x := nextT(t, w)
			var we *WaitError
			if x.Status == nil || !x.Status.Success() || !errors.As(x.Err, &we) || !errors.Is(x.Err, exec.ErrWaitDelay) {
				t.Errorf("delivered %v, %v; want exit status 0 with a WaitError for WaitDelay", x.Status, x.Err)
			}
		})
	}
}

// TestWatcherClose closes a Watcher that still watches running processes,
// exited ones and one being delivered: nothing leaks, the PidFds stay
// usable, and every method says the Watcher is closed.
func TestWatcherClose(t *testing.T) {
	leakcheck.Check(t)
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	var ps []*PidFd
	for _, name := range constructorNames {
		ps = append(ps, sleeperBy(t, name))
	}
	exited := sleeperBy(t, "StartProcess")
	exited.Kill()
	for _, p := range append(ps, exited) {
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	waitReadable(t, exited)
	parked := make(chan error)
	go func() {
		for {
			x, err := w.Next(context.Background())
			if err != nil {
				parked <- err
				return
			}
			if x.PidFd != exited {
				parked <- fmt.Errorf("delivered %v", x)
				return
			}
		}
	}()
	eventually(t, "the exited child's delivery", func() bool { return w.Len() == len(ps) })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-parked; !errors.Is(err, os.ErrClosed) {
		t.Errorf("a parked Next after Close = %v; want os.ErrClosed", err)
	}
	if _, err := w.Next(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Next after Close = %v; want os.ErrClosed", err)
	}
	if err := w.Add(ps[0]); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Add after Close = %v; want os.ErrClosed", err)
	}
	if err := w.Remove(ps[0]); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Remove after Close = %v; want os.ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v; want os.ErrClosed", err)
	}
	if n := w.Len(); n != 0 {
		t.Errorf("Len after Close = %d", n)
	}
	// The PidFds are the caller's, unwatched: another Watcher takes them.
	w2 := newWatcherT(t)
	for _, p := range ps {
		if err := w2.Add(p); err != nil {
			t.Errorf("Add to a second Watcher after Close: %v", err)
		}
		if err := p.Kill(); err != nil {
			t.Error(err)
		}
		if status, err := p.Wait(); err != nil || status.Signal() != syscall.SIGKILL {
			t.Errorf("Wait after the Watcher closed = %v, %v", status, err)
		}
	}
	for range ps {
		nextT(t, w2)
	}
}

// TestWatcherContext ends a loop by its context, before and while Next
// waits; the watch goes on for the next Next.
func TestWatcherContext(t *testing.T) {
	leakcheck.Check(t)
	w := newWatcherT(t)
	p := sleeperBy(t, "StartProcess")
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Next(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	loop := make(chan error)
	go func() {
		for {
			if _, err := w.Next(ctx); err != nil {
				loop <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-loop:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("loop ended with %v; want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the context did not end the loop")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next past its deadline = %v", err)
	}
	p.Kill()
	if x := nextT(t, w); x.PidFd != p || x.Status.Signal() != syscall.SIGKILL {
		t.Errorf("delivered %v, %v after the cancelled loops; want signal: killed", x.Status, x.Err)
	}
}

// TestWatcherClosedPidFd closes PidFds while they are watched: the
// descriptor closes at once, the Watcher delivers os.ErrClosed (also to a
// Next that waits meanwhile), and the process runs on.
func TestWatcherClosedPidFd(t *testing.T) {
	leakcheck.Check(t)
	w := newWatcherT(t)
	for _, name := range constructorNames {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("sleep", "3600")
			p, err := constructors[name](cmd)
			if err != nil {
				t.Fatal(err)
			}
			pid := mustPIDOf(t, p)
			fd := int(p.Fd())
			if err := w.Add(p); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
				t.Errorf("descriptor %d after Close of a watched PidFd: %v; want it closed (EBADF)", fd, err)
			}
			x := nextT(t, w)
			if x.PidFd != p || x.Status != nil || !errors.Is(x.Err, os.ErrClosed) {
				t.Errorf("delivered %v, %v; want os.ErrClosed", x.Status, x.Err)
			}
			if err := w.Add(p); !errors.Is(err, os.ErrClosed) {
				t.Errorf("Add of a closed PidFd = %v; want os.ErrClosed", err)
			}
			if err := syscall.Kill(pid, 0); err != nil {
				t.Errorf("the process after Close: %v; want running", err)
			}
			// Clean up as the constructor's owner would.
			syscall.Kill(pid, syscall.SIGKILL)
			if cmd.Process != nil && name != "Open" {
				cmd.Wait()
			} else {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
			}
		})
	}
	// A Close from another goroutine wakes a Next parked on the poller.
	t.Run("while Next waits", func(t *testing.T) {
		p, err := constructors["StartProcess"](exec.Command("sleep", "3600"))
		if err != nil {
			t.Fatal(err)
		}
		pid := mustPIDOf(t, p)
		defer func() {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}()
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		type result struct {
			x   Exit
			err error
		}
		got := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			x, err := w.Next(ctx)
			got <- result{x, err}
		}()
		time.Sleep(100 * time.Millisecond) // let Next park
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.err != nil || r.x.PidFd != p || !errors.Is(r.x.Err, os.ErrClosed) {
			t.Errorf("Next after a Close meanwhile = %v, %v, %v; want os.ErrClosed, at once", r.x.Status, r.x.Err, r.err)
		}
	})
}

// TestWatcherMisuse: Add twice, to two Watchers, Remove of what is not
// watched, nil arguments.
func TestWatcherMisuse(t *testing.T) {
	leakcheck.Check(t)
	w, other := newWatcherT(t), newWatcherT(t)
	p := sleeperBy(t, "StartProcess")
	defer p.Wait()
	defer p.Kill()
	if err := w.Remove(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove of a PidFd never added = %v; want os.ErrNotExist", err)
	}
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(p); !errors.Is(err, os.ErrExist) {
		t.Errorf("Add twice = %v; want os.ErrExist", err)
	}
	if err := other.Add(p); !errors.Is(err, os.ErrExist) {
		t.Errorf("Add to a second Watcher = %v; want os.ErrExist", err)
	}
	if err := other.Remove(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove from the Watcher that does not watch it = %v; want os.ErrNotExist", err)
	}
	if err := w.Remove(p); err != nil {
		t.Errorf("Remove = %v", err)
	}
	if err := w.Remove(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove twice = %v; want os.ErrNotExist", err)
	}
	if err := w.Add(nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("Add(nil) = %v; want os.ErrInvalid", err)
	}
	var nilW *Watcher
	if err := nilW.Close(); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("Close of a nil Watcher = %v", err)
	}
	var zero Watcher
	if _, err := zero.Next(context.Background()); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("Next of a zero Watcher = %v", err)
	}
	// A removed, exited process is not delivered.
	p.Kill()
	waitReadable(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if x, err := w.Next(ctx); err == nil {
		t.Errorf("Next delivered a removed PidFd: %v", x)
	}
}

// TestWatcherOnOldKernel runs the Watcher's tests as on Linux 6.1 (no
// PIDFD_GET_INFO, so no PIDFD_INFO_EXIT) and 5.10, where the kernel keeps
// no exit status for a process that is not the caller's child.
func TestWatcherOnOldKernel(t *testing.T) {
	leakcheck.Check(t)
	if has, _ := getInfo.has(); !has {
		t.Skip("this kernel has no PIDFD_GET_INFO itself: the other Watcher tests cover it")
	}
	runUnderEach(t, []string{"6.1", "5.10"}, "^TestWatcher(Many|WaitAgrees|NotChild|Close|ClosedPidFd)$", "TestWatcherNotChild")
}

// TestWatcherReusedNumber: a registration whose exit was delivered is
// disabled in the epoll set and may stay there while a dup keeps its file;
// neither it nor a removed one may speak for a later PidFd under the same
// descriptor number, and a delivered PidFd can be added again.
func TestWatcherReusedNumber(t *testing.T) {
	leakcheck.Check(t)
	w := newWatcherT(t)
	// start runs a sleeper and returns a PidFd for it at descriptor
	// number at (any number if at < 0), and the Cmd to release.
	start := func(at int) (*PidFd, *exec.Cmd) {
		t.Helper()
		cmd := testchild.Command(testchild.Sleep)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Process.Release() // the PidFd's Watcher reaps it
		})
		fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		if at >= 0 && fd != at {
			if err := unix.Dup3(fd, at, unix.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd)
			fd = at
		}
		p, err := NewFile(uintptr(fd))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p, cmd
	}
	quiet := func(why string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if x, err := w.Next(ctx); err == nil {
			t.Errorf("%s: delivered %v (%v, %v); want nothing", why, x.PidFd, x.Status, x.Err)
		}
	}
	killed := func(p *PidFd, cmd *exec.Cmd) {
		t.Helper()
		cmd.Process.Kill()
		x := nextT(t, w)
		if x.PidFd != p || x.Err != nil || x.Status == nil || x.Status.Signal() != syscall.SIGKILL {
			t.Errorf("delivered %p %v, %v; want %p killed", x.PidFd, x.Status, x.Err, p)
		}
	}

	t.Run("added again", func(t *testing.T) {
		p, cmd := start(-1)
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		killed(p, cmd)
		if err := w.Add(p); err != nil {
			t.Fatalf("Add after delivery: %v", err)
		}
		x := nextT(t, w)
		if x.PidFd != p || x.Status == nil || x.Status.Signal() != syscall.SIGKILL {
			t.Errorf("delivered again %v, %v; want the same status", x.Status, x.Err)
		}
	})

	t.Run("delivered, file kept by a dup", func(t *testing.T) {
		old, oldCmd := start(-1)
		number := int(old.Fd())
		dup, err := unix.Dup(number)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(dup)
		if err := w.Add(old); err != nil {
			t.Fatal(err)
		}
		killed(old, oldCmd)
		old.Close()
		p, cmd := start(number)
		if err := w.Add(p); err != nil {
			t.Fatalf("Add under the number of a delivered PidFd: %v", err)
		}
		quiet("a running process under a reused number")
		killed(p, cmd)
	})

	t.Run("removed, file kept by a dup", func(t *testing.T) {
		old, oldCmd := start(-1)
		number := int(old.Fd())
		dupFd, err := unix.Dup(number)
		if err != nil {
			t.Fatal(err)
		}
		dup, err := NewFile(uintptr(dupFd))
		if err != nil {
			t.Fatal(err)
		}
		defer dup.Close()
		if err := w.Add(old); err != nil {
			t.Fatal(err)
		}
		if err := w.Remove(old); err != nil {
			t.Fatal(err)
		}
		old.Close()
		p, cmd := start(number)
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
		oldCmd.Process.Kill() // readable through the dup's file only
		waitReadable(t, dup)
		quiet("the removed PidFd's process exited")
		killed(p, cmd)
		var ws syscall.WaitStatus // nobody watches the old one: reap it here
		syscall.Wait4(oldCmd.Process.Pid, &ws, 0, nil)
	})
}
