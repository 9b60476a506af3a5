//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// storm is a bounded forking tree: 20 deaf respawners that keep forking
// short sleeps, and 150 deaf sleepers, about 200 processes at any time.
const storm = `trap '' TERM
i=0; while [ $i -lt 20 ]; do (trap '' TERM; while :; do sleep 0.01 & wait; done) & i=$((i+1)); done
i=0; while [ $i -lt 150 ]; do (trap '' TERM; exec sleep 60) & i=$((i+1)); done
echo ready; wait`

func countProcs(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "cgroup.procs" {
			b, _ := os.ReadFile(path)
			n += len(strings.Fields(string(b)))
		}
		return nil
	})
	return n
}

// TestTreeStorm checks Signal(SIGKILL) round after round, then restarts
// and Terminate with a deaf storm; Close leaves no gen-N cgroups.
func TestTreeStorm(t *testing.T) {
	leakcheck.Check(t)
	if inVM() {
		// Signal goes round after round until a round finds no new
		// process: against a storm that forks without pause, emulated a
		// hundred times slower, that took 15 s and more (6.12 VM).
		t.Skip("a fork storm under an emulated CPU: runs on the host only")
	}
	tr := newTestTree(t)
	dir := tr.Cgroup()
	for round := 0; round < 3; round++ {
		cmd := exec.Command("sh", "-c", storm)
		out, _ := cmd.StdoutPipe()
		p, err := tr.Start(cmd)
		if err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		buf := make([]byte, 6)
		if _, err := out.Read(buf); err != nil {
			t.Fatalf("round %d: the storm did not start (killed at birth?): %v", round, err)
		}
		if dir != "" {
			t.Logf("round %d: %d processes in the tree", round, countProcs(dir))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		began := time.Now()
		switch round {
		case 0:
			err = tr.Signal(syscall.SIGKILL)
			if err == nil {
				err = tr.Wait(ctx)
			}
		case 1:
			err = tr.Terminate(ctx, 200*time.Millisecond)
		case 2:
			tr.Signal(syscall.SIGSTOP)
			err = tr.Terminate(ctx, 200*time.Millisecond)
		}
		cancel()
		t.Logf("round %d: ended in %v: %v", round, time.Since(began), err)
		if err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		s, err := p.Wait()
		p.Close()
		if err != nil || s.Signal() != syscall.SIGKILL {
			t.Errorf("round %d: the storm's root = %v, %v", round, s, err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Close %s: %v", dir, err)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), fmt.Sprintf("pidfd-%d-*", os.Getpid())))
		if len(left) > 0 {
			t.Errorf("cgroups left: %v", left)
		}
	}
}

// TestTreeStartRacesKill runs Starts from 4 goroutines while others Kill,
// Terminate and finally Close; every Start succeeds or says ErrClosed, a
// child started after a Kill returned is not killed at birth, Close removes
// every gen-N cgroup, nothing leaks.
func TestTreeStartRacesKill(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	dir := tr.Cgroup()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var pids []*PidFd
	var starts, closedStarts int
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded: each child holds two descriptors until the end
			// (os/exec's and its PidFd), and a fast machine would
			// otherwise reach RLIMIT_NOFILE.
			for range 150 {
				select {
				case <-stop:
					return
				default:
				}
				p, err := tr.Start(exec.Command("sleep", "60"))
				mu.Lock()
				switch {
				case err == nil:
					starts++
					pids = append(pids, p)
				case errors.Is(err, os.ErrClosed):
					closedStarts++
				default:
					t.Errorf("Start: %v", err)
				}
				mu.Unlock()
				if errors.Is(err, os.ErrClosed) {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	for i := 0; i < 10; i++ {
		time.Sleep(20 * time.Millisecond)
		var err error
		if i%2 == 0 {
			err = tr.Kill()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = tr.Terminate(ctx, 10*time.Millisecond)
			cancel()
		}
		// A Terminate cannot see the tree empty while Starts keep
		// feeding it: its ctx ends it (and kills).
		if err != nil && !(i%2 == 1 && errors.Is(err, context.DeadlineExceeded)) {
			t.Errorf("round %d: %v", i, err)
		}
		// Start after the Kill returned: must live.
		p, err := tr.Start(exec.Command("sleep", "60"))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if s, err := p.TryWait(); s != nil || err != nil {
			t.Errorf("round %d: a child started after Kill returned ended at once: %v, %v", i, s, err)
		}
		mu.Lock()
		pids = append(pids, p)
		mu.Unlock()
	}
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, p := range pids {
		s, err := p.Wait()
		if err != nil || (s.Signal() != syscall.SIGKILL && s.Signal() != syscall.SIGTERM) {
			t.Errorf("member = %v, %v", s, err)
		}
		p.Close()
	}
	t.Logf("%d starts, %d refused as closed", starts, closedStarts)
	if dir != "" {
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), fmt.Sprintf("pidfd-%d-*", os.Getpid())))
		if len(left) > 0 {
			t.Errorf("cgroups left after Close: %v", left)
		}
	}
}

// TestTreeEscape checks a member (root) moves itself to the parent cgroup:
// documented as possible; Close must still succeed and not hang.
func TestTreeEscape(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	if tr.Kind() != TreeCgroup {
		t.Skip("moves a member out of the Tree's cgroup: the cgroup kind only")
	}
	parent := filepath.Dir(tr.Cgroup())
	cmd := exec.Command("sh", "-c", "echo $$ > "+filepath.Join(parent, "cgroup.procs")+" && echo ok; exec sleep 60")
	out, _ := cmd.StdoutPipe()
	p, err := tr.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Kill(); p.Wait(); p.Close() }()
	buf := make([]byte, 3)
	n, _ := out.Read(buf)
	t.Logf("escape: %q", buf[:n])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Wait(ctx); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Signal(syscall.Signal(0)); err == nil {
		t.Logf("the escapee lives on after Close, as documented (a process with the right to move itself leaves the tree)")
	}
}

// TestTreeSubreaperRun runs TestTreeOutsiders in a re-executed
// test binary with the subreaper kind.
func TestTreeSubreaperRun(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(treeKindEnv) != "" || os.Getenv(oldKernelEnv) != "" {
		t.Skip("already re-executed")
	}
	t.Setenv(treeKindEnv, "subreaper")
	runUnder(t, "none", "^TestTreeOutsiders$", "TestTreeOutsiders")
}

// TestTreeOutsiders (subreaper kind): while the Tree's orphans keep
// coming back (double forks) and it is Killed, os/exec children started
// outside it run and are reaped by cmd.Run; none may be reaped or signalled
// by the Tree (cmd.Run would fail with "no child processes" or a signal).
func TestTreeOutsiders(t *testing.T) {
	leakcheck.Check(t)
	if !strings.HasPrefix(os.Getenv(treeKindEnv), "subreaper") {
		t.Skip("the subreaper kind's (see TestTreeSubreaperRun)")
	}
	tr := newTestTree(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	runs := 0
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cmd := exec.Command("sh", "-c", "sleep 0.0$((RANDOM%5)); exit 3")
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Errorf("an outsider's cmd.Run = %v; want exit status 3", err)
				}
				mu.Lock()
				runs++
				mu.Unlock()
			}
		}()
	}
	long := exec.Command("sleep", "60")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 15; round++ {
		p, err := tr.Start(exec.Command("sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.$i &) ; done; (sleep 30 &); exit 0"))
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		p.Close()
		time.Sleep(50 * time.Millisecond)
		if round%3 == 2 {
			if err := tr.Kill(); err != nil {
				t.Error(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := tr.Wait(ctx); err != nil {
				t.Errorf("Wait: %v", err)
			}
			cancel()
		}
	}
	if err := tr.Close(); err != nil {
		t.Error(err)
	}
	close(stop)
	wg.Wait()
	if err := long.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the long outsider: %v", err)
	}
	long.Process.Kill()
	if err := long.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the long outsider's Wait = %v; want its own kill", err)
	}
	t.Logf("%d outsider runs", runs)
}
