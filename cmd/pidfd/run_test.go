//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
	"golang.org/x/sys/unix"
)

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

// TestRunHelp checks that run's help tells what the tool does that a user
// could not guess: its exit statuses (a table), which signals it forwards,
// that it keeps ignored signals ignored, that it reads no configuration
// file, and the one environment variable it reads.
func TestRunHelp(t *testing.T) {
	leakcheck.Check(t)
	out, _, code := pidfdCommand(t, "run", "-h")
	if code != 0 {
		t.Fatalf("run -h: exit %d", code)
	}
	help := strings.Join(strings.Fields(out), " ") // one line, to match phrases across line breaks
	for _, phrase := range []string{
		"126 COMMAND was found but could not be executed",
		"127 COMMAND was not found",
		"128+N signal N killed the command",
		"N the command exited with status N",
		"1 the tool failed",
		"2 a usage error",
		"run reads no configuration file and needs none",
		"the tool reads PATH, to find COMMAND when its name holds no slash",
		"The signals of a fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT) are forwarded when a process sends them",
		"SIGPROF Go's runtime takes it for its profiler and never relays it to a program",
		"A signal that was ignored when the tool started (SIGHUP under nohup, or after trap '' HUP) stays ignored, for the tool and for the command",
	} {
		if !strings.Contains(help, phrase) {
			t.Errorf("run -h does not say %q:\n%s", phrase, out)
		}
	}
}

// TestRunCannotExecute checks run's exit status for a command it cannot
// start, as POSIX shells (and tini) give it: 127 for a command not found,
// 126 for one found but not executable (no execute permission, a
// directory, not a program the kernel can run), whether it is named by a
// path or found in PATH. The tool says why on stderr.
func TestRunCannotExecute(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	for name, file := range map[string]struct {
		mode    os.FileMode
		content string
	}{
		"text":    {0o644, "#!/bin/sh\necho ran\n"},
		"garbage": {0o755, "\x00\x01\x02\x03 no kernel runs this\n"},
	} {
		if err := os.WriteFile(dir+"/"+name, []byte(file.content), file.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir+"/"+name, file.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(dir+"/directory", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		command string
		path    bool // run with PATH=dir
		code    int
		says    string
	}{
		{dir + "/text", false, 126, "permission denied"},
		{"text", true, 126, "permission denied"},
		{dir + "/directory", false, 126, "permission denied"}, // execve's EACCES
		{dir + "/garbage", false, 126, "exec format error"},
		{"garbage", true, 126, "exec format error"},
		{dir + "/none", false, 127, "no such file or directory"},
		{"none", true, 127, "executable file not found in $PATH"},
		{"directory", true, 127, "executable file not found in $PATH"},
	} {
		cmd := tool(t, "run", "--", c.command)
		if c.path {
			if cmd.Env == nil {
				cmd.Env = os.Environ()
			}
			cmd.Env = append(cmd.Env, "PATH="+dir) // the last one counts
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != c.code ||
			!strings.HasPrefix(stderr.String(), "pidfd run: ") || !strings.Contains(stderr.String(), c.says) || stdout.Len() != 0 {
			t.Errorf("run %s (PATH=dir: %v): %v, stdout %q, stderr %q; want exit status %d and %q",
				c.command, c.path, err, stdout.String(), stderr.String(), c.code, c.says)
		}
	}
}

// TestRunVerbose runs a sleeper under "run -v", signals the command, and
// checks that the signal went through the pidfd to the sleeper and that
// each step was reported.
func TestRunVerbose(t *testing.T) {
	leakcheck.Check(t)
	cmd := tool(t, "run", "-v", "--", "sleep", "3600")
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
	want := []string{fmt.Sprintf("pidfd: forwarded terminated to PID %d", sleeper), fmt.Sprintf("pidfd: PID %d ended: signal: terminated", sleeper)}
	if strings.Join(said, "\n") != strings.Join(want, "\n") {
		t.Errorf("run -v said %q; want %q", said, want)
	}
	var exitErr *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 128+15 {
		t.Errorf("run -v: %v; want exit status 143", err)
	}
}

// catchRole is the role of a command under run that reports the signals
// it gets.
const catchRole = "catch"

// catch plays catchRole: it says "NAME ready pgid PGID", then "NAME got
// SIGNAME" for each signal it catches, and dies by SIGTERM or SIGABRT once
// it has said so (dumping no core). With a second argument it first starts
// a grandchild, in its own process group, that does the same under that
// name; it waits for the grandchild's end before its own.
func catch(args []string) int {
	// A command whose tool is killed (by a failing test) dies with it.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) // no core file, whatever core_pattern says
	sigs := make(chan os.Signal, 16)
	// Go's runtime relays the fault signals too when a process sends them
	// (si_code SI_USER), as the tool's forwarding does.
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
		syscall.SIGTERM, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM, syscall.SIGPWR,
		syscall.SIGABRT, syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGSYS)
	var grandchild *exec.Cmd
	if len(args) > 1 {
		grandchild = testchild.Command(catchRole, args[1])
		grandchild.Stdout, grandchild.Stderr = os.Stdout, os.Stderr
		if err := grandchild.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "catch:", err)
			return 102
		}
	}
	fmt.Printf("%s ready pgid %d\n", args[0], syscall.Getpgrp())
	for sig := range sigs {
		fmt.Printf("%s got %s\n", args[0], unix.SignalName(sig.(syscall.Signal)))
		if sig == syscall.SIGTERM || sig == syscall.SIGABRT {
			if grandchild != nil {
				grandchild.Wait()
			}
			dieBy(sig.(syscall.Signal))
		}
	}
	return 0
}

// dieBy ends the process by the default action of sig.
func dieBy(sig syscall.Signal) {
	signal.Reset(sig)
	// Reset leaves Go's runtime's own handler for the signals it crashes on
	// (SIGABRT): set SIG_DFL, which is 0, so that an all-zero struct
	// sigaction is SIG_DFL on every architecture. The last argument is the
	// size of the kernel's sigset_t: 64 signals, 128 on MIPS.
	var dfl [64]byte
	sigsetSize := uintptr(8)
	if strings.HasPrefix(runtime.GOARCH, "mips") {
		sigsetSize = 16
	}
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, sigsetSize, 0, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "catch: rt_sigaction:", errno)
		os.Exit(103)
	}
	syscall.Kill(os.Getpid(), sig)
	time.Sleep(time.Hour)
}

// runCatcher starts "pidfd run FLAGS -- catch NAMES..." with its stdout and
// stderr read line by line.
func runCatcher(t *testing.T, flags []string, names ...string) (cmd *exec.Cmd, stdout, stderr *lineReader) {
	t.Helper()
	cmd = catcher(t, flags, names...)
	stdout, stderr = startReading(t, cmd)
	return cmd, stdout, stderr
}

// catcher returns the command "pidfd run FLAGS -- catch NAMES...".
func catcher(t *testing.T, flags []string, names ...string) *exec.Cmd {
	t.Helper()
	return runRole(t, flags, catchRole, names...)
}

// runRole returns the command "pidfd run FLAGS -- ROLE ARGS...", where the
// command plays a test child's role (see testchild).
func runRole(t *testing.T, flags []string, roleName string, roleArgs ...string) *exec.Cmd {
	t.Helper()
	role := testchild.Command(roleName, roleArgs...)
	args := append(append([]string{"run"}, flags...), "--", role.Path)
	cmd := tool(t, append(args, role.Args[1:]...)...)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, role.Env[len(os.Environ()):]...) // the role
	return cmd
}

// startReading starts cmd with its stdout and stderr read line by line, and
// kills it at the end of the test if the test has not waited for it.
func startReading(t *testing.T, cmd *exec.Cmd) (stdout, stderr *lineReader) {
	t.Helper()
	stdout, outW := newLineReader(t)
	stderr, errW := newLineReader(t)
	cmd.Stdout, cmd.Stderr = outW, errW
	err := cmd.Start()
	outW.Close() // the child's now: the readers see EOF once it and its descendants have closed them
	errW.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill() // a failed test's tool; its command dies with it
			cmd.Wait()
		}
		stdout.rest()
		stderr.rest()
	})
	return stdout, stderr
}

// lineReader has the lines a process writes on one of its outputs.
type lineReader struct {
	t     *testing.T
	lines chan string
}

func newLineReader(t *testing.T) (*lineReader, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	lr := &lineReader{t: t, lines: make(chan string, 100)}
	go func() {
		defer r.Close()
		scanner := bufio.NewScanner(r)
		for scanner.Scan() {
			lr.lines <- scanner.Text()
		}
		close(lr.lines)
	}()
	return lr, w
}

// expect reads lines until it has seen one that starts with each of
// prefixes, in any order, and returns them in the order of prefixes; lines
// that match none are skipped.
// startedPID reads the PID that run -v says it started sh as.
func startedPID(t *testing.T, stderr *lineReader) int {
	t.Helper()
	var pid int
	started := stderr.expect("pidfd: started sh as PID ")[0]
	if _, err := fmt.Sscanf(started, "pidfd: started sh as PID %d", &pid); err != nil {
		t.Fatalf("run -v said %q: %v", started, err)
	}
	return pid
}

func (lr *lineReader) expect(prefixes ...string) []string {
	lr.t.Helper()
	found := make([]string, len(prefixes))
	missing := len(prefixes)
	timeout := time.After(10 * time.Second)
	for missing > 0 {
		select {
		case line, ok := <-lr.lines:
			if !ok {
				lr.t.Fatalf("output ended without lines starting with %q (found %q)", prefixes, found)
			}
			for i, prefix := range prefixes {
				if found[i] == "" && strings.HasPrefix(line, prefix) {
					found[i] = line
					missing--
					break
				}
			}
		case <-timeout:
			lr.t.Fatalf("no lines starting with %q after 10s (found %q)", prefixes, found)
		}
	}
	return found
}

// rest reads the remaining lines, until the end of the output.
func (lr *lineReader) rest() []string {
	var lines []string
	for line := range lr.lines {
		lines = append(lines, line)
	}
	return lines
}

// exitStatus waits for cmd and returns its exit status.
func exitStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.Exited():
		return exitErr.ExitCode()
	}
	t.Fatalf("%s: %v", cmd.Args, err)
	return -1
}

// TestRunForwardsSignals sends the tool the signals a user sends, and checks
// that each reached the command, that the tool survived them all (SIGHUP
// used to kill it, orphaning the command), and that it exits as the
// command did, killed by the last one.
func TestRunForwardsSignals(t *testing.T) {
	leakcheck.Check(t)
	cmd, stdout, stderr := runCatcher(t, []string{"-v"}, "child")
	started := stderr.expect("pidfd: started ")[0]
	var pid int
	if _, err := fmt.Sscanf(started, "pidfd: started %s as PID %d", new(string), &pid); err != nil {
		t.Fatalf("run -v said %q: %v", started, err)
	}
	stdout.expect("child ready")
	for _, sig := range testchild.Catchable(syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT,
		syscall.SIGQUIT, syscall.SIGWINCH, syscall.SIGCONT, syscall.SIGALRM, syscall.SIGPWR, syscall.SIGTERM) {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatalf("%v to the tool: %v", sig, err)
		}
		stdout.expect("child got " + unix.SignalName(sig))
		stderr.expect(fmt.Sprintf("pidfd: forwarded %v to PID %d", sig, pid))
	}
	if code := exitStatus(t, cmd); code != 128+int(syscall.SIGTERM) {
		t.Errorf("run: exit status %d; want %d, as the command killed by SIGTERM", code, 128+syscall.SIGTERM)
	}
	if said := stderr.rest(); len(said) != 1 || said[0] != fmt.Sprintf("pidfd: PID %d ended: signal: terminated", pid) {
		t.Errorf("run -v said at the end %q", said)
	}
}

// TestRunForwardsFaultSignals sends the tool, with kill, the signals that
// the kernel raises for a fault (as "docker kill -s ABRT" sends them to a
// container's init), as a plain process and as PID 1 of a PID namespace.
// Each must reach the command, and the tool survive it (Go's runtime used
// to crash the tool with a traceback, exit status 2, taking a container
// down); the last, SIGABRT, kills the command, and the tool exits as it did.
func TestRunForwardsFaultSignals(t *testing.T) {
	for _, mode := range []struct {
		name string
		attr *syscall.SysProcAttr
	}{
		{"process", nil},
		{"PID 1", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			leakcheck.Check(t)
			if mode.attr != nil {
				newPIDNamespace(t)
			}
			cmd := catcher(t, []string{"-v"}, "child")
			cmd.SysProcAttr = mode.attr
			stdout, stderr := startReading(t, cmd)
			started := stderr.expect("pidfd: started ")[0]
			var pid int
			if _, err := fmt.Sscanf(started, "pidfd: started %s as PID %d", new(string), &pid); err != nil {
				t.Fatalf("run -v said %q: %v", started, err)
			}
			stdout.expect("child ready")
			if mode.attr != nil {
				if ns := nsPIDs(t, cmd.Process.Pid); len(ns) != 2 || ns[1] != 1 {
					t.Fatalf("the tool's PIDs, outermost namespace first: %v; want PID 1 in the second", ns)
				}
			}
			for _, sig := range []syscall.Signal{syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL,
				syscall.SIGTRAP, syscall.SIGSYS, syscall.SIGABRT} {
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatalf("%v to the tool: %v", sig, err)
				}
				stdout.expect("child got " + unix.SignalName(sig))
				stderr.expect(fmt.Sprintf("pidfd: forwarded %v to PID %d", sig, pid))
			}
			if code := exitStatus(t, cmd); code != 128+int(syscall.SIGABRT) {
				t.Errorf("run: exit status %d; want %d, as the command killed by SIGABRT", code, 128+syscall.SIGABRT)
			}
			if said := stderr.rest(); len(said) != 1 || said[0] != fmt.Sprintf("pidfd: PID %d ended: signal: aborted", pid) {
				t.Errorf("run -v said at the end %q", said)
			}
		})
	}
}

// TestRunSignalsNotForwarded sends the tool signals that it cannot catch
// and does not forward, as its help says, and checks that the tool
// survives them and the command never sees them: SIGPROF, which Go's
// runtime takes for its profiler and never relays to the program; and, as
// PID 1 of a PID namespace, signals 32 and 34, which Go's runtime leaves at
// their default action, which the kernel does not apply to a namespace's
// init. The command, a shell that traps them all, sees only the SIGUSR1
// sent after them, and exits 5 on it.
func TestRunSignalsNotForwarded(t *testing.T) {
	for _, mode := range []struct {
		name string
		attr *syscall.SysProcAttr
		sigs []syscall.Signal
	}{
		{"process", nil, []syscall.Signal{syscall.SIGPROF}},
		{"PID 1", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}, []syscall.Signal{syscall.SIGPROF, 32, 34}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			leakcheck.Check(t)
			if mode.attr != nil {
				newPIDNamespace(t)
			}
			cmd := tool(t, "run", "-v", "--", "sh", "-c", `for sig in PROF 32 34; do trap "echo got $sig" $sig; done
				trap 'echo got USR1; exit 5' USR1; echo ready; while :; do sleep 0.1; done`)
			cmd.SysProcAttr = mode.attr
			stdout, stderr := startReading(t, cmd)
			pid := startedPID(t, stderr)
			stdout.expect("ready")
			for _, sig := range append(mode.sigs, syscall.SIGUSR1) {
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatalf("%v to the tool: %v", sig, err)
				}
			}
			if code := exitStatus(t, cmd); code != 5 {
				t.Errorf("run: exit status %d; want 5, the command's on SIGUSR1", code)
			}
			if said := stdout.rest(); len(said) != 1 || said[0] != "got USR1" {
				t.Errorf("the command said %q; want only got USR1", said)
			}
			want := []string{
				fmt.Sprintf("pidfd: forwarded %v to PID %d", syscall.SIGUSR1, pid),
				fmt.Sprintf("pidfd: PID %d ended: exit status 5", pid),
			}
			if said := stderr.rest(); strings.Join(said, "\n") != strings.Join(want, "\n") {
				t.Errorf("run -v said %q; want %q", said, want)
			}
		})
	}
}

// newPIDNamespace skips the test where a child cannot be started in a new
// PID namespace: without root (CAP_SYS_ADMIN), or where a sandbox forbids it.
func newPIDNamespace(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root (CAP_SYS_ADMIN)")
	}
	probe := testchild.Command(testchild.Exit, "0")
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := probe.Run(); err != nil {
		t.Skip("no new PID namespace:", err)
	}
}

// TestRunForwardsToGroup runs a command that starts a grandchild, under
// run -g, and checks that the command leads a process group of its own
// with the grandchild in it, and that the signals sent to the tool reach
// them both.
func TestRunForwardsToGroup(t *testing.T) {
	leakcheck.Check(t)
	cmd, stdout, stderr := runCatcher(t, []string{"-v", "-g"}, "child", "grandchild")
	started := stderr.expect("pidfd: started ")[0]
	var pid int
	if _, err := fmt.Sscanf(started, "pidfd: started %s as PID %d", new(string), &pid); err != nil {
		t.Fatalf("run -v said %q: %v", started, err)
	}
	ready := stdout.expect("child ready", "grandchild ready")
	want := fmt.Sprintf("ready pgid %d", pid)
	if ready[0] != "child "+want || ready[1] != "grandchild "+want {
		t.Fatalf("said %q; want both in process group %d, the command's", ready, pid)
	}
	for _, sig := range testchild.Catchable(syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGTERM) {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatalf("%v to the tool: %v", sig, err)
		}
		name := unix.SignalName(sig)
		stdout.expect("child got "+name, "grandchild got "+name)
		stderr.expect(fmt.Sprintf("pidfd: forwarded %v to process group %d", sig, pid))
	}
	if code := exitStatus(t, cmd); code != 128+int(syscall.SIGTERM) {
		t.Errorf("run -g: exit status %d; want %d", code, 128+syscall.SIGTERM)
	}
}

// TestRunKeepsIgnoredSignals starts the tool with SIGHUP, SIGINT and
// SIGTSTP ignored (as nohup ignores SIGHUP, or trap "" HUP), and checks that
// they stay ignored, for the tool and for the command, as they would for the
// command started without the tool: both have them in SigIgn, and those
// signals sent to the tool change nothing (a SIGHUP used to kill the
// command, exit status 129); the SIGUSR1 sent after them is forwarded, and
// kills the command.
func TestRunKeepsIgnoredSignals(t *testing.T) {
	leakcheck.Check(t)
	ignored := []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTSTP}
	run := tool(t, "run", "-v", "--", "sh", "-c",
		`while read -r line; do case $line in SigIgn:*) echo "$line";; esac; done </proc/self/status; exec sleep 600`)
	cmd := exec.Command("sh", append([]string{"-c", `trap '' HUP INT TSTP; exec "$0" "$@"`, run.Path}, run.Args[1:]...)...)
	cmd.Env = run.Env
	stdout, stderr := startReading(t, cmd)
	pid := startedPID(t, stderr)
	commandIgnores := sigIgn(t, "the command", stdout.expect("SigIgn:")[0])
	toolIgnores := sigIgn(t, "the tool", procStatusLine(t, cmd.Process.Pid, "SigIgn:"))
	for _, sig := range ignored {
		if !commandIgnores[sig] {
			t.Errorf("the command does not ignore %v", sig)
		}
		if !toolIgnores[sig] {
			t.Errorf("the tool does not ignore %v", sig)
		}
	}
	for _, sig := range append(ignored, syscall.SIGUSR1) {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatalf("%v to the tool: %v", sig, err)
		}
	}
	if code := exitStatus(t, cmd); code != 128+int(syscall.SIGUSR1) {
		t.Errorf("run: exit status %d; want %d, as the command killed by SIGUSR1", code, 128+syscall.SIGUSR1)
	}
	want := []string{
		fmt.Sprintf("pidfd: forwarded %v to PID %d", syscall.SIGUSR1, pid),
		fmt.Sprintf("pidfd: PID %d ended: signal: %v", pid, syscall.SIGUSR1),
	}
	if said := stderr.rest(); strings.Join(said, "\n") != strings.Join(want, "\n") {
		t.Errorf("run -v said %q; want %q", said, want)
	}
}

// sigIgn reads a SigIgn line of /proc/PID/status: the signals ignored.
func sigIgn(t *testing.T, whose, line string) map[syscall.Signal]bool {
	t.Helper()
	mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "SigIgn:")), 16, 64)
	if err != nil {
		t.Fatalf("%s: %q: %v", whose, line, err)
	}
	ignored := map[syscall.Signal]bool{}
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		ignored[sig] = mask&(1<<(sig-1)) != 0
	}
	return ignored
}

// procStatusLine returns the line of /proc/PID/status that starts with
// prefix.
func procStatusLine(t *testing.T, pid int, prefix string) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("/proc/%d/status has no %s line", pid, prefix)
	return ""
}

// TestRunReapsOrphans runs a command that leaves orphans behind under run
// as a child subreaper (-s), and, as root, as PID 1 of a new PID namespace,
// as a container's init. Either way the orphans are reparented to the
// tool, which must reap them: the test sees them reaped, and no zombie among
// the tool's children, while the command still runs; and the tool exits
// with the command's status, which the reaping must not have taken.
func TestRunReapsOrphans(t *testing.T) {
	for _, mode := range []struct {
		name  string
		flags []string
		attr  *syscall.SysProcAttr
	}{
		{"subreaper", []string{"-s"}, nil},
		{"PID 1", nil, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			leakcheck.Check(t)
			if mode.attr != nil && os.Geteuid() != 0 {
				t.Skip("a new PID namespace needs root (CAP_SYS_ADMIN)")
			}
			// Each ( ... &) is a subshell that starts a sleep and exits:
			// the sleep is an orphan.
			cmd := tool(t, append(append([]string{"run", "-v"}, mode.flags...),
				"--", "sh", "-c", "(sleep 0.1 &); (sleep 0.1 &); read line; exit 7")...)
			cmd.SysProcAttr = mode.attr
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			_, stderr := startReading(t, cmd)
			pid := startedPID(t, stderr)
			// "reaped orphan PID N: exit status 0" for each sleep.
			reaped := stderr.expect("pidfd: reaped orphan PID ", "pidfd: reaped orphan PID ")
			for _, line := range reaped {
				if !strings.HasSuffix(line, ": exit status 0") {
					t.Errorf("run -v said %q; want an orphan's exit status 0", line)
				}
			}
			kids := childrenOf(t, cmd.Process.Pid)
			if len(kids) != 1 {
				t.Errorf("the tool's children: %v; want the command alone", kids)
			}
			for kid, state := range kids {
				if state == "Z" {
					t.Errorf("the tool's child %d is a zombie", kid)
				}
				if mode.attr != nil {
					// The tool is init, PID 1, of the namespace where the
					// command has the PID it said.
					if ns := nsPIDs(t, cmd.Process.Pid); len(ns) != 2 || ns[1] != 1 {
						t.Errorf("the tool's PIDs, outermost namespace first: %v; want PID 1 in the second", ns)
					}
					if ns := nsPIDs(t, kid); len(ns) != 2 || ns[1] != pid {
						t.Errorf("the command's PIDs: %v; want %d in the second namespace", ns, pid)
					}
				}
			}
			in.Write([]byte("done\n"))
			in.Close()
			if code := exitStatus(t, cmd); code != 7 {
				t.Errorf("run: exit status %d; want 7, the command's", code)
			}
			if said := stderr.rest(); len(said) == 0 || said[len(said)-1] != fmt.Sprintf("pidfd: PID %d ended: exit status 7", pid) {
				t.Errorf("run -v said at the end %q", said)
			}
		})
	}
}

// TestRunKeepsStatus runs commands whose orphans exit about when the
// command does, so that the reaping of orphans and the command's end race,
// and checks that the tool always exits with the command's status.
func TestRunKeepsStatus(t *testing.T) {
	leakcheck.Check(t)
	var attr *syscall.SysProcAttr
	flags := []string{"run", "-s"}
	if os.Geteuid() == 0 {
		attr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
		flags = flags[:1]
	}
	for i := range 10 {
		cmd := tool(t, append(flags, "--", "sh", "-c",
			"for i in 1 2 3 4 5 6 7 8; do (sleep 0.0$i &); done; sleep 0.04; exit 7")...)
		cmd.SysProcAttr = attr
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 7 {
			t.Fatalf("run %d: %v, %q; want exit status 7", i, err, out)
		}
	}
}

// nsPIDs returns a process's PIDs in the namespaces it is in, the outermost
// first (NSpid in /proc/PID/status).
func nsPIDs(t *testing.T, pid int) []int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("/proc/%d/status: %q", pid, line)
				}
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// TestRunForegroundGroup runs run -g on a terminal of its own (a pty), as
// a shell runs a job, and checks that the command, in its own group, has
// the terminal's foreground: else it could not read the terminal.
func TestRunForegroundGroup(t *testing.T) {
	leakcheck.Check(t)
	master, terminal := openPTY(t)
	defer master.Close()
	// Fields 5 and 8 of /proc/PID/stat: the process group and the
	// terminal's foreground group.
	cmd := tool(t, "run", "-g", "--", "sh", "-c", `set -- $(cat /proc/self/stat); echo "group $5 foreground $8"`)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = terminal, terminal, terminal
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err := cmd.Start()
	terminal.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(master) // EIO once the terminal's last holder has closed it
	if err := cmd.Wait(); err != nil {
		t.Errorf("run -g on a terminal: %v, %q", err, out)
	}
	var group, foreground int
	if _, err := fmt.Sscanf(string(out), "group %d foreground %d", &group, &foreground); err != nil ||
		group != foreground || group == cmd.Process.Pid {
		t.Errorf("the command said %q; want its own group, in the foreground", out)
	}
}
