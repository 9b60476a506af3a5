//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// TestWait waits for a sleeper that the test (its parent) kills and reaps,
// and checks that the tool tells how it ended where the kernel can.
func TestWait(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := sleeper(t)
	waiter := tool(t, "wait", strconv.Itoa(cmd.Process.Pid))
	var out bytes.Buffer
	waiter.Stdout = &out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	holdsPidFd(t, waiter.Process.Pid, cmd.Process.Pid)
	p.Kill()
	if _, err := p.Wait(); err != nil { // we are the parent: we reap, the command learns
		t.Fatal(err)
	}
	err := waiter.Wait()
	if pidfd.KernelFeatures().ExitInfo {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 128+9 || !strings.Contains(out.String(), "signal: killed") {
			t.Errorf("wait: %v, %q; want exit 137 and signal: killed", err, out.String())
		}
	} else if err != nil || !strings.Contains(out.String(), "exited") {
		t.Errorf("wait: %v, %q; want exit 0 and exited", err, out.String())
	}
}

// TestWaitBadPID checks that a PID that names no process is reported,
// naming it, and that the tool waits for the others all the same, as kill
// goes on with the others, and exits 1 at the end.
func TestWaitBadPID(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := sleeper(t)
	bad, live := unusedPID(t), cmd.Process.Pid
	waiter := tool(t, "wait", strconv.Itoa(bad), strconv.Itoa(live))
	var out, errOut bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &errOut
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	holdsPidFd(t, waiter.Process.Pid, live) // still waiting, for the live one
	if state, _, err := procState(waiter.Process.Pid); err != nil || state == "Z" {
		t.Fatalf("the tool has exited (%q, %v) before the live process", state, err)
	}
	p.Kill()
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	code := exitStatus(t, waiter)
	if want := fmt.Sprintf("pidfd wait: PID %d: no such process\n", bad); code != 1 || errOut.String() != want {
		t.Errorf("wait BAD LIVE: exit %d, stderr %q; want 1 and %q", code, errOut.String(), want)
	}
	if !strings.HasPrefix(out.String(), strconv.Itoa(live)+": ") {
		t.Errorf("wait BAD LIVE printed %q; want how %d ended", out.String(), live)
	}
}

// TestWaitExited checks --exited: a PID that has already exited (no process
// has it) is no error then.
func TestWaitExited(t *testing.T) {
	leakcheck.Check(t)
	bad := unusedPID(t)
	out, errOut, code := pidfdCommand(t, "wait", "--exited", strconv.Itoa(bad))
	if want := fmt.Sprintf("%d: had already exited\n", bad); code != 0 || out != want || errOut != "" {
		t.Errorf("wait --exited GONE: exit %d, %q, %q; want 0 and %q", code, out, errOut, want)
	}
	_, errOut, code = pidfdCommand(t, "wait", "-exited=false", strconv.Itoa(bad))
	if code != 1 || !strings.Contains(errOut, strconv.Itoa(bad)+": no such process") {
		t.Errorf("wait GONE: exit %d, %q; want 1 and no such process", code, errOut)
	}
}

// TestWaitCount checks that --count 1 returns once one of two processes
// has exited, with its status, leaving the other alone.
func TestWaitCount(t *testing.T) {
	leakcheck.Check(t)
	first, p := sleeper(t)
	second, q := sleeper(t)
	waiter := tool(t, "wait", "--count", "1", strconv.Itoa(first.Process.Pid), strconv.Itoa(second.Process.Pid))
	var out bytes.Buffer
	waiter.Stdout = &out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	holdsPidFd(t, waiter.Process.Pid, first.Process.Pid)
	holdsPidFd(t, waiter.Process.Pid, second.Process.Pid)
	q.Kill()
	if _, err := q.Wait(); err != nil {
		t.Fatal(err)
	}
	code := exitStatus(t, waiter)
	if !strings.HasPrefix(out.String(), strconv.Itoa(second.Process.Pid)+": ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("wait --count 1 printed %q; want the second's end only", out.String())
	}
	if pidfd.KernelFeatures().ExitInfo && code != 128+9 {
		t.Errorf("wait --count 1: exit %d; want 137, as the killed second", code)
	}
	if status, err := p.TryWait(); status != nil || err != nil {
		t.Errorf("the first sleeper: %v, %v; want it still running", status, err)
	}
}

// TestWaitTimeout checks --timeout, as a duration and in seconds: exit 3,
// and the process still running named.
func TestWaitTimeout(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := sleeper(t)
	for _, timeout := range []string{"100ms", "0.1"} {
		out, errOut, code := pidfdCommand(t, "wait", "--timeout", timeout, strconv.Itoa(cmd.Process.Pid))
		if want := fmt.Sprintf("PID %d still running\n", cmd.Process.Pid); code != 3 || out != "" || !strings.HasSuffix(errOut, want) {
			t.Errorf("wait --timeout %s: exit %d, %q, %q; want 3 and %q", timeout, code, out, errOut, want)
		}
	}
	if status, err := p.TryWait(); status != nil || err != nil {
		t.Errorf("the sleeper: %v, %v; want it still running", status, err)
	}
}
