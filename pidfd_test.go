//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
		waitManyRole:  waitMany,
		outsideNSRole: outsideNS,
		pidReuseRole:  pidReuse,
		cachedRole:    printCached,
	})
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
	if fuzzing() {
		os.Exit(code) // the fuzzing engine keeps goroutines and workers of its own
	}
	// Examples and benchmarks have no *testing.T to fail: check them all here.
	for _, leak := range before.Leaks() {
		fmt.Println("after all tests:", leak)
		code = 1
	}
	fmt.Println("tests:", leakcheck.Summary())
	os.Exit(code)
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

// sleeperBy starts a sleeping test child through the named constructor;
// the PidFd is closed at cleanup (the test itself ends the child).
func sleeperBy(t *testing.T, construct string) *PidFd {
	t.Helper()
	p, err := constructors[construct](testchild.Command(testchild.Sleep))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
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

func TestOpenChild(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Sleep)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	p, err := Open(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, path := range pidPaths {
		if pid, err := path.pid(p); err != nil || pid != cmd.Process.Pid {
			t.Errorf("%s = %d, %v; want %d", path.name, pid, err, cmd.Process.Pid)
		}
	}
}

func TestOpenInvalidPID(t *testing.T) {
	leakcheck.Check(t)
	pids := []int{0, -1, math.MinInt}
	if above := int64(math.MaxInt32) + 1; int64(int(above)) == above {
		// pid_t is 32 bits: larger numbers must not wrap around. (On 32-bit
		// platforms MaxInt is MaxInt32, a valid pid_t that merely names nobody.)
		pids = append(pids, int(above), math.MaxInt)
	}
	for _, pid := range pids {
		p, err := Open(pid)
		var sysErr *os.SyscallError
		if p != nil || !errors.As(err, &sysErr) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Open(%d) = %v, %v; want EINVAL", pid, p, err)
		}
	}
}

func TestOpenReaped(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Exit, "0")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	p, err := Open(cmd.Process.Pid)
	if !errors.Is(err, os.ErrProcessDone) {
		p.Close()
		t.Fatalf("Open(reaped %d) = %v; want os.ErrProcessDone", cmd.Process.Pid, err)
	}
}

func TestSelf(t *testing.T) {
	leakcheck.Check(t)
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, path := range pidPaths {
		if pid, err := path.pid(p); err != nil || pid != os.Getpid() {
			t.Errorf("%s = %d, %v; want %d", path.name, pid, err, os.Getpid())
		}
	}
	if err := p.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("Signal(0) to self: %v", err)
	}
	if status, err := p.TryWait(); status != nil || err != nil {
		t.Errorf("TryWait on self = %v, %v; want nil, nil (running)", status, err)
	}
}

// TestWaitParent waits for a running process that is not a child, by a
// PidFd from Open and from FromProcess: the waits wait, and neither fails
// for want of a child (as waitid would, with ECHILD).
func TestWaitParent(t *testing.T) {
	leakcheck.Check(t)
	parent, err := os.FindProcess(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Release()
	for name, open := range map[string]func() (*PidFd, error){
		"Open":        func() (*PidFd, error) { return Open(os.Getppid()) },
		"FromProcess": func() (*PidFd, error) { return FromProcess(parent) },
	} {
		t.Run(name, func(t *testing.T) {
			p, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if status, err := p.TryWait(); status != nil || err != nil {
				t.Errorf("TryWait on parent = %v, %v; want nil, nil (running)", status, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if status, err := p.WaitContext(ctx); status != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitContext on parent = %v, %v; want DeadlineExceeded", status, err)
			}
		})
	}
}

func TestStart(t *testing.T) {
	leakcheck.Check(t)
	cmd, p := startChild(t, testchild.Sleep)
	for _, path := range pidPaths {
		if pid, err := path.pid(p); err != nil || pid != cmd.Process.Pid {
			t.Errorf("%s = %d, %v; want %d", path.name, pid, err, cmd.Process.Pid)
		}
	}
	if cmd.SysProcAttr != nil {
		t.Errorf("Start left cmd.SysProcAttr = %+v; want it as it was (nil)", cmd.SysProcAttr)
	}
}

func TestStartKeepsSysProcAttr(t *testing.T) {
	leakcheck.Check(t)
	callerFd := -1
	attr := &syscall.SysProcAttr{Setpgid: true, PidFD: &callerFd}
	cmd := testchild.Command(testchild.Sleep)
	cmd.SysProcAttr = attr
	p := startCmd(t, cmd)
	if cmd.SysProcAttr != attr || attr.PidFD != &callerFd || !attr.Setpgid {
		t.Errorf("Start changed the caller's SysProcAttr: %+v", cmd.SysProcAttr)
	}
	pgid, err := syscall.Getpgid(cmd.Process.Pid)
	if err != nil || pgid != cmd.Process.Pid {
		t.Errorf("child's process group = %d, %v; want its own, %d (Setpgid ignored)", pgid, err, cmd.Process.Pid)
	}
	// The caller asked for the clone pidfd: it is theirs, open, and names the child.
	if callerFd < 0 {
		t.Fatalf("caller's PidFD = %d; want a descriptor", callerFd)
	}
	caller, err := NewFile(uintptr(callerFd))
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	if pid, err := caller.PID(); err != nil || pid != cmd.Process.Pid {
		t.Errorf("caller's pidfd PID = %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	if !p.Equal(caller) {
		t.Error("Start's PidFd and the caller's clone pidfd name different processes")
	}
}

func TestStartFailure(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command("/nonexistent/pidfd-test-binary")
	p, err := Start(cmd)
	if p != nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start(missing binary) = %v, %v; want ErrNotExist", p, err)
	}
	if p, err := Start(nil); p != nil || !errors.Is(err, os.ErrInvalid) {
		t.Errorf("Start(nil) = %v, %v; want os.ErrInvalid", p, err)
	}
}

func TestStartOutputThenWait(t *testing.T) {
	leakcheck.Check(t)
	const size = 1 << 20 // more than a pipe holds: os/exec must copy while the child runs
	var stdout bytes.Buffer
	cmd := testchild.Command(testchild.Output, strconv.Itoa(size))
	cmd.Stdout = &stdout
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	status, err := p.Wait()
	if err != nil || !status.Success() {
		t.Fatalf("Wait = %v, %v; want success", status, err)
	}
	if stdout.Len() != size {
		t.Errorf("stdout holds %d bytes when Wait returns; want %d", stdout.Len(), size)
	}
	if cmd.ProcessState == nil || cmd.ProcessState.Pid() != status.Pid() || !cmd.ProcessState.Success() {
		t.Errorf("cmd.ProcessState = %v after Wait; want the child's success", cmd.ProcessState)
	}
	if err := cmd.Wait(); err == nil {
		t.Error("cmd.Wait after PidFd.Wait succeeded; os/exec should say it was already waited")
	}
}

func TestStartThenCmdWait(t *testing.T) {
	leakcheck.Check(t)
	var stdout bytes.Buffer
	cmd := testchild.Command(testchild.Output, "1000")
	cmd.Stdout = &stdout
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cmd.Wait: %v", err)
	}
	if !cmd.ProcessState.Success() || stdout.Len() != 1000 {
		t.Errorf("cmd.Wait: state %v, %d bytes; want success, 1000", cmd.ProcessState, stdout.Len())
	}
	if _, err := p.PID(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("PID after cmd.Wait = %v; want os.ErrProcessDone", err)
	}
}

func TestStartKillThenCmdWait(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Sleep)
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.String() != "signal: killed" {
		t.Errorf("cmd.Wait after Kill = %v; want signal: killed", err)
	}
}

func TestFromProcess(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Sleep)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := FromProcess(cmd.Process)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	defer p.Close()
	if pid, err := p.PID(); err != nil || pid != cmd.Process.Pid {
		t.Errorf("PID = %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	// os/exec keeps waiting with its own, still blocking, handle.
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	err = <-waited
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.String() != "signal: killed" {
		t.Errorf("cmd.Wait = %v; want signal: killed (EAGAIN means FromProcess made os/exec's handle non-blocking)", err)
	}
	if err := p.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal(0) after cmd.Wait = %v; want os.ErrProcessDone", err)
	}
}

func TestFromProcessWait(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Exit, "7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := FromProcess(cmd.Process)
	if err != nil {
		cmd.Wait()
		t.Fatal(err)
	}
	defer p.Close()
	status, err := p.Wait()
	if err != nil || status.ExitCode() != 7 {
		t.Fatalf("Wait = %v, %v; want exit status 7", status, err)
	}
	// PidFd.Wait collected the exit through os.Process, which knows it.
	if _, err := cmd.Process.Wait(); err == nil {
		t.Error("Process.Wait after PidFd.Wait succeeded; want an error")
	}
	if _, err := FromProcess(cmd.Process); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("FromProcess(waited) = %v; want os.ErrProcessDone", err)
	}
}

func TestFromProcessInvalid(t *testing.T) {
	leakcheck.Check(t)
	if p, err := FromProcess(nil); p != nil || !errors.Is(err, os.ErrInvalid) {
		t.Errorf("FromProcess(nil) = %v, %v; want os.ErrInvalid", p, err)
	}
	cmd := testchild.Command(testchild.Exit, "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Process.Release(); err != nil {
		t.Fatal(err)
	}
	if p, err := FromProcess(cmd.Process); p != nil || err == nil {
		t.Errorf("FromProcess(released) = %v, %v; want an error", p, err)
	}
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
}

func TestNewFile(t *testing.T) {
	leakcheck.Check(t)
	cmd, _ := startChild(t, testchild.Sleep)
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0) // blocking, as received from elsewhere
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewFile(uintptr(fd))
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer p.Close()
	if pid, err := p.PID(); err != nil || pid != cmd.Process.Pid {
		t.Errorf("PID = %d, %v; want %d", pid, err, cmd.Process.Pid)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Errorf("NewFile left the descriptor blocking (%v): waits would hold a thread", err)
	}
	if p.Fd() != uintptr(fd) {
		t.Errorf("Fd = %d; want the adopted %d", p.Fd(), fd)
	}
}

func TestNewFileRejects(t *testing.T) {
	leakcheck.Check(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	event, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(event)
	procDir, err := os.Open("/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	defer procDir.Close()
	closed, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(closed)
	for _, tc := range []struct {
		name string
		fd   uintptr
		open bool
	}{
		{"pipe", r.Fd(), true},
		{"eventfd", uintptr(event), true},
		{"/proc/self", procDir.Fd(), true}, // pidfd_send_signal accepts it, NewFile must not
		{"closed", uintptr(closed), false},
		{"above int32", math.MaxInt32 + 1, false},
		{"all ones", ^uintptr(0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewFile(tc.fd)
			if p != nil || !errors.Is(err, ErrNotPidFd) {
				t.Fatalf("NewFile(%s) = %v, %v; want ErrNotPidFd", tc.name, p, err)
			}
			if tc.open {
				if _, err := unix.FcntlInt(tc.fd, unix.F_GETFD, 0); err != nil {
					t.Errorf("NewFile closed the rejected descriptor: %v", err)
				}
			}
		})
	}
}

func TestPIDZombieAndReaped(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Exit, "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := Open(cmd.Process.Pid) // our unreaped child: no race
	if err != nil {
		cmd.Wait()
		t.Fatal(err)
	}
	defer p.Close()
	waitReadable(t, p)
	if state := procState(t, cmd.Process.Pid); state != "Z" {
		t.Errorf("/proc says the child is %q; want a zombie, Z", state)
	}
	for _, path := range pidPaths {
		if pid, err := path.pid(p); err != nil || pid != cmd.Process.Pid {
			t.Errorf("zombie: %s = %d, %v; want %d", path.name, pid, err, cmd.Process.Pid)
		}
	}
	if err := p.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("Signal(0) to a zombie = %v; want nil (it still exists)", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, path := range pidPaths {
		if pid, err := path.pid(p); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("reaped: %s = %d, %v; want os.ErrProcessDone", path.name, pid, err)
		}
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after reaping = %v; want os.ErrProcessDone", err)
	}
}

// TestWaitStatus compares every ExitStatus with the os.ProcessState that
// exec.Cmd.Wait gives for the same kind of child.
func TestWaitStatus(t *testing.T) {
	leakcheck.Check(t)
	cases := []struct {
		role string
		arg  string
		kill bool
	}{
		{testchild.Exit, "0", false},
		{testchild.Exit, "1", false},
		{testchild.Exit, "3", false},
		{testchild.Exit, "255", false},
		{testchild.Die, strconv.Itoa(int(syscall.SIGTERM)), false},
		{testchild.Die, strconv.Itoa(int(syscall.SIGHUP)), false},
		{testchild.Sleep, "", true},
	}
	for _, tc := range cases {
		want := testchild.Command(tc.role, tc.arg)
		if err := want.Start(); err != nil {
			t.Fatal(err)
		}
		if tc.kill {
			want.Process.Kill()
		}
		want.Wait()
		for name, construct := range constructors {
			t.Run(name+"/"+want.ProcessState.String(), func(t *testing.T) {
				cmd := testchild.Command(tc.role, tc.arg)
				p, err := construct(cmd)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				pid, err := p.PID()
				if err != nil {
					t.Fatal(err)
				}
				if tc.kill {
					p.Kill()
				}
				got, err := p.Wait()
				if err != nil {
					t.Fatal(err)
				}
				ws := want.ProcessState
				if got.String() != ws.String() || got.ExitCode() != ws.ExitCode() ||
					got.Success() != ws.Success() || got.Exited() != ws.Exited() ||
					got.Sys().(syscall.WaitStatus) != ws.Sys().(syscall.WaitStatus) {
					t.Errorf("ExitStatus %q code %d success %v exited %v sys %#x; os.ProcessState %q code %d success %v exited %v sys %#x",
						got, got.ExitCode(), got.Success(), got.Exited(), got.Sys(),
						ws, ws.ExitCode(), ws.Success(), ws.Exited(), ws.Sys())
				}
				if got.Pid() != pid {
					t.Errorf("Pid = %d; want %d", got.Pid(), pid)
				}
				if ru, ok := got.SysUsage().(*syscall.Rusage); !ok || ru == nil || ru.Maxrss == 0 {
					t.Errorf("SysUsage = %#v; want the child's rusage", got.SysUsage())
				}
				if got.UserTime()+got.SystemTime() <= 0 {
					t.Errorf("CPU time = %v; a Go child uses some", got.UserTime()+got.SystemTime())
				}
				if name == "Start" && cmd.ProcessState == nil {
					t.Errorf("os/exec bookkeeping not done: cmd.ProcessState is nil")
				}
			})
		}
	}
}

func TestTryWait(t *testing.T) {
	leakcheck.Check(t)
	for _, construct := range []string{"Start", "Open"} {
		t.Run(construct, func(t *testing.T) {
			p := sleeperBy(t, construct)
			pid, err := p.PID()
			if err != nil {
				t.Fatal(err)
			}
			if status, err := p.TryWait(); status != nil || err != nil {
				t.Fatalf("TryWait while running = %v, %v; want nil, nil", status, err)
			}
			if state := procState(t, pid); state == "Z" {
				t.Fatalf("child is a zombie after TryWait found it running")
			}
			p.Kill()
			waitReadable(t, p)
			status, err := p.TryWait()
			if err != nil || status == nil || status.Signal() != syscall.SIGKILL {
				t.Fatalf("TryWait after exit = %v, %v; want signal: killed", status, err)
			}
			again, err := p.Wait()
			if again != status || err != nil {
				t.Errorf("Wait after TryWait = %v, %v; want the same status", again, err)
			}
		})
	}
}

func TestWaitContext(t *testing.T) {
	leakcheck.Check(t)
	_, p := startChild(t, testchild.Sleep)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	status, err := p.WaitContext(ctx)
	cancel()
	if status != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext with a deadline = %v, %v; want DeadlineExceeded", status, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	status, err = p.WaitContext(ctx)
	if status != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitContext cancelled = %v, %v; want Canceled", status, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := p.WaitContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitContext with a done context = %v; want Canceled", err)
	}

	// Still usable: a plain wait sees the kill.
	p.Kill()
	status, err = p.Wait()
	if err != nil || status.Signal() != syscall.SIGKILL {
		t.Fatalf("Wait after cancelled waits = %v, %v; want signal: killed", status, err)
	}
}

func TestCloseDuringWait(t *testing.T) {
	leakcheck.Check(t)
	cmd := testchild.Command(testchild.Sleep)
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	const waiters = 5
	errs := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := p.Wait()
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let them park; the test holds either way
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range waiters {
		if err := <-errs; !errors.Is(err, os.ErrClosed) {
			t.Errorf("Wait interrupted by Close = %v; want os.ErrClosed", err)
		}
	}
	if err := p.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v; want os.ErrClosed", err)
	}
	// Closing the PidFd left the child alone: os/exec still owns its exit.
	if state := procState(t, cmd.Process.Pid); state == "Z" {
		t.Errorf("child state %q after Close; want it still running", state)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

func TestClosed(t *testing.T) {
	leakcheck.Check(t)
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PID(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("PID = %v; want os.ErrClosed", err)
	}
	if err := p.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Signal = %v; want os.ErrClosed", err)
	}
	if _, err := p.Wait(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait = %v; want os.ErrClosed", err)
	}
	if _, err := p.TryWait(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("TryWait = %v; want os.ErrClosed", err)
	}
	if fd := p.Fd(); fd != ^uintptr(0) {
		t.Errorf("Fd = %d; want ^uintptr(0)", fd)
	}
	conn, err := p.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Control(func(uintptr) {}); err == nil {
		t.Error("SyscallConn().Control on a closed PidFd succeeded")
	}
}

func TestNilAndZeroPidFd(t *testing.T) {
	leakcheck.Check(t)
	for _, p := range []*PidFd{nil, {}} {
		if _, err := p.PID(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("PID on %#v = %v; want os.ErrInvalid", p, err)
		}
		if err := p.Kill(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("Kill on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.Wait(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("Wait on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.TryWait(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("TryWait on %#v = %v; want os.ErrInvalid", p, err)
		}
		if err := p.Close(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("Close on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.SyscallConn(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("SyscallConn on %#v = %v; want os.ErrInvalid", p, err)
		}
		if p.Fd() != ^uintptr(0) {
			t.Errorf("Fd on %#v = %d", p, p.Fd())
		}
		if _, err := p.Creds(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("Creds on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.PPID(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("PPID on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.CgroupID(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("CgroupID on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.ID(); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("ID on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.OpenNamespace(NamespaceNet); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("OpenNamespace on %#v = %v; want os.ErrInvalid", p, err)
		}
		if err := p.Setns(NamespaceUTS); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("Setns on %#v = %v; want os.ErrInvalid", p, err)
		}
		if _, err := p.GetFd(0); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("GetFd on %#v = %v; want os.ErrInvalid", p, err)
		}
		if err := p.WithProcDir(func(*os.Root) error { return nil }); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("WithProcDir on %#v = %v; want os.ErrInvalid", p, err)
		}
		if p.Equal(p) {
			t.Errorf("Equal on %#v is true", p)
		}
	}
	var s *ExitStatus
	if s.String() != "<nil>" || s.ExitCode() != -1 || s.Pid() != -1 || s.Exited() || s.Success() ||
		s.Signaled() || s.Signal() != nil || s.CoreDumped() || s.Sys() != nil || s.SysUsage() != nil ||
		s.UserTime() != 0 || s.SystemTime() != 0 {
		t.Error("a nil *ExitStatus must report nothing")
	}
}

func TestConcurrentWaitAndSignal(t *testing.T) {
	leakcheck.Check(t)
	for _, construct := range []string{"Start", "Open"} {
		t.Run(construct, func(t *testing.T) {
			p := sleeperBy(t, construct)
			const n = 16
			statuses := make(chan *ExitStatus, n)
			signalErrs := make(chan error, n)
			for range n {
				go func() {
					status, err := p.Wait()
					if err != nil {
						t.Errorf("Wait: %v", err)
					}
					statuses <- status
				}()
				go func() {
					var err error
					for err == nil {
						err = p.Signal(syscall.Signal(0))
						p.PID()
						p.TryWait()
					}
					signalErrs <- err
				}()
			}
			time.Sleep(10 * time.Millisecond)
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			first := <-statuses
			for range n - 1 {
				if s := <-statuses; s != first {
					t.Errorf("waiters got different statuses: %v and %v", first, s)
				}
			}
			for range n {
				if err := <-signalErrs; !errors.Is(err, os.ErrProcessDone) {
					t.Errorf("Signal(0) after exit = %v; want os.ErrProcessDone", err)
				}
			}
			if first == nil || first.Signal() != syscall.SIGKILL {
				t.Errorf("status = %v; want signal: killed", first)
			}
		})
	}
}

// TestWaitersAgree has twelve goroutines wait on one child in four ways at
// once, half of them from the moment it exits, over many children of every
// constructor: every waiter must get the one reaped status, the one with
// the child's rusage. A wait that comes after os/exec or os has reaped the
// child, but before the status is handed over, must wait for it too, not
// take the child for another's (whose status a kernel before 6.15 cannot
// tell: ErrNoExitStatus). For the Start children a writer that holds the
// output keeps cmd.Wait busy after the reaping until the late waiters have
// started, so that they come in that window.
func TestWaitersAgree(t *testing.T) {
	leakcheck.Check(t)
	const rounds, waiters = 200, 12
	waits := []struct {
		name string
		wait func(p *PidFd) (*ExitStatus, error)
	}{
		{"Wait", (*PidFd).Wait},
		{"WaitContext", func(p *PidFd) (*ExitStatus, error) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return p.WaitContext(ctx)
		}},
		{"TryWait", func(p *PidFd) (*ExitStatus, error) {
			for {
				if s, err := p.TryWait(); s != nil || err != nil {
					return s, err
				}
				time.Sleep(100 * time.Microsecond)
			}
		}},
		{"WaitContext(Background)", func(p *PidFd) (*ExitStatus, error) { return p.WaitContext(context.Background()) }},
	}
	names := slices.Sorted(maps.Keys(constructors))
	var bad []string
	badRounds := 0
	for round := range rounds {
		construct := names[round%len(names)]
		code := 1 + round%100
		cmd := exec.Command("sh", "-c", "echo x; exit "+strconv.Itoa(code))
		held := &heldWriter{release: make(chan struct{})}
		if construct == "Start" {
			cmd.Stdout = held
		}
		p, err := constructors[construct](cmd)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := p.PID()
		if err != nil {
			close(held.release)
			p.Wait()
			p.Close()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() {
			fds := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					break
				}
			}
			close(exited)
		}()
		type result struct {
			how    string
			status *ExitStatus
			err    error
		}
		results := make(chan result, waiters)
		var lateStarted sync.WaitGroup
		for i := range waiters {
			w := waits[i%len(waits)]
			late := i >= waiters/2
			if late {
				lateStarted.Add(1)
			}
			go func() {
				if late {
					<-exited
					lateStarted.Done()
				}
				s, err := w.wait(p)
				results <- result{w.name, s, err}
			}()
		}
		lateStarted.Wait()
		// Let the late waiters look (where os/exec copies output, the
		// child has been reaped by now), then let cmd.Wait finish.
		time.Sleep(time.Millisecond)
		close(held.release)
		var got []result
		for range waiters {
			got = append(got, <-results)
		}
		p.Close()
		reaped := got[0].status
		for _, r := range got {
			if ru, _ := r.status.SysUsage().(*syscall.Rusage); r.err == nil && ru != nil {
				reaped = r.status
			}
		}
		before := len(bad)
		for _, r := range got {
			if r.err != nil || r.status != reaped || r.status.ExitCode() != code || r.status.Pid() != pid {
				bad = append(bad, fmt.Sprintf("round %d (%s, pid %d, exit %d): %s = %v, %v; want the reaped status %v",
					round, construct, pid, code, r.how, r.status, r.err, reaped))
			}
		}
		if len(bad) > before {
			badRounds++
		}
	}
	if len(bad) > 0 {
		t.Errorf("waiters disagreed in %d of %d rounds of %d waiters (kernel records exit statuses: %v):\n%s",
			badRounds, rounds, waiters, KernelFeatures().ExitInfo, strings.Join(bad, "\n"))
	}
}

// heldWriter takes writes once release is closed.
type heldWriter struct{ release chan struct{} }

func (w *heldWriter) Write(b []byte) (int, error) {
	<-w.release
	return len(b), nil
}

// TestWaitersAgreeOnOldKernel runs TestWaitersAgree, and the waits for
// processes that are not children, without PIDFD_GET_INFO, as on Linux 6.1,
// where the kernel has no exit status of its own to give.
func TestWaitersAgreeOnOldKernel(t *testing.T) {
	leakcheck.Check(t)
	if has, _ := getInfo.has(); !has {
		t.Skip("this kernel has no ioctl(PIDFD_GET_INFO) (Linux 6.13) itself: TestWaitersAgree covers it")
	}
	runUnder(t, "6.1", "^(TestWaitersAgree|TestWaitNotChild|TestWaitParent|TestExitStatusUnknowns)$", "TestWaitersAgree")
}

// TestExitStatusUnknowns checks that a status tells what it does not know.
// A child reaped by Wait has its rusage, and a child that burned CPU shows
// it. The same process seen by Wait through PidFds made by NewFile of
// dups of the pidfd, once another has reaped it, has only the kernel's
// record (Linux 6.15+): no usage, which SysUsage says by nil, and the PID
// only where the PidFd learned it before the reaping (-1 otherwise).
func TestExitStatusUnknowns(t *testing.T) {
	leakcheck.Check(t)
	for _, name := range slices.Sorted(maps.Keys(constructors)) {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3")
			p, err := constructors[name](cmd)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				p.Kill()
				p.Wait()
				p.Close()
			}()
			pid, err := p.PID()
			if err != nil {
				t.Fatal(err)
			}
			dup := func() int {
				fd, err := unix.FcntlInt(p.Fd(), unix.F_DUPFD_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				return fd
			}
			// Made while the process lives: it learns the PID.
			earlyFd := dup()
			early, err := NewFile(uintptr(earlyFd))
			if err != nil {
				unix.Close(earlyFd)
				t.Fatal(err)
			}
			defer early.Close()
			laterFd := dup()
			defer func() {
				if laterFd >= 0 {
					unix.Close(laterFd)
				}
			}()

			status, err := p.Wait()
			if err != nil || status.ExitCode() != 3 || status.Pid() != pid {
				t.Fatalf("Wait = %v (pid %d), %v; want exit status 3, pid %d", status, status.Pid(), err, pid)
			}
			if ru, ok := status.SysUsage().(*syscall.Rusage); !ok || ru == nil {
				t.Errorf("SysUsage of a reaped child = %#v; want its *syscall.Rusage", status.SysUsage())
			}
			if status.UserTime()+status.SystemTime() <= 0 {
				t.Errorf("CPU time of a child that counted to 20000 = %v", status.UserTime()+status.SystemTime())
			}

			// Made after the reaping: the PID is gone from the kernel.
			late, err := NewFile(uintptr(laterFd))
			if err != nil {
				t.Fatal(err)
			}
			laterFd = -1 // late owns it
			defer late.Close()

			for _, tc := range []struct {
				name string
				q    *PidFd
				pid  int
			}{{"made before the reaping", early, pid}, {"made after it", late, -1}} {
				s, err := tc.q.Wait()
				switch {
				case !KernelFeatures().ExitInfo:
					if s != nil || !errors.Is(err, ErrNoExitStatus) {
						t.Errorf("%s: Wait = %v, %v; want ErrNoExitStatus before Linux 6.15", tc.name, s, err)
					}
				case err != nil || s.ExitCode() != 3 || s.Pid() != tc.pid:
					t.Errorf("%s: Wait = %v (pid %d), %v; want exit status 3, pid %d", tc.name, s, s.Pid(), err, tc.pid)
				case s.SysUsage() != nil || s.UserTime() != 0 || s.SystemTime() != 0:
					t.Errorf("%s: usage from the kernel's record: SysUsage %#v, times %v and %v; want nil (unknown) and 0",
						tc.name, s.SysUsage(), s.UserTime(), s.SystemTime())
				}
			}
		})
	}
}

// TestWaitHoldsNoThread parks many waits at once and checks that the OS
// thread count stays near GOMAXPROCS, not one per wait. (exec.Cmd.Wait would
// hold one thread per child.)
func TestWaitHoldsNoThread(t *testing.T) {
	leakcheck.Check(t)
	const children = 200
	pidfds := make([]*PidFd, 0, children)
	defer func() {
		for _, p := range pidfds {
			p.Kill()
			p.Wait()
			p.Close()
		}
	}()
	for range children {
		cmd := exec.Command("sleep", "3600")
		p, err := Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		pidfds = append(pidfds, p)
	}
	done := make(chan struct{})
	for _, p := range pidfds {
		go func() {
			p.Wait()
			done <- struct{}{}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the waits park
	if threads := threadCount(t); threads > 50 {
		t.Errorf("%d OS threads with %d waits parked; want far fewer than one per wait", threads, children)
	}
	for _, p := range pidfds {
		p.Kill()
	}
	for range children {
		<-done
	}
}

func threadCount(t testing.TB) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

func TestCloseDuringOutputCopy(t *testing.T) {
	leakcheck.Check(t)
	// The child exits at once, but a grandchild keeps its stdout open for a
	// while: os/exec's cmd.Wait waits for it. Close must not.
	var stdout bytes.Buffer
	cmd := exec.Command("sh", "-c", "sleep 2 & exit 0")
	cmd.Stdout = &stdout
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	waitReadable(t, p)
	waited := make(chan error, 1)
	go func() {
		_, err := p.Wait()
		waited <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it reach the reaping; the test holds either way
	p.Close()
	if err := <-waited; !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait interrupted by Close while output is copied = %v; want os.ErrClosed", err)
	}
	// TryWait never waits for the copy (see TestTryWaitDuringOutputCopy).
	if status, err := p.TryWait(); status != nil || !errors.Is(err, os.ErrClosed) {
		t.Errorf("TryWait after Close while output is copied = %v, %v; want os.ErrClosed", status, err)
	}
}

// TestTryWaitDuringOutputCopy has a child exit while a grandchild holds its
// output pipe, which os/exec copies into a buffer: TryWait must return at
// once, (nil, nil), while the pipe is still held, and the status once the
// grandchild lets go. The grandchild, cat, holds the pipe until the test
// closes the pipe that cat reads, so the pipe provably is held when
// TryWait returns if the test has not closed it by then.
func TestTryWaitDuringOutputCopy(t *testing.T) {
	leakcheck.Check(t)
	catIn, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd := exec.Command("sh", "-c", "echo early; cat <&3 & exit 0")
	cmd.Stdout = &stdout
	cmd.ExtraFiles = []*os.File{catIn}
	p, err := Start(cmd)
	catIn.Close()
	if err != nil {
		hold.Close()
		t.Fatal(err)
	}
	defer p.Close()
	var letGo sync.Once
	release := func() { letGo.Do(func() { hold.Close() }) }
	defer release()
	waitReadable(t, p) // sh has exited; cat holds its stdout

	// Only so that a TryWait that waits for the pipe ends, and fails.
	var released atomic.Bool
	watchdog := time.AfterFunc(10*time.Second, func() {
		released.Store(true)
		release()
	})
	status, err := p.TryWait()
	stillHeld := !released.Load()
	watchdog.Stop()
	if !stillHeld {
		t.Fatalf("TryWait = %v, %v only once the grandchild let go of the output pipe; want it at once", status, err)
	}
	if status != nil || err != nil {
		t.Errorf("TryWait while the output is copied = %v, %v; want nil, nil", status, err)
	}

	if _, err := io.WriteString(hold, "late\n"); err != nil {
		t.Fatal(err) // cat is gone: the pipe was not held after all
	}
	release()
	for status == nil && err == nil {
		time.Sleep(time.Millisecond)
		status, err = p.TryWait()
	}
	if err != nil || !status.Success() || cmd.ProcessState == nil {
		t.Fatalf("TryWait after the copy = %v, %v (cmd.ProcessState %v); want success", status, err, cmd.ProcessState)
	}
	if got := stdout.String(); got != "early\nlate\n" {
		t.Errorf("output = %q; want everything, copied before the status came", got)
	}
	if again, err := p.Wait(); again != status || err != nil {
		t.Errorf("Wait after TryWait = %v, %v; want the same status", again, err)
	}
}

// TestWaitDelay lets cmd.WaitDelay expire while a grandchild holds the
// output pipe: cmd.Wait reports the exit and exec.ErrWaitDelay together,
// and every wait returns both, the error a *WaitError holding the status.
func TestWaitDelay(t *testing.T) {
	leakcheck.Check(t)
	catIn, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close() // cat's end, after the test
	var stdout bytes.Buffer
	cmd := exec.Command("sh", "-c", "cat <&3 & exit 0")
	cmd.Stdout = &stdout
	cmd.ExtraFiles = []*os.File{catIn}
	cmd.WaitDelay = 10 * time.Millisecond
	p, err := Start(cmd)
	catIn.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	status, err := p.Wait()
	var we *WaitError
	if status == nil || !status.Success() || !errors.As(err, &we) || we.Status != status ||
		!errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("Wait = %v, %v; want exit status 0 and a *WaitError for exec.ErrWaitDelay", status, err)
	}
	if want := "exit status 0: " + exec.ErrWaitDelay.Error(); err.Error() != want {
		t.Errorf("error %q; want %q", err, want)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Errorf("cmd.ProcessState = %v; want the child's success", cmd.ProcessState)
	}
	for name, wait := range map[string]func() (*ExitStatus, error){
		"Wait": p.Wait, "TryWait": p.TryWait,
		"WaitContext": func() (*ExitStatus, error) { return p.WaitContext(context.Background()) },
	} {
		if again, againErr := wait(); again != status || againErr != err {
			t.Errorf("%s after Wait = %v, %v; want the same status and error", name, again, againErr)
		}
	}
}

const outsideNSRole = "outside-ns"

// outsideNS runs in a new PID namespace with a pidfd for its parent as
// descriptor 3: a process it cannot see. With the argument "own-proc" it
// mounts a /proc of its namespace first (it has a mount namespace of its
// own); otherwise it sees its parent's /proc, whose numbers are not its own.
func outsideNS(args []string) int {
	ownProc := len(args) > 0 && args[0] == "own-proc"
	if ownProc {
		if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fmt.Println("mount --make-rprivate /:", err)
			return 1
		}
		if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
			fmt.Println("mount /proc:", err)
			return 1
		}
	}
	p, err := NewFile(3)
	if err != nil {
		fmt.Println("NewFile:", err)
		return 1
	}
	defer p.Close()
	code := 0
	for _, path := range pidPaths {
		pid, err := path.pid(p)
		want := ErrNotInPIDNamespace
		byProc := path.name == "fdinfo" || getInfo.state.Load() == capMissing
		if byProc && !ownProc {
			want = errors.ErrUnsupported // the parent's /proc cannot answer
		}
		if !errors.Is(err, want) {
			fmt.Printf("%s = %d, %v; want %v\n", path.name, pid, err, want)
			code = 1
		}
	}
	if err := p.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
		fmt.Printf("Signal(0) = %v: a live process reported as done\n", err)
		code = 1
	}
	if ownProc {
		// This process is its namespace's init: its parent, the test,
		// has no PID here.
		self, err := Self()
		if err != nil {
			fmt.Println("Self:", err)
			return 1
		}
		defer self.Close()
		if ppid, err := self.PPID(); ppid != 0 || !errors.Is(err, ErrNotInPIDNamespace) {
			fmt.Printf("PPID of the namespace's init = %d, %v; want 0, ErrNotInPIDNamespace\n", ppid, err)
			code = 1
		}
	}
	// Entering the parent's PID namespace from a child one is refused
	// (EINVAL from setns itself): nothing may change, not even the net
	// namespace named first.
	before, _ := os.Readlink("/proc/thread-self/ns/net")
	result := make(chan string)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		err := p.Setns(NamespaceNet, NamespacePID)
		after, _ := os.Readlink("/proc/thread-self/ns/net")
		switch {
		case err == nil:
			result <- "Setns into an ancestor PID namespace succeeded"
		case after != before:
			result <- fmt.Sprintf("Setns failed (%v) but moved the thread from net %s to %s", err, before, after)
		default:
			result <- ""
		}
	}()
	if msg := <-result; msg != "" {
		fmt.Println(msg)
		code = 1
	}
	return code
}

func TestPIDOutsideNamespace(t *testing.T) {
	leakcheck.Check(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a PID namespace")
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	dup, err := unix.FcntlInt(self.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	selfFile := os.NewFile(uintptr(dup), "pidfd")
	defer selfFile.Close()
	for _, proc := range []string{"parent-proc", "own-proc"} {
		cmd := testchild.Command(outsideNSRole, proc)
		cmd.ExtraFiles = []*os.File{selfFile}
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("child in a new PID namespace with the %s: %v\n%s", proc, err, out)
		}
	}
}

func TestStartProcess(t *testing.T) {
	leakcheck.Check(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fdsBefore, err := leakcheck.OpenFds()
	if err != nil {
		t.Fatal(err)
	}
	cmd := testchild.Command(testchild.Output, "5")
	p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{
		Env:   cmd.Env,
		Files: []*os.File{nil, w, os.Stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fdsAfter, err := leakcheck.OpenFds()
	if err != nil {
		t.Fatal(err)
	}
	// The pipe's write end went away, the pidfd came: one descriptor per child.
	if len(fdsAfter) != len(fdsBefore) {
		t.Errorf("%d descriptors before, %d with the child; want the same (its pidfd for the pipe closed)", len(fdsBefore), len(fdsAfter))
	}
	pid, err := p.PID()
	if err != nil {
		t.Fatal(err)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("process group %d, %v; want its own (Sys settings kept)", pgid, err)
	}
	out, err := io.ReadAll(r)
	if err != nil || string(out) != "xxxxx" {
		t.Errorf("child wrote %q, %v through attr.Files; want xxxxx", out, err)
	}
	status, err := p.Wait()
	if err != nil || !status.Success() || status.Pid() != pid {
		t.Errorf("Wait = %v, %v; want PID %d's success", status, err, pid)
	}

	p2, err := StartProcess("/nonexistent/pidfd-test", nil, nil)
	var pathErr *os.PathError
	if p2 != nil || !errors.As(err, &pathErr) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("StartProcess(missing) = %v, %v; want a *PathError for ErrNotExist", p2, err)
	}
}

// TestCloseWhileInUse closes a PidFd while one of the package's calls holds
// its descriptor: Close returns at once, a waiter parked on the poller wakes
// with os.ErrClosed, new calls fail with os.ErrClosed, the call in progress
// goes on with the descriptor still open, and the descriptor closes as that
// call returns.
func TestCloseWhileInUse(t *testing.T) {
	leakcheck.Check(t)
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := p.WaitContext(context.Background()) // our own exit: parks until Close
		waited <- err
	}()
	var inside error
	err = p.withFd(func(fd int) error {
		if err := p.Close(); err != nil {
			t.Errorf("Close during a call = %v", err)
		}
		if err := <-waited; !errors.Is(err, os.ErrClosed) {
			t.Errorf("waiter woken by Close = %v; want os.ErrClosed", err)
		}
		if _, err := p.PID(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("PID after Close = %v; want os.ErrClosed", err)
		}
		inside = conn.Control(func(uintptr) {}) // still open for the call
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside != nil {
		t.Errorf("descriptor closed under a call in progress: %v", inside)
	}
	if err := conn.Control(func(uintptr) {}); err == nil {
		t.Error("descriptor still open after the call that held it returned")
	}
	if err := p.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v; want os.ErrClosed", err)
	}
}
