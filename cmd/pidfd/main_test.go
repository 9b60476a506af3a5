//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// The test binary plays the command when this is set.
const asCommandEnv = "PIDFD_CLI_UNDER_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) != "" {
		os.Unsetenv(asCommandEnv) // for the commands it runs
		os.Exit(run(os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
	}
	testchild.RunIfChild(map[string]func([]string) int{catchRole: catch, bareInitRole: bareInit})
	os.Exit(leakcheck.Run(m, func() bool {
		if built.dir != "" {
			os.RemoveAll(built.dir)
		}
		return true
	}))
}

// built is the command, built once by the go tool as the README installs
// it: with CGO_ENABLED=0, a static binary.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// tool returns the command to run the tool with args: the built binary, or
// where there is no go tool to build it with (inside the test VMs) the test
// binary re-executed to play the tool, which runs the same code.
func tool(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "pidfd-tool"); built.err != nil {
			return
		}
		out, err := goBuild(goTool, runtime.GOARCH, built.dir+"/pidfd")
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.path = built.dir + "/pidfd"
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	if built.path != "" {
		return exec.Command(built.path, args...)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommandEnv+"=1")
	return cmd
}

// pidfdCommand runs the tool with args and returns its output and exit
// status.
func pidfdCommand(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := tool(t, args...)
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

// TestUsage checks that mistakes on the command line exit 2 with the usage
// on stderr.
func TestUsage(t *testing.T) {
	leakcheck.Check(t)
	for _, args := range [][]string{
		{}, {"bogus"}, {"help", "bogus"}, {"help", "wait", "kill"},
		{"kill", "-s", "NOPE", "1"}, {"kill", "--timeout", "x", "KILL", "1"}, {"kill", "--queue", "x", "1"},
		{"wait"}, {"wait", "x"}, {"wait", "--count", "2", "1"}, {"wait", "--timeout", "soon", "1"}, {"wait", "--nope", "1"},
		{"info"}, {"info", "1", "2"}, {"run"}, {"run", "-x", "true"},
	} {
		out, errOut, code := pidfdCommand(t, args...)
		if code != 2 || !strings.Contains(errOut, "usage: pidfd") || out != "" {
			t.Errorf("pidfd %q: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", args, code, out, errOut)
		}
	}
}

// TestPIDRange checks that a number that does not fit a pid_t (a 32-bit
// signed int) is a bad PID for every command that takes PIDs, on every
// machine: on a 64-bit one it used to reach pidfd_open, which saw only its
// low 32 bits. The largest pid_t is a PID like any other: no process has
// it (pid_max is at most 2^22).
func TestPIDRange(t *testing.T) {
	leakcheck.Check(t)
	for _, c := range []string{"wait", "kill", "info"} {
		for _, pid := range []string{"4294967297", "2147483648", "9223372036854775808"} {
			out, errOut, code := pidfdCommand(t, c, pid)
			if want := fmt.Sprintf("pidfd %s: bad PID %q\n", c, pid); code != 2 || out != "" || !strings.HasPrefix(errOut, want) {
				t.Errorf("pidfd %s %s: exit %d, stdout %q, stderr %q; want 2 and %q", c, pid, code, out, errOut, want)
			}
		}
		out, errOut, code := pidfdCommand(t, c, "2147483647")
		if want := fmt.Sprintf("pidfd %s: PID 2147483647: no such process\n", c); code != 1 || out != "" || errOut != want {
			t.Errorf("pidfd %s 2147483647: exit %d, stdout %q, stderr %q; want 1 and %q", c, code, out, errOut, want)
		}
	}
}

// TestHelp checks that help, asked for in each way, is the usage on stdout
// with exit status 0, and that a command's help is about that command.
func TestHelp(t *testing.T) {
	leakcheck.Check(t)
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}, {"help"}} {
		out, errOut, code := pidfdCommand(t, args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: pidfd COMMAND") {
			t.Errorf("pidfd %q: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", args, code, out, errOut)
		}
		for _, c := range commands {
			if !strings.Contains(out, "\n  "+c.name+" ") {
				t.Errorf("pidfd %q does not list %s: %q", args, c.name, out)
			}
		}
	}
	flags := map[string][]string{
		"info": {"-json"},
		"wait": {"-timeout", "-exited", "-count"},
		"kill": {"-s SIGNAL", "-queue", "-timeout MS SIGNAL"},
		"run":  {"-v", "-g", "-s"},
	}
	for _, c := range commands {
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}, {c.name, "--help"}, {c.name, "-h", "1"}} {
			out, errOut, code := pidfdCommand(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: pidfd "+c.name+" ") {
				t.Errorf("pidfd %q: exit %d, stdout %q, stderr %q; want 0 and the usage of %s on stdout", args, code, out, errOut, c.name)
				continue
			}
			for _, flag := range flags[c.name] {
				if !strings.Contains(out, "  "+flag) {
					t.Errorf("pidfd %q does not tell of %s: %q", args, flag, out)
				}
			}
		}
	}
}

// TestHelpFlags checks that each command's help names every flag its
// FlagSet defines, in its synopsis and in its list of options, so that a
// new flag cannot go undocumented. A flag that is another's alias (its
// usage says "the same as") needs no place in the synopsis.
func TestHelpFlags(t *testing.T) {
	leakcheck.Check(t)
	for _, c := range commands {
		out, errOut, code := pidfdCommand(t, c.name, "-h")
		if code != 0 || errOut != "" {
			t.Errorf("pidfd %s -h: exit %d, stderr %q", c.name, code, errOut)
			continue
		}
		synopsis, _, _ := strings.Cut(out, "\n")
		_, options, ok := strings.Cut(out, "\noptions (-name and --name are one):\n")
		flags := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.setup(flags)
		n := 0
		flags.VisitAll(func(f *flag.Flag) {
			n++
			if !ok || !regexp.MustCompile(`(?m)^  -`+regexp.QuoteMeta(f.Name)+`\b`).MatchString(options) {
				t.Errorf("pidfd %s -h lists no option -%s:\n%s", c.name, f.Name, out)
			}
			if !strings.HasPrefix(f.Usage, "the same as") &&
				!regexp.MustCompile(`\[-?-`+regexp.QuoteMeta(f.Name)+`\b`).MatchString(synopsis) {
				t.Errorf("pidfd %s -h: the synopsis %q does not name -%s", c.name, synopsis, f.Name)
			}
		})
		if c.name == "run" && n == 0 {
			t.Errorf("run's FlagSet defines no flag")
		}
	}
}

// unusedPID returns a PID that no process has (for the moment: a new
// process could take it, which would make a test fail, not pass wrongly).
func unusedPID(t *testing.T) int {
	t.Helper()
	for pid := 999_999; pid < 1_100_000; pid++ {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			return pid
		}
	}
	t.Fatal("no unused PID found")
	return 0
}

// procState is a process's state letter and parent, from /proc/PID/stat
// ("pid (comm) state ppid ..."; comm may hold spaces and parentheses).
func procState(pid int) (state string, ppid int, err error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 2 {
		return "", 0, fmt.Errorf("/proc/%d/stat: %q", pid, stat)
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0], ppid, err
}

// childrenOf lists the children of process parent, zombies included, with
// their states.
func childrenOf(t *testing.T, parent int) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	kids := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, err := procState(pid); err == nil && ppid == parent {
			kids[pid] = state
		}
	}
	return kids
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

// TestBuiltBinary builds the command with the go tool, as the README
// installs it, and runs the built binary against real processes (the other
// tests run the same code as the re-executed test binary).
func TestBuiltBinary(t *testing.T) {
	leakcheck.Check(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the command with (inside the test VMs)")
	}
	bin := t.TempDir() + "/pidfd"
	if out, err := goBuild(goTool, runtime.GOARCH, bin); err != nil {
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
