//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: its master, and its terminal (the
// slave), neither of them a controlling terminal of ours. Inside a test VM
// (PIDFD_VMTEST=1, as root), where no devpts is mounted, it mounts one on
// /dev/pts, which stays for the machine's short life. It skips the test
// where there are no pseudo-terminals.
func openPTY(t *testing.T) (master, terminal *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil && os.Getenv("PIDFD_VMTEST") == "1" && os.Geteuid() == 0 {
		if err := os.MkdirAll("/dev/pts", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666"); err != nil && !errors.Is(err, unix.EBUSY) {
			t.Skip("no pseudo-terminals: mount devpts:", err)
		}
		master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	}
	if err != nil {
		t.Skip("no pseudo-terminals:", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	return master, terminal
}

// screen is what a pseudo-terminal's master reads: all the terminal showed.
type screen struct {
	t    *testing.T
	mu   sync.Mutex
	text strings.Builder
	done chan struct{} // closed when the master reads no more
}

func readScreen(t *testing.T, master *os.File) *screen {
	s := &screen{t: t, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf) // EIO once the terminal's last holder has closed it
			s.mu.Lock()
			s.text.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// await waits up to 10 seconds for the screen to satisfy ok.
func (s *screen) await(what string, ok func(string) bool) string {
	s.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if text := s.String(); ok(text) {
			return text
		}
	}
	s.t.Fatalf("after 10s the terminal shows no %s:\n%s", what, s.String())
	return ""
}

// awaitState waits up to 10 seconds for process pid to be in state (a
// letter of /proc/PID/stat).
func awaitState(t *testing.T, who string, pid int, state string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, _, _ = procState(pid); got == state {
			return
		}
	}
	t.Fatalf("%s (PID %d) is in state %q after 10s; want %q", who, pid, got, state)
}

// foregroundGroup returns the terminal's foreground process group as
// process pid sees it (field 8 of /proc/PID/stat, tpgid).
func foregroundGroup(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	tpgid, err := strconv.Atoi(fields[5])
	if err != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, stat)
	}
	return tpgid
}

// TestRunJobControl runs the tool as a job of an interactive shell on a
// terminal (a pseudo-terminal), as a user does: "pidfd run -v -- sleep
// 100" typed at the prompt, and the same with -g. Ctrl-Z must stop the
// command and the tool, and give the shell its prompt back (it used to hang:
// the tool forwarded SIGTSTP and ran on, and the shell waited for it); "fg"
// must continue them both, with the terminal's foreground the command's
// group again under -g; Ctrl-C then ends the command, and the tool exits as
// it did (130), which the shell reports.
func TestRunJobControl(t *testing.T) {
	for _, mode := range []struct {
		name  string
		flags []string
	}{
		{"one group", nil},
		{"-g", []string{"-g"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			leakcheck.Check(t)
			sh, err := exec.LookPath("sh")
			if err != nil {
				t.Skip("no sh on PATH")
			}
			master, terminal := openPTY(t)
			run := tool(t, append(append([]string{"run", "-v"}, mode.flags...), "--", "sleep", "100")...)
			shell := exec.Command(sh, "-i")
			shell.Env = run.Env
			if shell.Env == nil {
				shell.Env = os.Environ()
			}
			const prompt = "@prompt@ "
			shell.Env = append(shell.Env, "PS1="+prompt, "ENV=", "HISTFILE=/dev/null")
			shell.Stdin, shell.Stdout, shell.Stderr = terminal, terminal, terminal
			shell.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			err = shell.Start()
			terminal.Close()
			if err != nil {
				master.Close()
				t.Fatal(err)
			}
			scr := readScreen(t, master)
			var held []*pidfd.PidFd // the tool and the command, killed if the test fails
			t.Cleanup(func() {
				shell.Process.Kill()
				shell.Wait()
				for _, p := range held {
					p.Kill()
					p.Close()
				}
				master.Close()
				<-scr.done
			})
			prompts := func(n int) func(string) bool {
				return func(s string) bool { return strings.Count(s, prompt) >= n }
			}
			typeIn := func(text string) {
				t.Helper()
				if _, err := master.Write([]byte(text)); err != nil {
					t.Fatal(err)
				}
			}

			scr.await("first prompt", prompts(1))
			typeIn("'" + run.Path + "' " + strings.Join(run.Args[1:], " ") + "\n")
			started := regexp.MustCompile(`pidfd: started sleep as PID (\d+)`)
			m := started.FindStringSubmatch(scr.await("start of sleep", started.MatchString))
			sleeper, _ := strconv.Atoi(m[1])
			_, toolPID, err := procState(sleeper)
			if err != nil {
				t.Fatal(err)
			}
			for _, pid := range []int{toolPID, sleeper} {
				if p, err := pidfd.Open(pid); err == nil {
					held = append(held, p)
				}
			}
			awaitState(t, "the command", sleeper, "S")
			awaitState(t, "the tool", toolPID, "S")

			typeIn("\x1a") // Ctrl-Z
			scr.await("prompt after Ctrl-Z", prompts(2))
			awaitState(t, "the command", sleeper, "T")
			awaitState(t, "the tool", toolPID, "T")

			typeIn("fg\n")
			awaitState(t, "the command", sleeper, "S")
			awaitState(t, "the tool", toolPID, "S")
			want := unix.Getpgid // the terminal's foreground after fg: the tool's job, or -g the command's group
			fg, _ := want(toolPID)
			if mode.flags != nil {
				fg = sleeper
			}
			deadline := time.Now().Add(10 * time.Second)
			for foregroundGroup(t, sleeper) != fg && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := foregroundGroup(t, sleeper); got != fg {
				t.Errorf("after fg the terminal's foreground group is %d; want %d", got, fg)
			}

			typeIn("\x03") // Ctrl-C
			scr.await("prompt after Ctrl-C", prompts(3))
			typeIn("echo status $?\n")
			scr.await("status 130", func(s string) bool { return strings.Contains(s, "status 130") })
			typeIn("exit\n")
			done := make(chan error, 1)
			go func() { done <- shell.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("the shell: %v", err)
				}
			case <-time.After(10 * time.Second):
				shell.Process.Kill()
				<-done
				t.Errorf("the shell did not exit after 10s:\n%s", scr.String())
			}
			if t.Failed() || os.Getenv("SHOWTTY") != "" {
				t.Logf("the terminal showed:\n%s", scr.String())
			}
		})
	}
}

// TestRunStopsWithJob sends the tool the stop signals of job control
// (SIGTSTP, SIGTTIN, SIGTTOU), then SIGCONT, with no terminal: the
// command must get each (it traps them), and the tool stop after
// forwarding a stop signal, as a job of a shell that could continue it
// (in a process group of its own, its parent, the test, in another group
// of the same session). It must not stop where it would never be
// continued, forwarding all the same: in an orphaned process group (a
// session of its own), and as PID 1 of a PID namespace.
func TestRunStopsWithJob(t *testing.T) {
	for _, mode := range []struct {
		name  string
		attr  *syscall.SysProcAttr
		stops string // what the tool says after forwarding a stop signal
	}{
		{"job", &syscall.SysProcAttr{Setpgid: true}, "the tool stops"},
		{"orphaned group", &syscall.SysProcAttr{Setsid: true}, "the tool does not stop, its process group being orphaned"},
		{"PID 1", &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWPID}, "the tool does not stop, as PID 1 of its PID namespace"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			leakcheck.Check(t)
			if mode.attr.Cloneflags != 0 {
				newPIDNamespace(t)
			}
			cmd := tool(t, "run", "-v", "--", "sh", "-c", `for sig in TSTP TTIN TTOU CONT; do trap "echo got $sig" $sig; done
				trap 'echo got USR1; kill $!; exit 5' USR1; sleep 600 & echo ready; while :; do wait $!; done`)
			cmd.SysProcAttr = mode.attr
			stdout, stderr := startReading(t, cmd)
			pid := startedPID(t, stderr)
			stdout.expect("ready")
			for _, sig := range []syscall.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU} {
				name := unix.SignalName(sig)
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatalf("%v to the tool: %v", sig, err)
				}
				stderr.expect(fmt.Sprintf("pidfd: forwarded %v to PID %d", sig, pid))
				// Before the SIGCONT: a SIGCONT discards the stop signals
				// pending, trapped or not.
				stdout.expect("got " + strings.TrimPrefix(name, "SIG"))
				stderr.expect("pidfd: got " + name + ": " + mode.stops)
				if mode.stops == "the tool stops" {
					awaitState(t, "the tool", cmd.Process.Pid, "T")
				} else if state, _, err := procState(cmd.Process.Pid); err != nil || state == "T" {
					t.Errorf("the tool is in state %q (%v) after %s; want it running", state, err, name)
				}
				if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatalf("SIGCONT to the tool: %v", err)
				}
				stdout.expect("got CONT")
				stderr.expect(fmt.Sprintf("pidfd: forwarded %v to PID %d", syscall.SIGCONT, pid))
				awaitState(t, "the tool", cmd.Process.Pid, "S")
			}
			if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			stdout.expect("got USR1")
			if code := exitStatus(t, cmd); code != 5 {
				t.Errorf("run: exit status %d; want 5, the command's on SIGUSR1", code)
			}
		})
	}
}
