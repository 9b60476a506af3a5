//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestKill(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := sleeper(t)
	if _, errOut, code := pidfdCommand(t, "kill", "-s", "USR1", strconv.Itoa(cmd.Process.Pid)); code != 0 {
		t.Fatalf("kill: exit %d, %s", code, errOut)
	}
	status, err := p.Wait()
	if err != nil || status.Signal() != syscall.SIGUSR1 {
		t.Errorf("after pidfd kill -s USR1: %v, %v", status, err)
	}
	_, errOut, code := pidfdCommand(t, "kill", strconv.Itoa(cmd.Process.Pid))
	if want := fmt.Sprintf("pidfd kill: PID %d: no such process\n", cmd.Process.Pid); code != 1 || errOut != want {
		t.Errorf("kill of a reaped process: exit %d, %q; want 1 and %q", code, errOut, want)
	}
}

// TestKillBadPID checks that kill, as wait, reports a PID that names no
// process and signals the others.
func TestKillBadPID(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := sleeper(t)
	bad := unusedPID(t)
	_, errOut, code := pidfdCommand(t, "kill", "--signal", "sigusr2", strconv.Itoa(bad), strconv.Itoa(cmd.Process.Pid))
	if want := fmt.Sprintf("pidfd kill: PID %d: no such process\n", bad); code != 1 || errOut != want {
		t.Errorf("kill BAD LIVE: exit %d, %q; want 1 and %q", code, errOut, want)
	}
	if status, err := p.Wait(); err != nil || status.Signal() != syscall.SIGUSR2 {
		t.Errorf("the live process after kill BAD LIVE: %v, %v; want killed by SIGUSR2", status, err)
	}
}

// TestKillQueue checks that --queue sends the signal with its value, as
// sigqueue does: a child that takes SIGUSR1 by signalfd reads the value,
// SI_QUEUE and the tool's PID.
func TestKillQueue(t *testing.T) {
	leakcheck.Check(t)
	child := testchild.Command(testchild.Blocked)
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	p, err := pidfd.Start(child)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	defer p.Wait()
	defer in.Close() // it exits at the end of its input
	lines := bufio.NewReader(out)
	if line, err := lines.ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q, %v; want ready", line, err)
	}
	killer := tool(t, "kill", "-s", "USR1", "--queue", "0x1234", strconv.Itoa(child.Process.Pid))
	if out, err := killer.CombinedOutput(); err != nil {
		t.Fatalf("kill --queue: %v, %s", err, out)
	}
	in.Write([]byte("sigwait\n"))
	line, err := lines.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	// signo, code, pid, uid, sival_int, sival_ptr; SI_QUEUE is -1.
	want := fmt.Sprintf("%d %d %d %d %d %d", syscall.SIGUSR1, -1, killer.Process.Pid, os.Getuid(), 0x1234, 0x1234)
	if got := strings.TrimSpace(line); got != want {
		t.Errorf("the child got %q; want %q", got, want)
	}
}

// TestKillTimeout checks --timeout MS SIGNAL: the follow-up goes to a
// process that ignores the first signal, and only to that one.
func TestKillTimeout(t *testing.T) {
	leakcheck.Check(t)
	// An ignored signal stays ignored across exec.
	stubborn := startSh(t, `trap "" TERM; exec sleep 3600`)
	waitForExec(t, stubborn.pid, "sleep")
	meek, q := sleeper(t)
	killer := tool(t, "kill", "--timeout", "100", "USR1", "-timeout", "100", "KILL",
		strconv.Itoa(stubborn.pid), strconv.Itoa(meek.Process.Pid))
	var errOut strings.Builder
	killer.Stderr = &errOut
	if err := killer.Start(); err != nil {
		t.Fatal(err)
	}
	// The meek one dies of the TERM; the tool learns it once we reap it.
	if status, err := q.Wait(); err != nil || status.Signal() != syscall.SIGTERM {
		t.Errorf("after kill --timeout: %v, %v; want killed by SIGTERM, the first signal", status, err)
	}
	if status, err := stubborn.p.Wait(); err != nil || status.Signal() != syscall.SIGUSR1 {
		t.Errorf("the process that ignores SIGTERM: %v, %v; want killed by SIGUSR1, the first follow-up", status, err)
	}
	if code := exitStatus(t, killer); code != 0 || errOut.String() != "" {
		t.Errorf("kill --timeout: exit %d, %q; want 0", code, errOut.String())
	}
}

type shChild struct {
	p   *pidfd.PidFd
	pid int
}

// startSh starts sh -c script as a child of the test, killed and reaped
// at the end of the test if it still runs.
func startSh(t *testing.T, script string) shChild {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	p, err := pidfd.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
		p.Close()
	})
	return shChild{p, cmd.Process.Pid}
}

// waitForExec waits until process pid runs the program named comm.
func waitForExec(t *testing.T, pid int, comm string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && string(b) == comm+"\n" {
			return
		}
	}
	t.Fatalf("process %d never ran %s", pid, comm)
}
