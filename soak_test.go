//go:build linux

package pidfd

import (
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

// TestSoak runs rounds of children that exit with random codes, die by
// random signals or are killed, made by every constructor, while several
// goroutines wait on each, others query and signal them, and some PidFds
// are closed at random moments. Every status must match what the child did;
// leakcheck then finds no descriptor, goroutine or child left behind.
func TestSoak(t *testing.T) {
	leakcheck.Check(t)
	rounds, perRound := 3, 150
	if testing.Short() {
		rounds, perRound = 1, 40
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d, %d rounds of %d children", seed, rounds, perRound)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for round := range rounds {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		fail := func(format string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		for i := range perRound {
			c := newSoakChild(t, rng)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if msg := c.run(); msg != "" {
					fail("round %d child %d (%s, %s): %s", round, i, c.construct, c.want, msg)
				}
			}()
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
	}
}

type soakChild struct {
	construct string
	want      string // what os.ProcessState.String would say
	kill      bool   // the child sleeps until killed
	closeIt   bool   // the PidFd is closed at a random moment
	delay     time.Duration
	p         *PidFd
	spare     int // a dup of the pidfd, to reap and kill after a Close
}

func newSoakChild(t *testing.T, rng *rand.Rand) *soakChild {
	t.Helper()
	c := &soakChild{delay: time.Duration(rng.IntN(20_000)) * time.Microsecond}
	var cmd *exec.Cmd
	switch rng.IntN(3) {
	case 0:
		code := rng.IntN(256)
		cmd = exec.Command("sh", "-c", fmt.Sprintf("exit %d", code))
		c.want = fmt.Sprintf("exit status %d", code)
	case 1:
		sigs := testchild.Catchable(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR1)
		sig := sigs[rng.IntN(len(sigs))]
		cmd = exec.Command("sh", "-c", fmt.Sprintf("kill -%d $$", int(sig)))
		c.want = "signal: " + sig.String()
	default:
		cmd = exec.Command("sleep", "3600")
		c.want, c.kill = "signal: killed", true
	}
	c.construct = []string{"Start", "FromProcess", "Open"}[rng.IntN(3)]
	// Closing leaves the reaping to the test, through a spare pidfd: only
	// PidFds that reap directly can be closed without os/exec's help.
	c.closeIt = c.construct == "Open" && rng.IntN(4) == 0
	p, err := constructors[c.construct](cmd)
	if err != nil {
		t.Fatalf("%s: %v", c.construct, err)
	}
	c.p = p
	c.spare = -1
	if c.closeIt {
		if c.spare, err = unix.FcntlInt(p.Fd(), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// run drives one child to its end and says what went wrong, if anything.
func (c *soakChild) run() string {
	var wg sync.WaitGroup
	results := make(chan string, 8)
	check := func(who string, status *ExitStatus, err error) {
		switch {
		case err == nil && status.String() == c.want:
		case c.closeIt && errors.Is(err, os.ErrClosed):
		default:
			results <- fmt.Sprintf("%s = %v, %v", who, status, err)
		}
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		status, err := c.p.Wait()
		check("Wait", status, err)
	}()
	go func() {
		defer wg.Done()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(5000))*time.Microsecond)
			status, err := c.p.WaitContext(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			check("WaitContext", status, err)
			return
		}
	}()
	go func() {
		defer wg.Done()
		for {
			_, pidErr := c.p.PID()
			c.p.Creds()
			c.p.TryWait()
			err := c.p.Signal(syscall.Signal(0))
			if errors.Is(err, os.ErrProcessDone) || errors.Is(err, os.ErrClosed) {
				return
			}
			if err != nil || pidErr != nil && !errors.Is(pidErr, os.ErrProcessDone) && !errors.Is(pidErr, os.ErrClosed) {
				results <- fmt.Sprintf("while running: Signal(0) = %v, PID: %v", err, pidErr)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(c.delay)
	if c.closeIt {
		c.p.Close()
	}
	if c.kill {
		if c.closeIt {
			unix.PidfdSendSignal(c.spare, unix.SIGKILL, nil, 0)
		} else if err := c.p.Kill(); err != nil {
			results <- fmt.Sprintf("Kill = %v", err)
		}
	}
	wg.Wait()
	if c.closeIt {
		// Reap it unless a wait did before the Close (ECHILD then). The
		// spare shares the non-blocking description: poll, then reap.
		fds := []unix.PollFd{{Fd: int32(c.spare), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		var si siginfoChild
		if err := waitid(c.spare, &si, unix.WEXITED|unix.WNOHANG, nil); err != nil && !errors.Is(err, syscall.ECHILD) {
			results <- fmt.Sprintf("reaping after Close: %v", err)
		}
		unix.Close(c.spare)
	} else {
		c.p.Close()
	}
	close(results)
	var msgs string
	for r := range results {
		msgs += r + "; "
	}
	return msgs
}
