//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/procfs"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// The two ways run -t holds the command's tree: a cgroup where the tool
// can make one, a child subreaper where it cannot.
var treeKinds = []string{"cgroup", "subreaper"}

// inTreeKind prepares cmd, a run -t, to hold its tree in a cgroup or as a
// subreaper. A cgroup takes root. For the subreaper as root, the tool
// starts in a cgroup that may have none below it (cgroup.max.descendants
// 0), so that it cannot make one, as where cgroups are not delegated; not
// root, it cannot anyway.
func inTreeKind(t *testing.T, kind string, cmd *exec.Cmd) {
	t.Helper()
	if os.Geteuid() != 0 {
		if kind == "cgroup" {
			t.Skip("a cgroup of the tool's own needs root (or a delegated cgroup)")
		}
		return
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root, ok := procfs.Cgroup2Mount(mountinfo)
	if !ok {
		t.Skip("no cgroup2 hierarchy is mounted")
	}
	if kind == "cgroup" {
		return
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own, ok := procfs.CgroupV2Path(self)
	if !ok {
		t.Skipf("/proc/self/cgroup names no cgroup2 directory: %q", self)
	}
	limit := filepath.Join(root, own, fmt.Sprintf("pidfd-test-limit-%d", os.Getpid()))
	if err := os.Mkdir(limit, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(limit); err != nil {
			t.Error(err)
		}
	})
	if err := os.WriteFile(filepath.Join(limit, "cgroup.max.descendants"), []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(limit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
}

// daemonTree is "pidfd run -v -t ... -- daemon ..." running.
type daemonTree struct {
	cmd            *exec.Cmd
	stdout, stderr *lineReader
	daemon         *pidfd.PidFd // opened by PID while it runs: it is not ours
	held           string       // how the tool said it holds the tree
}

// runDaemonTree starts the tool with flags on the testchild.Daemon role
// with args, holding the tree as kind says, and waits for the daemon.
func runDaemonTree(t *testing.T, kind string, flags []string, args ...string) *daemonTree {
	t.Helper()
	cmd := runRole(t, append([]string{"-v"}, flags...), testchild.Daemon, args...)
	if kind != "" {
		inTreeKind(t, kind, cmd)
	}
	d := &daemonTree{cmd: cmd}
	d.stdout, d.stderr = startReading(t, cmd)
	if kind != "" {
		d.held = strings.TrimPrefix(d.stderr.expect("pidfd: holding the command's process tree: ")[0],
			"pidfd: holding the command's process tree: ")
		if !strings.HasPrefix(d.held, kind) {
			t.Fatalf("the tool holds the tree in a %s; want %s", d.held, kind)
		}
	}
	var pid int
	line := d.stdout.expect("daemon ")[0]
	if _, err := fmt.Sscanf(line, "daemon %d", &pid); err != nil {
		t.Fatalf("the daemon said %q: %v", line, err)
	}
	var err error
	if d.daemon, err = pidfd.Open(pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.daemon.Kill() // a failed test's
		d.daemon.Close()
	})
	return d
}

// exited reports whether the daemon has exited.
func (d *daemonTree) exited(t *testing.T) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(d.daemon.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// ended checks, once the tool has exited, that the daemon has, and that
// the tree's cgroup is gone.
func (d *daemonTree) ended(t *testing.T) {
	t.Helper()
	if !d.exited(t) {
		t.Error("the daemon outlived the tool")
	}
	if dir, ok := strings.CutPrefix(d.held, "cgroup "); ok {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("the tree's cgroup %s outlived the tool", dir)
		}
	}
}

// TestRunTreeDaemonLeftAtExit runs a command that exits 3 and leaves
// behind a daemon that called setsid and was forked twice (it obeys
// SIGTERM). Without -t the daemon outlives the tool, as it outlives tini
// and dumb-init; with -t the tool ends it when the command exits, and
// exits 3 without waiting for the grace period.
func TestRunTreeDaemonLeftAtExit(t *testing.T) {
	t.Run("without -t", func(t *testing.T) {
		leakcheck.Check(t)
		d := runDaemonTree(t, "", nil, "3")
		if code := exitStatus(t, d.cmd); code != 3 {
			t.Errorf("run: exit status %d; want 3, the command's", code)
		}
		if d.exited(t) {
			t.Error("the daemon ended with the tool without -t: the test shows nothing")
		}
		d.daemon.Kill()
	})
	for _, kind := range treeKinds {
		t.Run(kind, func(t *testing.T) {
			leakcheck.Check(t)
			begin := time.Now()
			d := runDaemonTree(t, kind, []string{"-t", "-k", "20s"}, "3")
			if code := exitStatus(t, d.cmd); code != 3 {
				t.Errorf("run -t: exit status %d; want 3, the command's", code)
			}
			if took := time.Since(begin); took > 10*time.Second {
				t.Errorf("run -t took %v: the daemon obeys SIGTERM, and the grace period is 20s", took)
			}
			d.ended(t)
		})
	}
}

// TestRunTreeDaemonIgnoresTerm runs a command that exits 4 and leaves
// behind a daemon that ignores SIGTERM: run -t -k 1s kills it once the
// grace period is over, and exits 4 after the grace period and less than
// a second more.
func TestRunTreeDaemonIgnoresTerm(t *testing.T) {
	for _, kind := range treeKinds {
		t.Run(kind, func(t *testing.T) {
			leakcheck.Check(t)
			const grace = time.Second
			d := runDaemonTree(t, kind, []string{"-t", "-k", grace.String()}, "4", "deaf")
			begin := time.Now() // the command exits about now
			code := exitStatus(t, d.cmd)
			took := time.Since(begin)
			t.Logf("run -t -k %v (%s): the tree with a daemon deaf to SIGTERM ended %v after the daemon started", grace, d.held, took)
			if code != 4 {
				t.Errorf("run -t: exit status %d; want 4, the command's", code)
			}
			if took > grace+endSlack() {
				t.Errorf("run -t -k %v took %v", grace, took)
			}
			d.ended(t)
			d.stderr.expect("pidfd: the grace period of 1s is over: sent SIGKILL")
		})
	}
}

// TestRunTreeToolTerminated sends SIGTERM to the tool while the command
// runs, its daemon deaf to SIGTERM: the SIGTERM reaches the whole tree,
// which ends the command (exit status 143, the command's) at once and the
// daemon after the grace period, by SIGKILL.
func TestRunTreeToolTerminated(t *testing.T) {
	for _, kind := range treeKinds {
		t.Run(kind, func(t *testing.T) {
			leakcheck.Check(t)
			const grace = time.Second
			d := runDaemonTree(t, kind, []string{"-t", "-k", grace.String()}, "sleep", "deaf")
			begin := time.Now()
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			code := exitStatus(t, d.cmd)
			took := time.Since(begin)
			t.Logf("run -t -k %v (%s): the tree ended %v after SIGTERM to the tool", grace, d.held, took)
			if code != 128+int(syscall.SIGTERM) {
				t.Errorf("run -t: exit status %d; want 143, the command's, killed by SIGTERM", code)
			}
			if took < grace || took > grace+endSlack() {
				t.Errorf("run -t -k %v took %v after SIGTERM; want the grace period and less than a second more", grace, took)
			}
			d.ended(t)
		})
	}
}

// endSlack is how long past its grace period an end may take in a test:
// the second the tool promises, or, in an emulated vmtest VM (as root,
// PIDFD_VMTEST=1), where every step is many times slower, five.
func endSlack() time.Duration {
	if os.Getenv("PIDFD_VMTEST") == "1" && os.Geteuid() == 0 {
		return 5 * time.Second
	}
	return time.Second
}
