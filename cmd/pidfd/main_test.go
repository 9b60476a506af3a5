//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
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
)

// The test binary plays the command when this is set.
const asCommandEnv = "PIDFD_CLI_UNDER_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The runtime poller opens its own descriptors on first use; open them
	// now so that no test counts them as leaked.
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	r.Close()
	w.Close()
	before, err := leakcheck.Take()
	if err != nil {
		panic(err)
	}
	code := m.Run()
	// Each test checks its own leaks; this catches what a test left to
	// the next, and whatever runs outside a test.
	for _, leak := range before.Leaks() {
		fmt.Println("after all tests:", leak)
		code = 1
	}
	fmt.Println("tests:", leakcheck.Summary())
	os.Exit(code)
}

// pidfdCommand runs the command with args and returns its output and exit
// status.
func pidfdCommand(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommandEnv+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// sleeper starts a process the command can look at; it is our child, not
// the command's.
func sleeper(t *testing.T) (*exec.Cmd, *pidfd.PidFd) {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	p, err := pidfd.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
		p.Close()
	})
	return cmd, p
}

func TestInfo(t *testing.T) {
	leakcheck.Check(t)
	cmd, _ := sleeper(t)
	out, errOut, code := pidfdCommand(t, "info", "-json", strconv.Itoa(cmd.Process.Pid))
	if code != 0 {
		t.Fatalf("info: exit %d, %s", code, errOut)
	}
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("info -json printed %q: %v", out, err)
	}
	if r.PID != cmd.Process.Pid || r.PPID != os.Getpid() || r.Creds == nil || r.Creds.EUID != uint32(os.Geteuid()) {
		t.Errorf("info -json = %+v; want PID %d, parent %d, our uid", r, cmd.Process.Pid, os.Getpid())
	}
	out, _, code = pidfdCommand(t, "info", "self")
	if code != 0 || !strings.HasPrefix(out, "pid\t") || !strings.Contains(out, "\nppid\t"+strconv.Itoa(os.Getpid())+"\n") {
		t.Errorf("info self: exit %d, %q", code, out)
	}
}

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
	if _, errOut, code := pidfdCommand(t, "kill", strconv.Itoa(cmd.Process.Pid)); code != 1 || !strings.Contains(errOut, "PID") {
		t.Errorf("kill of a reaped process: exit %d, %q; want 1 and a message", code, errOut)
	}
}

func TestWait(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := sleeper(t)
	waiter := exec.Command(os.Args[0], "wait", strconv.Itoa(cmd.Process.Pid))
	waiter.Env = append(os.Environ(), asCommandEnv+"=1")
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

func TestRun(t *testing.T) {
	leakcheck.Check(t)
	out, _, code := pidfdCommand(t, "run", "--", "sh", "-c", "echo hi; exit 3")
	if code != 3 || out != "hi\n" {
		t.Errorf("run: exit %d, %q; want 3, hi", code, out)
	}
	_, _, code = pidfdCommand(t, "run", "--", "sh", "-c", "kill -TERM $$")
	if code != 128+15 {
		t.Errorf("run of a child killed by SIGTERM: exit %d; want 143", code)
	}
}

func TestUsage(t *testing.T) {
	leakcheck.Check(t)
	for _, args := range [][]string{{}, {"bogus"}, {"kill", "-s", "NOPE", "1"}, {"wait"}, {"info"}, {"wait", "x"}, {"run"}} {
		_, errOut, code := pidfdCommand(t, args...)
		if code != 2 || !strings.Contains(errOut, "usage") {
			t.Errorf("pidfd %v: exit %d, %q; want 2 and the usage", args, code, errOut)
		}
	}
}

// holdsPidFd waits until process holder has a pidfd open for process pid.
func holdsPidFd(t *testing.T, holder, pid int) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(holder) + "/fdinfo/"
	want := "\nPid:\t" + strconv.Itoa(pid) + "\n"
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := os.ReadFile(dir + e.Name()); err == nil && strings.Contains(string(info), want) {
				return
			}
		}
	}
	t.Fatalf("process %d never opened a pidfd for %d", holder, pid)
}

// TestRunVerbose runs a sleeper under "run -v", signals the command, and
// checks that the signal went through the pidfd to the sleeper and that
// each step was reported.
func TestRunVerbose(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command(os.Args[0], "run", "-v", "--", "sleep", "3600")
	cmd.Env = append(os.Environ(), asCommandEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	var sleeper int
	if !lines.Scan() {
		t.Fatal("run -v said nothing")
	}
	if _, err := fmt.Sscanf(lines.Text(), "pidfd: started sleep as PID %d", &sleeper); err != nil {
		t.Fatalf("first line %q: %v", lines.Text(), err)
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sleeper)); err != nil || string(comm) != "sleep\n" {
		t.Fatalf("PID %d is %q, %v; want the sleeper", sleeper, comm, err)
	}
	// The handler is in place once "started" is said.
	cmd.Process.Signal(syscall.SIGTERM)
	var said []string
	for lines.Scan() {
		said = append(said, lines.Text())
	}
	want := []string{"pidfd: forwarded terminated", fmt.Sprintf("pidfd: PID %d ended: signal: terminated", sleeper)}
	if strings.Join(said, "\n") != strings.Join(want, "\n") {
		t.Errorf("run -v said %q; want %q", said, want)
	}
	var exitErr *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 128+15 {
		t.Errorf("run -v: %v; want exit status 143", err)
	}
}

// TestBuiltBinary builds the command with the go tool, as a user would, and
// runs the built binary against real processes (the other tests run the
// same code as the re-executed test binary).
func TestBuiltBinary(t *testing.T) {
	leakcheck.Check(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the command with (inside the test VMs)")
	}
	bin := t.TempDir() + "/pidfd"
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := exec.Command(bin, "run", "-v", "--", "sh", "-c", "echo hello from the child; exit 3")
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	err = run.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || stdout.String() != "hello from the child\n" {
		t.Errorf("pidfd run: %v, %q; want exit status 3 and the child's words", err, stdout.String())
	}
	var pid int
	if _, err := fmt.Sscanf(stderr.String(), "pidfd: started sh as PID %d", &pid); err != nil ||
		!strings.Contains(stderr.String(), fmt.Sprintf("pidfd: PID %d ended: exit status 3\n", pid)) {
		t.Errorf("pidfd run -v said %q", stderr.String())
	}

	// info on a sleeper: the PID and parent it reports are the ones /proc has.
	sleep, _ := sleeper(t)
	out, err := exec.Command(bin, "info", "-json", strconv.Itoa(sleep.Process.Pid)).Output()
	if err != nil {
		t.Fatalf("pidfd info: %v", err)
	}
	var info struct{ PID, PPID int }
	if err := json.Unmarshal(out, &info); err != nil || info.PID != sleep.Process.Pid || info.PPID != os.Getpid() {
		t.Errorf("pidfd info -json = %s (%v); want PID %d with parent %d", out, err, sleep.Process.Pid, os.Getpid())
	}
}
