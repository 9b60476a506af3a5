//go:build linux

package pidfd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/seccomp"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestMain(m *testing.M) {
	if profile := os.Getenv(oldKernelEnv); profile != "" {
		// Re-executed by a test that emulates an older kernel (children
		// playing roles inherit the profile and see the same kernel).
		rules, ok := seccompProfiles[profile]
		if !ok {
			fmt.Println("unknown seccomp profile", profile)
			os.Exit(2)
		}
		if err := seccomp.Install(rules); err != nil {
			fmt.Println("seccomp:", err)
			os.Exit(2)
		}
		// Where pidfd calls kill as on Android, the package must act as
		// it does there.
		onAndroid = onAndroid || profile == "android"
	}
	testchild.RunIfChild(map[string]func([]string) int{
		waitManyRole:        waitMany,
		outsideNSRole:       outsideNS,
		pidReuseRole:        pidReuse,
		cachedRole:          printCached,
		lateReaperRole:      lateReaper,
		autoKillStarterRole: autoKillStarter,
	})
	// os/signal starts a goroutine of its own at the first Notify, for
	// good: start it before anything counts goroutines.
	started := make(chan os.Signal, 1)
	signal.Notify(started, syscall.SIGWINCH)
	signal.Stop(started)
	// Examples and benchmarks have no *testing.T to fail: Run checks them
	// after all tests, except under the fuzzing engine, which keeps
	// goroutines and workers of its own.
	os.Exit(leakcheck.Run(m, func() bool { return !fuzzing() }))
}

// endSlack is how long past its grace period an end may take in a test:
// the second the package promises, or, in an emulated vmtest VM, where
// every step is many times slower, five.
func endSlack() time.Duration {
	if inVM() {
		return 5 * time.Second
	}
	return time.Second
}

// fuzzing reports whether this process coordinates or serves a fuzzing run.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// startChild starts a test child in a role through Start; see startCmd.
func startChild(t *testing.T, role string, args ...string) (*exec.Cmd, *PidFd) {
	t.Helper()
	cmd := testchild.Command(role, args...)
	return cmd, startCmd(t, cmd)
}

// startCmd starts cmd through Start. Cleanup kills the child and collects
// it, whatever the test did.
func startCmd(tb testing.TB, cmd *exec.Cmd) *PidFd {
	tb.Helper()
	p, err := Start(cmd)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		p.Kill()
		if _, err := p.Wait(); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		p.Close()
	})
	return p
}

// constructors make a PidFd for a command's child in each race-free way; they
// wait for it differently: through os/exec, through os, directly.
var constructors = map[string]func(*exec.Cmd) (*PidFd, error){
	"Start": Start,
	"FromProcess": func(cmd *exec.Cmd) (*PidFd, error) {
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return FromProcess(cmd.Process)
	},
	"Open": startAndOpen,
	"StartProcess": func(cmd *exec.Cmd) (*PidFd, error) {
		return StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env, Sys: cmd.SysProcAttr})
	},
}

// startFromProcess starts cmd with os/exec and returns a PidFd for its child
// from FromProcess; os/exec reaps it (cmd.Wait or the PidFd's Wait).
func startFromProcess(t *testing.T, cmd *exec.Cmd) *PidFd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := FromProcess(cmd.Process)
	if err != nil {
		cmd.Wait()
		t.Fatal(err)
	}
	return p
}

// startAndOpen starts cmd with os/exec, opens its child by PID (our
// unreaped child: no race) and releases os/exec's handle, leaving the
// reaping to the PidFd.
func startAndOpen(cmd *exec.Cmd) (*PidFd, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p, err := Open(cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return p, cmd.Process.Release()
}

// waitReadable waits until the pidfd polls readable: the process has exited.
func waitReadable(t *testing.T, p *PidFd) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("poll: n=%d err=%v", n, err)
		}
		return
	}
}

// procState reads the state letter of /proc/PID/stat ("R", "S", "Z", ...).
func procState(t *testing.T, pid int) string {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))[0]
}

// procStatus parses /proc/PID/status by other means than the package does.
func procStatus(t *testing.T, pid int) (ppid int, creds Creds) {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(fields []string) [4]uint32 {
		var out [4]uint32
		for i := range out {
			n, err := strconv.ParseUint(fields[i+1], 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = uint32(n)
		}
		return out
	}
	var uid, gid [4]uint32
	for line := range strings.Lines(string(status)) {
		fields := strings.Fields(line)
		switch fields[0] {
		case "PPid:":
			ppid, _ = strconv.Atoi(fields[1])
		case "Uid:":
			uid = ids(fields)
		case "Gid:":
			gid = ids(fields)
		}
	}
	return ppid, Creds{uid[0], uid[1], uid[2], uid[3], gid[0], gid[1], gid[2], gid[3]}
}

func mustPIDOf(t *testing.T, p *PidFd) int {
	t.Helper()
	pid, err := p.PID()
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// pidByFdinfo runs the fallback that kernels before 6.13 use for PID.
func pidByFdinfo(p *PidFd) (int, error) {
	var pid int
	err := p.withFd(func(fd int) (err error) {
		pid, err = fdinfoPID(fd)
		return err
	})
	return pid, err
}

// pidPaths are the two ways PID can be answered; both must agree.
var pidPaths = []struct {
	name string
	pid  func(*PidFd) (int, error)
}{
	{"PID", (*PidFd).PID},
	{"fdinfo", pidByFdinfo},
}

// bothPaths runs test once with the kernel as it is and once with the
// package believing that PIDFD_GET_INFO, the namespace ioctls and setns on
// pidfds are missing, so that the /proc fallbacks answer.
func bothPaths(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	t.Run("kernel", test)
	t.Run("proc", func(t *testing.T) {
		features := []*capability{&getInfo, &namespaceIoctls, &setnsPidFd}
		saved := make([]int32, len(features))
		for i, f := range features {
			saved[i] = f.state.Swap(capMissing)
		}
		defer func() {
			for i, f := range features {
				f.state.Store(saved[i])
			}
		}()
		test(t)
	})
}

// subject is a process the info tests look at.
type subject struct {
	name string
	open func(t *testing.T) (p *PidFd, pid int)
}

var liveSubjects = []subject{
	{"self", func(t *testing.T) (*PidFd, int) {
		p, err := Self()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p, os.Getpid()
	}},
	{"child", func(t *testing.T) (*PidFd, int) {
		cmd, p := startChild(t, testchild.Sleep)
		return p, cmd.Process.Pid
	}},
	{"zombie", func(t *testing.T) (*PidFd, int) {
		cmd, p := startChild(t, testchild.Exit, "0")
		waitReadable(t, p)
		return p, cmd.Process.Pid
	}},
	{"other user", func(t *testing.T) (*PidFd, int) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to start a child as another user")
		}
		cmd := exec.Command("sleep", "3600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 4242, Gid: 4343}}
		return startCmd(t, cmd), cmd.Process.Pid
	}},
}

// oldKernelEnv names a seccomp profile that the test binary installs before
// any test runs, to see an older kernel than it runs on.
const oldKernelEnv = "PIDFD_TEST_OLD_KERNEL"

var seccompProfiles = map[string]seccomp.OldKernel{
	"none": {},                                     // the kernel as it is, in a fresh process
	"6.1":  {PidfsIoctls: true, FileHandles: true}, // no pidfs ioctls or file handles
	"5.10": {PidfsIoctls: true, FileHandles: true, NoProcessMrelease: true},
	"5.4": {PidfsIoctls: true, FileHandles: true, NoNonblockFlag: true,
		Deny: map[uint32]unix.Errno{unix.SYS_CLOSE_RANGE: unix.ENOSYS}}, // close_range: 5.9
	"android":     {PidFdTrap: true},        // Android before 12: SIGSYS (see TestAndroid)
	"open-eperm":  {PidFdOpen: unix.EPERM},  // container runtimes that forbid pidfds
	"open-enosys": {PidFdOpen: unix.ENOSYS}, // and those that pretend they do not exist
	// Sandboxes that allow pidfds but deny signals through them, where
	// signal 0 cannot prove a process alive, or that fake the calls the
	// proof makes.
	"signal-eperm":  {Deny: map[uint32]unix.Errno{unix.SYS_PIDFD_SEND_SIGNAL: unix.EPERM}},
	"signal-enosys": {Deny: map[uint32]unix.Errno{unix.SYS_PIDFD_SEND_SIGNAL: unix.ENOSYS}},
	"signal-faked":  {Deny: map[uint32]unix.Errno{unix.SYS_PIDFD_SEND_SIGNAL: 0}},
	"poll-eperm":    {Deny: map[uint32]unix.Errno{unix.SYS_PPOLL: unix.EPERM}},
	"poll-faked":    {Deny: map[uint32]unix.Errno{unix.SYS_PPOLL: 0}},
	// Container runtimes' default profiles answer ENOSYS for clone3,
	// whose flags a filter cannot read.
	"clone3-enosys": {Deny: map[uint32]unix.Errno{unix.SYS_CLONE3: unix.ENOSYS}},
	// A sandbox that denies ioctl: the kernel's answers about its
	// PIDFD_GET_INFO flags are then "not supported", not a version.
	"ioctl-eperm": {Deny: map[uint32]unix.Errno{unix.SYS_IOCTL: unix.EPERM}},
	// The same before 5.10, where fdinfo cannot tell a zombie from a
	// reaped process either.
	"5.4-signal-eperm": {PidfsIoctls: true, FileHandles: true, NoNonblockFlag: true,
		Deny: map[uint32]unix.Errno{unix.SYS_PIDFD_SEND_SIGNAL: unix.EPERM, unix.SYS_CLOSE_RANGE: unix.ENOSYS}},
	// A policy that lets a process close descriptors but not copy its
	// table, which StartProcess's child needs (close_range's
	// CLOSE_RANGE_UNSHARE).
	"unshare-eperm": {DenyUnshare: unix.EPERM},
	"unshare-faked": {FakeUnshare: true},
	// And one that fakes every close_range.
	"closerange-faked": {Deny: map[uint32]unix.Errno{unix.SYS_CLOSE_RANGE: 0}},
}

// runUnder re-executes the test binary under a seccomp profile, running the
// tests that match pattern, and fails t if they fail or check runs none.
func runUnder(t *testing.T, profile, pattern, check string) {
	t.Helper()
	runUnderWithin(t, profile, pattern, check, 4*time.Minute)
}

// runUnderWithin is runUnder with a time limit, past which the
// re-executed binary gets SIGQUIT, so that its goroutines' stacks show
// where it hung (a child that wrecks this process's descriptors may hang
// it too).
func runUnderWithin(t *testing.T, profile, pattern, check string, limit time.Duration) {
	t.Helper()
	if os.Getenv(oldKernelEnv) != "" {
		t.Skip("already running under a seccomp profile")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.v", "-test.run", pattern)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), oldKernelEnv+"="+profile)
	out, err := cmd.CombinedOutput()
	t.Logf("under the %s profile:\n%s", profile, out)
	if err != nil {
		t.Fatalf("tests under the %s profile failed: %v", profile, err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+check)) {
		t.Fatalf("%s did not pass under the %s profile", check, profile)
	}
}

// runUnderEach runs runUnder for each profile, as a subtest.
func runUnderEach(t *testing.T, profiles []string, pattern, check string) {
	t.Helper()
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) { runUnder(t, profile, pattern, check) })
	}
}

// blockedChild is a test child with SIGUSR1 blocked on every thread, so a
// SIGUSR1 sent to it stays pending where /proc shows it; see
// testchild.Blocked.
type blockedChild struct {
	p   *PidFd
	pid int
	in  io.WriteCloser
	out *bufio.Reader
}

func startBlocked(t *testing.T, attr *syscall.SysProcAttr) *blockedChild {
	t.Helper()
	cmd := testchild.Command(testchild.Blocked)
	cmd.SysProcAttr = attr
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &blockedChild{p: startCmd(t, cmd), in: in, out: bufio.NewReader(out)}
	c.pid = mustPIDOf(t, c.p)
	// Until then SIGUSR1 would kill it.
	if line, err := c.out.ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q, %v; want ready", line, err)
	}
	return c
}

// say sends one command and returns the line it answers, if it answers.
func (c *blockedChild) say(t *testing.T, command string, answers bool) string {
	t.Helper()
	if _, err := io.WriteString(c.in, command+"\n"); err != nil {
		t.Fatal(err)
	}
	if !answers {
		return ""
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	return strings.TrimSpace(line)
}

// queuedSignal is what the child read of a SIGUSR1 by signalfd.
type queuedSignal struct {
	signo    uint32
	code     int32
	pid, uid uint32
	sivalInt int32
	sivalPtr uint64
}

func (c *blockedChild) sigwait(t *testing.T) queuedSignal {
	t.Helper()
	var q queuedSignal
	line := c.say(t, "sigwait", true)
	if _, err := fmt.Sscan(line, &q.signo, &q.code, &q.pid, &q.uid, &q.sivalInt, &q.sivalPtr); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	return q
}

func (c *blockedChild) newThread(t *testing.T) int {
	t.Helper()
	tid, err := strconv.Atoi(c.say(t, "thread", true))
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

// pendingUSR1 reads whether SIGUSR1 is pending on the thread tid alone
// (SigPnd of /proc/PID/task/TID) and on the whole process (ShdPnd).
func pendingUSR1(t *testing.T, pid, tid int) (thread, process bool) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, value, _ := strings.Cut(line, ":")
		if name != "SigPnd" && name != "ShdPnd" {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		set := mask&(1<<(unix.SIGUSR1-1)) != 0
		if name == "SigPnd" {
			thread = set
		} else {
			process = set
		}
	}
	return thread, process
}

// acceptChild starts a child that connects to a fresh unix socket (and
// writes what it is told to say) and returns the server's end of the
// connection and the child's PidFd. prepare, if not nil, runs on the
// listener first.
func acceptChild(t *testing.T, prepare func(*net.UnixListener) error, say ...string) (*net.UnixConn, *PidFd) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sock")
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	if prepare != nil {
		if err := prepare(listener); err != nil {
			t.Fatal(err)
		}
	}
	_, child := startChild(t, testchild.Connect, append([]string{path}, say...)...)
	conn, err := listener.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, child
}

// unixPair returns both ends of a connected pair of unix sockets of the
// given type, closed at cleanup.
func unixPair(t testing.TB, typ int) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socket")
		c, err := net.FileConn(f) // dups the descriptor
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

func openErr(p *PidFd, err error) error {
	if p != nil {
		p.Close()
		if err == nil {
			return errors.New("got a PidFd")
		}
	}
	return err
}
