//go:build linux

package pidfd

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// TestWatcherExits runs a supervisor's loop: exits from Exits, a signal
// from os/signal and a ticker in one select. Each of 60 children, from
// every constructor, is delivered once, with its own code; the loop sees
// the signal and the ticks too; Close closes the channel and leaves no
// goroutine (leakcheck).
func TestWatcherExits(t *testing.T) {
	leakcheck.Check(t)
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	codes := map[*PidFd]int{}
	for i := range n {
		code := 1 + i%100
		cmd := exec.Command("sh", "-c", "exit "+strconv.Itoa(code))
		p, err := constructors[constructorNames[i%len(constructorNames)]](cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		codes[p] = code
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	defer signal.Stop(sigs)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(20 * time.Second)
	seen := map[*PidFd]bool{}
	var ticks, signals int
	syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	for len(seen) < n || signals == 0 {
		select {
		case x := <-w.Exits():
			switch {
			case seen[x.PidFd]:
				t.Errorf("delivered twice: %v", x.Status)
			case x.Err != nil || x.Status.ExitCode() != codes[x.PidFd]:
				t.Errorf("delivered %v, %v; want exit status %d", x.Status, x.Err, codes[x.PidFd])
			}
			seen[x.PidFd] = true
		case <-sigs:
			signals++
		case <-tick.C:
			ticks++
		case <-timeout:
			t.Fatalf("%d of %d exits delivered", len(seen), n)
		}
	}
	if ticks == 0 {
		t.Errorf("the ticker never won a select")
	}
	if first, second := w.Exits(), w.Exits(); first != second {
		t.Errorf("Exits returned two channels")
	}
	// One more exit that nobody receives: Close drops it and ends the
	// goroutine that holds it.
	_, p := startChild(t, testchild.Exit, "0")
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, p)
	time.Sleep(10 * time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case x, ok := <-w.Exits():
		if ok {
			t.Errorf("after Close Exits delivered %v, %v; want it closed", x.Status, x.Err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("after Close Exits is still open")
	}
	if s, err := p.Wait(); err != nil || !s.Success() {
		t.Errorf("Wait on the exit dropped by Close = %v, %v; want exit status 0", s, err)
	}
}

// TestWatcherExitsClosedUnused checks that the channel of a Watcher closed
// before Exits was ever called is closed, and that nil and zero Watchers
// give a closed one.
func TestWatcherExitsClosedUnused(t *testing.T) {
	leakcheck.Check(t)
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	var zero Watcher
	for name, c := range map[string]<-chan Exit{"closed": w.Exits(), "nil": (*Watcher)(nil).Exits(), "zero": zero.Exits()} {
		select {
		case _, ok := <-c:
			if ok {
				t.Errorf("%s Watcher: Exits delivered an exit", name)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s Watcher: Exits is open", name)
		}
	}
}

// TestWatcherAddExited delivers exits before the reaping: a child while it
// is a zombie, with its status, so that its group can still be signalled;
// a process that is not the caller's child at its exit, not at its
// parent's reaping.
func TestWatcherAddExited(t *testing.T) {
	leakcheck.Check(t)
	w := newWatcherT(t)
	children := map[*PidFd]int{}
	for i, name := range constructorNames {
		cmd := testchild.Command(testchild.Exit, strconv.Itoa(10+i))
		p, err := constructors[name](cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		children[p] = mustPIDOf(t, p)
		if err := w.AddExited(p); err != nil {
			t.Fatal(err)
		}
	}
	pid, reap := startLateReaper(t)
	grandchild, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer grandchild.Close()
	if err := w.AddExited(grandchild); err != nil {
		t.Fatal(err)
	}
	for range len(children) + 1 {
		x := nextT(t, w)
		if x.PidFd == grandchild {
			if x.Status != nil || !errors.Is(x.Err, ErrNoExitStatus) {
				t.Errorf("the grandchild delivered %v, %v; want ErrNoExitStatus", x.Status, x.Err)
			}
			if state := procState(t, pid); state != "Z" {
				t.Errorf("the grandchild delivered while /proc says %q; want its exit before its parent's reaping", state)
			}
			continue
		}
		i := children[x.PidFd]
		if x.Err != nil || x.Status.Pid() != i {
			t.Errorf("delivered %v (pid %d), %v; want the status of %d", x.Status, x.Status.Pid(), x.Err, i)
		}
		if state := procState(t, i); state != "Z" {
			t.Errorf("child %d delivered, and /proc says %q; want it unreaped", i, state)
		}
		status, err := x.PidFd.Wait()
		if err != nil || status.ExitCode() != x.Status.ExitCode() {
			t.Errorf("Wait after the delivery = %v, %v; want %v", status, err, x.Status)
		}
	}
	reap()
	if w.Len() != 0 {
		t.Errorf("Len = %d after every delivery", w.Len())
	}
}
