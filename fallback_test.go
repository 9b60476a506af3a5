//go:build linux

package pidfd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestWithProcDir(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := startChild(t, testchild.Sleep)
	var stat []byte
	err := p.WithProcDir(func(dir *os.Root) (err error) {
		stat, err = dir.ReadFile("stat")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if pid, _, _ := bytes.Cut(stat, []byte(" ")); string(pid) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("WithProcDir read stat of %q; want %d", pid, cmd.Process.Pid)
	}
	sentinel := errors.New("from fn")
	if err := p.WithProcDir(func(*os.Root) error { return sentinel }); err != sentinel {
		t.Errorf("WithProcDir returned %v; want fn's own error", err)
	}
}

// TestFallbacksOnOldKernel runs the info tests again in a re-executed test
// binary that sees no pidfs ioctls and no file handles, as on Linux 6.1.
func TestFallbacksOnOldKernel(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "6.1", "^(TestOldKernelFilter|TestCredsPPIDCgroup|TestInfoAfterReap|TestOpenNamespace|TestIDAndEqual|"+
		"TestWithProcDir|TestPIDZombieAndReaped|TestOpenChild|TestSetns|TestNewFile|TestPIDReuse|TestZombieNamespace|TestCgroupLongPath|"+
		"TestNewFileOutOfDescriptors)$",
		"TestOldKernelFilter")
}

// TestOldKernelFilter checks, under the filter, that it took effect.
func TestOldKernelFilter(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "6.1" {
		t.Skip("runs only inside TestFallbacksOnOldKernel")
	}
	for _, c := range []*capability{&getInfo, &namespaceIoctls} {
		if has, err := c.has(); has || err != nil {
			t.Errorf("%s under the filter: %v, %v; want missing", c.name, has, err)
		}
	}
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := unix.NameToHandleAt(int(p.Fd()), "", unix.AT_EMPTY_PATH); err == nil {
		t.Errorf("name_to_handle_at works on a pidfd under the filter")
	}
}

const pidReuseRole = "pid-reuse"

// pidReuse runs as PID 1 of a new PID namespace, with a /proc of its own.
// It reaps a process, makes the kernel give its PID to a stranger running
// as another user, and checks that every query and signal through the old
// pidfd says os.ErrProcessDone instead of answering for the stranger. Then
// the same for a thread pidfd whose thread ID a stranger takes (6.9+).
// Processes are killed by PID, which is safe for unreaped children: the
// seccomp profile may deny signals through pidfds.
func pidReuse([]string) int {
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Println("mount --make-rprivate /:", err)
		return 1
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		fmt.Println("mount /proc:", err)
		return 1
	}
	failures := retryWhileHeld("process", processReuse)
	if !KernelFeatures().ThreadPidFds {
		fmt.Println("thread pidfds: skipped, the kernel has no PIDFD_THREAD (Linux 6.9)")
	} else {
		failures += retryWhileHeld("thread", threadReuse)
	}
	fmt.Printf("%d failures\n", failures)
	if failures > 0 {
		return 1
	}
	return 0
}

// errHeld says that the number to give away went to a process or thread
// that keeps it: a Go runtime thread started in the window between the
// write to ns_last_pid and the stranger's clone lives as long as its
// process. Only a new victim with a new number helps.
var errHeld = errors.New("held for good")

// retryWhileHeld runs scenario, with a new victim each time, until its
// number can be given away, and returns its failures.
func retryWhileHeld(what string, scenario func() (int, error)) int {
	var err error
	for range 10 {
		var failures int
		failures, err = scenario()
		if !errors.Is(err, errHeld) {
			if err != nil {
				fmt.Printf("%s reuse: %v\n", what, err)
				return 1
			}
			return failures
		}
		fmt.Printf("%s reuse: %v; again with a new victim\n", what, err)
	}
	fmt.Printf("%s reuse: %v, ten times\n", what, err)
	return 1
}

// processReuse reaps a process, gives its PID to a stranger and checks
// the old pidfd and the victim's stored identity.
func processReuse() (failures int, err error) {
	victimCmd := exec.Command("sleep", "3600")
	victim, err := Start(victimCmd)
	if err != nil {
		return 0, fmt.Errorf("start victim: %w", err)
	}
	defer victim.Close()
	pid := victimCmd.Process.Pid
	victimID, err := victim.Identity()
	if err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		victim.Wait()
		return 0, fmt.Errorf("identity: %w", err)
	}
	// Start times count clock ticks (10 ms at USER_HZ 100): a process that
	// took the PID within the same tick would match by start time alone.
	time.Sleep(20 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGKILL)
	if _, err := victim.Wait(); err != nil {
		return 0, fmt.Errorf("wait victim: %w", err)
	}
	stranger, cleanup, err := giveAway(pid)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	failures = checkNoAnswer("process", victim) + unharmed(stranger)
	// A stored identity must not open the stranger, by pidfs ID or by
	// start time.
	for _, id := range []Identity{victimID, {Boot: victimID.Boot, PID: victimID.PID, StartTime: victimID.StartTime}} {
		p, err := OpenIdentity(id)
		if err == nil {
			p.Close()
		}
		if !errors.Is(err, os.ErrProcessDone) {
			fmt.Printf("OpenIdentity(ID %d) = %v; want os.ErrProcessDone\n", id.ID, err)
			failures++
		}
	}
	if creds, err := stranger.Creds(); err != nil || creds.EUID != 4242 {
		fmt.Printf("the stranger holding PID %d: %+v, %v\n", pid, creds, err)
		failures++
	}
	fmt.Printf("PID %d reused by a stranger\n", pid)
	return failures, nil
}

// threadReuse opens a thread pidfd for a second thread of a child, ends
// the thread, gives its ID to a stranger and checks the old thread pidfd.
func threadReuse() (failures int, err error) {
	cmd := testchild.Command(testchild.Blocked)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	child, err := Start(cmd)
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	defer func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		child.Wait()
		child.Close()
	}()
	var ready string
	var tid int
	fmt.Fprintln(stdin, "thread")
	if _, err := fmt.Fscan(stdout, &ready, &tid); err != nil || ready != "ready" {
		return 0, fmt.Errorf("child said %q %d: %v", ready, tid, err)
	}
	thread, err := OpenThread(tid)
	if err != nil {
		return 0, fmt.Errorf("OpenThread: %w", err)
	}
	defer thread.Close()
	fmt.Fprintln(stdin, "end")
	// A thread other than the first is released as it exits.
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(tid)); errors.Is(err, os.ErrNotExist) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stranger, cleanup, err := giveAway(tid)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	fmt.Printf("thread ID %d reused by a stranger\n", tid)
	return checkNoAnswer("thread", thread) + unharmed(stranger), nil
}

// unharmed checks that the stranger runs on, unsignalled.
func unharmed(stranger *PidFd) int {
	if status, err := stranger.TryWait(); status != nil || err != nil {
		fmt.Printf("the stranger was hit: %v, %v\n", status, err)
		return 1
	}
	return 0
}

// giveAway starts a stranger, running as another user, that gets pid: the
// next PID the kernel hands out in this namespace is ns_last_pid+1.
// Everything this namespace started before is reaped or ended, so a
// number in use is held by a thread of a live process: errHeld.
func giveAway(pid int) (stranger *PidFd, cleanup func(), err error) {
	// Another clone can take the number between the write and the
	// stranger's clone (seen under qemu on a loaded machine): try again
	// while the number is free.
	for range 50 {
		if status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
			name, _, _ := strings.Cut(string(status), "\n")
			return nil, nil, fmt.Errorf("PID %d (%s) %w", pid, name, errHeld)
		}
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			return nil, nil, fmt.Errorf("ns_last_pid: %w", err)
		}
		cmd := exec.Command("sleep", "3600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 4242, Gid: 4343}}
		p, err := Start(cmd)
		if err != nil {
			return nil, nil, fmt.Errorf("start stranger: %w", err)
		}
		done := false
		cleanup := func() {
			if !done {
				done = true
				syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
				p.Wait()
				p.Close()
			}
		}
		if cmd.Process.Pid == pid {
			return p, cleanup, nil
		}
		cleanup() // another clone took the number first: try again
	}
	return nil, nil, fmt.Errorf("could not give PID %d to a stranger", pid)
}

// checkNoAnswer checks, on both paths, that no query answers through old,
// whose process or thread is gone and whose ID a stranger holds, and that
// no signal reaches the stranger. It returns the number of failures.
func checkNoAnswer(what string, old *PidFd) int {
	failures := 0
	signalErrno, signalDenied := seccompProfiles[os.Getenv(oldKernelEnv)].Deny[unix.SYS_PIDFD_SEND_SIGNAL]
	check := func(path, query string, err error) {
		if !errors.Is(err, os.ErrProcessDone) {
			fmt.Printf("%s, %s path: %s on the old pidfd = %v; want os.ErrProcessDone\n", what, path, query, err)
			failures++
		}
	}
	features := []*capability{&getInfo, &namespaceIoctls}
	saved := make([]int32, len(features))
	for i, f := range features {
		saved[i] = f.state.Load()
	}
	defer func() {
		for i, f := range features {
			f.state.Store(saved[i])
		}
	}()
	for _, path := range []string{"kernel", "proc"} {
		if path == "proc" {
			for _, f := range features {
				f.state.Store(capMissing)
			}
		}
		_, err := old.PID()
		check(path, "PID", err)
		_, err = old.PPID()
		check(path, "PPID", err)
		_, err = old.Creds()
		check(path, "Creds", err)
		_, err = old.CgroupID()
		check(path, "CgroupID", err)
		for ns := NamespaceCgroup; int(ns) < len(namespaceKinds); ns++ {
			f, err := old.OpenNamespace(ns)
			if err == nil {
				f.Close()
			}
			check(path, "OpenNamespace("+ns.String()+")", err)
		}
		called := false
		check(path, "WithProcDir", old.WithProcDir(func(*os.Root) error { called = true; return nil }))
		if called {
			fmt.Printf("%s, %s path: WithProcDir let fn act on the stranger's directory\n", what, path)
			failures++
		}
		_, err = old.Identity()
		check(path, "Identity", err)
		_, err = pidByFdinfo(old)
		check(path, "fdinfo PID", err)
		err = old.Signal(syscall.SIGKILL)
		switch {
		case !signalDenied:
			check(path, "Signal", err)
		case err == nil && signalErrno != 0:
			fmt.Printf("%s, %s path: Signal on the old pidfd went through a filter that denies it\n", what, path)
			failures++
		}
	}
	return failures
}

// TestPIDReuseSignalDenied runs the PID reuse test where pidfd_send_signal
// is denied, so that signal 0 cannot prove a process alive.
func TestPIDReuseSignalDenied(t *testing.T) {
	leakcheck.Check(t)
	profiles := []string{"signal-eperm", "signal-enosys", "signal-faked", "poll-eperm", "poll-faked", "5.4-signal-eperm"}
	runUnderEach(t, profiles, "^(TestPIDReuse|TestZombieProof)$", "TestPIDReuse")
}

// TestZombieProof checks that queries still answer for a zombie, whose PID
// is not yet free, where the package can prove it unreaped, and say
// os.ErrProcessDone where it cannot; and os.ErrProcessDone after the reap.
func TestZombieProof(t *testing.T) {
	leakcheck.Check(t)
	// Before 5.10 (the 5.4 profile) and with signals denied, nothing can
	// tell a zombie from a reaped process.
	rules := seccompProfiles[os.Getenv(oldKernelEnv)]
	_, signalDenied := rules.Deny[unix.SYS_PIDFD_SEND_SIGNAL]
	provable := !(rules.NoNonblockFlag && signalDenied)
	bothPaths(t, func(t *testing.T) {
		cmd := testchild.Command(testchild.Exit, "0")
		p := startCmd(t, cmd)
		// Not by poll, which some profiles deny: wait for the zombie
		// without reaping it.
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		ppid, err := p.PPID()
		switch {
		case provable && (err != nil || ppid != os.Getpid()):
			t.Errorf("PPID of a zombie = %d, %v; want %d", ppid, err, os.Getpid())
		case !provable && !errors.Is(err, os.ErrProcessDone):
			t.Errorf("PPID of a zombie = %d, %v; want os.ErrProcessDone", ppid, err)
		}
		err = p.WithProcDir(func(dir *os.Root) error {
			_, err := dir.Stat("stat")
			return err
		})
		if provable && err != nil || !provable && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("WithProcDir on a zombie = %v (provable: %v)", err, provable)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.PPID(); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("PPID after the reap = %v; want os.ErrProcessDone", err)
		}
		if err := p.WithProcDir(func(*os.Root) error { return nil }); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("WithProcDir after the reap = %v; want os.ErrProcessDone", err)
		}
	})
}

func TestPIDReuse(t *testing.T) {
	leakcheck.Check(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a PID namespace and set ns_last_pid")
	}
	cmd := testchild.Command(pidReuseRole)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("PID reuse in a new PID namespace: %v", err)
	}
}
