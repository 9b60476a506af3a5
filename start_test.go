//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

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
	p := startFromProcess(t, cmd)
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

// autoKillOrSkip skips the test where StartProcessAutoKill cannot work,
// after checking that it says so: before Linux 7.1 (CLONE_PIDFD_AUTOKILL)
// and on architectures without the child code it must answer
// errors.ErrUnsupported, from 7.1 on amd64, arm64 and 386 it must work.
func autoKillOrSkip(t *testing.T) {
	t.Helper()
	p, err := StartProcessAutoKill("/nonexistent/pidfd-test", nil, nil)
	if p != nil {
		p.Close()
		t.Fatalf("StartProcessAutoKill(missing program) started a process")
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	has := major > 7 || major == 7 && minor >= 1
	archHas := runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "386"
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		if has && archHas && os.Getenv(oldKernelEnv) == "" {
			t.Fatalf("StartProcessAutoKill on Linux %s, %s: %v; want it to work", release, runtime.GOARCH, err)
		}
		t.Skipf("no CLONE_PIDFD_AUTOKILL (Linux 7.1) or no child code for %s here (Linux %s; checked that it says so: %v)", runtime.GOARCH, release, err)
	case !errors.Is(err, os.ErrNotExist):
		t.Fatalf("StartProcessAutoKill(missing program) = %v; want ErrNotExist (or ErrUnsupported before Linux 7.1)", err)
	case !has || !archHas:
		t.Fatalf("StartProcessAutoKill on Linux %s, %s got as far as exec; want errors.ErrUnsupported", release, runtime.GOARCH)
	}
}

// startAutoKill starts a test child in a role with StartProcessAutoKill.
// Cleanup closes the PidFd (which kills the child) and waits until the
// kernel has reaped it.
func startAutoKill(t *testing.T, attr *os.ProcAttr, role string, args ...string) (*PidFd, int) {
	t.Helper()
	cmd := testchild.Command(role, args...)
	if attr == nil {
		attr = &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}}
	}
	attr.Env = cmd.Env
	p, err := StartProcessAutoKill(cmd.Path, cmd.Args, attr)
	if err != nil {
		t.Fatalf("StartProcessAutoKill: %v", err)
	}
	pid := mustPIDOf(t, p)
	watch, err := Open(pid)
	if err != nil {
		p.Close()
		t.Fatalf("Open(%d): %v", pid, err)
	}
	t.Cleanup(func() {
		p.Close()
		watch.Wait()
		watch.Close()
	})
	return p, pid
}

// gone waits until the process p names has exited and been reaped, and
// returns its status as the kernel recorded it.
func gone(t *testing.T, p *PidFd) *ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, err := p.WaitContext(ctx)
	if err != nil {
		t.Fatalf("waiting for the child to end: %v", err)
	}
	return status
}

// TestStartProcessAutoKill runs where the kernel has CLONE_PIDFD_AUTOKILL;
// elsewhere it checks that StartProcessAutoKill says it is unsupported.
func TestStartProcessAutoKill(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "clone3-enosys" {
		testAutoKillSandboxed(t)
		return
	}
	t.Run("Sandboxed", func(t *testing.T) {
		runUnder(t, "clone3-enosys", "^TestStartProcessAutoKill$", "TestStartProcessAutoKill")
	})
	autoKillOrSkip(t)
	t.Run("Runs", testAutoKillRuns)
	t.Run("CloseKills", testAutoKillCloseKills)
	t.Run("NoNewPrivs", testAutoKillNoNewPrivs)
	t.Run("GarbageCollected", testAutoKillGarbageCollected)
	t.Run("Files", testAutoKillFiles)
	t.Run("Sys", testAutoKillSys)
	t.Run("StartFailure", testAutoKillStartFailure)
	t.Run("StarterKilled", testAutoKillStarterKilled)
	t.Run("Passed", testAutoKillPassed)
	t.Run("Watched", testAutoKillWatched)
	t.Run("FailedExecLeavesNothing", testAutoKillFailedExec)
	t.Run("FilesBlocking", testAutoKillFilesBlocking)
}

// testAutoKillSandboxed runs under a seccomp filter that answers ENOSYS
// for clone3, as container runtimes' default profiles do.
func testAutoKillSandboxed(t *testing.T) {
	if _, _, errno := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0); errno != unix.ENOSYS {
		t.Fatalf("the filter let clone3 through: %v", errno)
	}
	cmd := testchild.Command(testchild.Exit, "0")
	p, err := StartProcessAutoKill(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
	if p != nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("StartProcessAutoKill under the filter = %v, %v; want errors.ErrUnsupported", p, err)
	}
	// The rest of the package still starts children.
	p, err = StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if status, err := p.Wait(); err != nil || !status.Success() {
		t.Errorf("StartProcess under the filter: Wait = %v, %v; want success", status, err)
	}
}

func testAutoKillRuns(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, pid := startAutoKill(t, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}}, testchild.Output, "7")
	w.Close()
	if out, err := io.ReadAll(r); err != nil || string(out) != "xxxxxxx" {
		t.Errorf("child wrote %q, %v; want xxxxxxx", out, err)
	}
	status, err := p.Wait()
	if err != nil || !status.Success() || status.Pid() != pid {
		t.Fatalf("Wait = %v, %v; want PID %d's success", status, err, pid)
	}
	// The kernel reaped it: nothing is left to wait for, not even as a
	// clone child.
	var si unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &si, unix.WEXITED|unix.WNOHANG|unix.WALL, nil); err != syscall.ECHILD {
		t.Errorf("waitid(P_PID %d, __WALL) after the exit = %v; want ECHILD (no zombie)", pid, err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/proc/%d after the exit: %v; want it gone", pid, err)
	}

	p, _ = startAutoKill(t, nil, testchild.Exit, "9")
	if status, err := p.Wait(); err != nil || status.ExitCode() != 9 {
		t.Errorf("Wait = %v, %v; want exit status 9", status, err)
	}
	p, _ = startAutoKill(t, nil, testchild.Die, strconv.Itoa(int(syscall.SIGTERM)))
	if status, err := p.Wait(); err != nil || status.Signal() != syscall.SIGTERM {
		t.Errorf("Wait = %v, %v; want death by SIGTERM", status, err)
	}
}

func testAutoKillCloseKills(t *testing.T) {
	p, pid := startAutoKill(t, nil, testchild.Sleep)
	watch, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	if state := procState(t, pid); state == "Z" || state == "X" {
		t.Fatalf("child %d is %s before the Close; want it alive", pid, state)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if status := gone(t, watch); status.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v after Close; want SIGKILL", status)
	}
}

func testAutoKillNoNewPrivs(t *testing.T) {
	_, pid := startAutoKill(t, nil, testchild.Sleep)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(status, []byte("\nNoNewPrivs:\t1\n")) {
		t.Errorf("child's /proc/PID/status has no NoNewPrivs: 1:\n%s", status)
	}
}

func testAutoKillGarbageCollected(t *testing.T) {
	cmd := testchild.Command(testchild.Sleep)
	p, err := StartProcessAutoKill(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := Open(mustPIDOf(t, p))
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	defer watch.Close()
	p = nil // unreachable: its finalizer closes the descriptor
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		if status, err := watch.TryWait(); err != nil || status != nil {
			if err != nil || status.Signal() != syscall.SIGKILL {
				t.Errorf("child ended with %v, %v; want SIGKILL", status, err)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the child lived on after its PidFd was garbage collected")
}

func testAutoKillFiles(t *testing.T) {
	testFilesPlaced(t, true, func(attr *os.ProcAttr, args []string) *PidFd {
		p, _ := startAutoKill(t, attr, testchild.Fds, args...)
		return p
	})
}

// testFilesPlaced starts a child with start, which runs testchild.Fds
// with args and attr, and checks that each of attr.Files took its number
// in the child, and that the holes are closed. With ownTable, it checks
// that the child has a table of its own too: with no descriptor above its
// files, and no larger than they need, though this process holds one far
// above.
func testFilesPlaced(t *testing.T, ownTable bool, start func(attr *os.ProcAttr, args []string) *PidFd) {
	// Pipes whose descriptor numbers fall below, on and above the
	// numbers they are to take in the child, one file twice, and holes.
	var readers []*os.File
	var writers []*os.File
	for range 4 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers, writers = append(readers, r), append(writers, w)
	}
	files := make([]*os.File, 40)
	files[2] = os.Stderr
	wants := map[int]int{} // child descriptor -> pipe
	place := func(child, pipe int) { files[child] = writers[pipe]; wants[child] = pipe }
	place(0, 3) // far below the pipe's number
	place(int(writers[1].Fd()), 1)
	place(int(writers[2].Fd())+7, 2)
	place(len(files)-1, 0)
	place(int(writers[0].Fd()), 3) // the number of a pipe placed elsewhere
	var args []string
	for child := range files {
		if _, ok := wants[child]; ok {
			args = append(args, strconv.Itoa(child))
		} else if files[child] == nil && child > 2 { // Go opens /dev/null on 0-2 if closed
			args = append(args, "-"+strconv.Itoa(child))
		}
	}
	if ownTable {
		high := strconv.Itoa(holdHighDescriptor(t, 4096))
		args = append(args, "-"+high, "table<"+high)
	}
	p := start(&os.ProcAttr{Files: files}, args)
	for _, w := range writers {
		w.Close()
	}
	if status, err := p.Wait(); err != nil || !status.Success() {
		t.Fatalf("child checking its descriptors: %v, %v; want success", status, err)
	}
	got := map[int]string{}
	for pipe, r := range readers {
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		got[pipe] = string(out)
	}
	for child, pipe := range wants {
		if !strings.Contains(got[pipe], strconv.Itoa(child)) {
			t.Errorf("descriptor %d of the child did not reach pipe %d (pipes got %v)", child, pipe, got)
		}
	}
}

func testAutoKillSys(t *testing.T) {
	_, pid := startAutoKill(t, &os.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}}, testchild.Sleep)
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("process group %d, %v; want its own", pgid, err)
	}
	_, pid = startAutoKill(t, &os.ProcAttr{Sys: &syscall.SysProcAttr{Setsid: true}}, testchild.Sleep)
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("session %d, %v; want its own", sid, err)
	}
	p, err := StartProcessAutoKill("/bin/true", nil, &os.ProcAttr{Sys: &syscall.SysProcAttr{Chroot: "/"}})
	if p != nil || !errors.Is(err, os.ErrInvalid) {
		t.Errorf("StartProcessAutoKill(Chroot) = %v, %v; want os.ErrInvalid", p, err)
	}
}

func testAutoKillStartFailure(t *testing.T) {
	cmd := testchild.Command(testchild.Sleep)
	tests := []struct {
		name string
		attr *os.ProcAttr
		op   string
		want error
	}{
		{"/nonexistent/pidfd-test", nil, "fork/exec", os.ErrNotExist},
		{"/proc/self/status", nil, "fork/exec", os.ErrPermission}, // not executable
		{cmd.Path, &os.ProcAttr{Dir: "/nonexistent/pidfd-test"}, "chdir", os.ErrNotExist},
	}
	for _, test := range tests {
		p, err := StartProcessAutoKill(test.name, []string{test.name}, test.attr)
		var pathErr *os.PathError
		if p != nil || !errors.As(err, &pathErr) || pathErr.Op != test.op || !errors.Is(err, test.want) {
			t.Errorf("StartProcessAutoKill(%s, %+v) = %v, %v; want a *PathError %s for %v", test.name, test.attr, p, err, test.op, test.want)
		}
		if p != nil {
			p.Close()
		}
	}
	// A NUL byte in a string is the caller's error (EINVAL, as
	// os.StartProcess says it), not a kernel without the feature.
	for _, argv := range [][]string{{"a\x00b"}, {cmd.Path, "\x00"}} {
		p, err := StartProcessAutoKill(cmd.Path, argv, nil)
		if p != nil || errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("StartProcessAutoKill(argv %q) = %v, %v; want EINVAL, not ErrUnsupported", argv, p, err)
		}
		if p != nil {
			p.Close()
		}
	}
	// A descriptor that cannot be moved (a number never opened): the
	// error names it.
	bad := os.NewFile(uintptr(1<<20), "never opened")
	p, err := StartProcessAutoKill(cmd.Path, cmd.Args, &os.ProcAttr{Files: []*os.File{nil, bad}})
	if p != nil || !errors.Is(err, syscall.EBADF) || !strings.Contains(err.Error(), "descriptor 1 ") {
		t.Errorf("StartProcessAutoKill with a bad descriptor = %v, %v; want EBADF naming descriptor 1", p, err)
	}
	if p != nil {
		p.Close()
	}
}

const autoKillStarterRole = "autokill-starter"

// autoKillStarter starts a sleeping test child with StartProcessAutoKill,
// sends its PidFd to the unix socket at args[0] if there is one, prints the
// child's PID and sleeps until killed.
func autoKillStarter(args []string) int {
	cmd := testchild.Command(testchild.Sleep)
	start, attr := StartProcessAutoKill, &os.ProcAttr{Env: cmd.Env}
	if len(args) > 0 && args[0] == "pdeathsig" { // StartProcess with Pdeathsig instead
		start, args = StartProcess, args[1:]
		attr.Sys = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	p, err := start(cmd.Path, cmd.Args, attr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if len(args) > 0 {
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: args[0], Net: "unix"})
		if err == nil {
			_, err = WriteMessage(conn, []byte("child"), nil, p)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	pid, err := p.PID()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println(pid)
	time.Sleep(time.Hour)
	return 0
}

// startStarter runs autoKillStarter and returns its command and its
// child's PID. Cleanup kills and reaps it.
func startStarter(t *testing.T, args ...string) (*exec.Cmd, int) {
	t.Helper()
	starter := testchild.Command(autoKillStarterRole, args...)
	starter.Stderr = os.Stderr
	out, err := starter.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := starter.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		starter.Process.Kill()
		starter.Wait()
	})
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		t.Fatalf("reading the starter's child's PID: %v", err)
	}
	return starter, pid
}

func testAutoKillStarterKilled(t *testing.T) {
	starter, pid := startStarter(t)
	watch, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	starter.Process.Kill() // SIGKILL: the starter runs no code of its own
	starter.Wait()
	if status := gone(t, watch); status.Signal() != syscall.SIGKILL {
		t.Errorf("the child of a SIGKILLed starter ended with %v; want SIGKILL", status)
	}
}

func testAutoKillPassed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	starter, pid := startStarter(t, path)
	conn, err := listener.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, m, err := ReadMessage(conn, make([]byte, 16))
	if err != nil || len(m.PidFds) != 1 {
		t.Fatalf("ReadMessage = %+v, %v; want one PidFd", m, err)
	}
	received := m.PidFds[0]
	defer received.Close()
	if got := mustPIDOf(t, received); got != pid {
		t.Fatalf("received a PidFd for %d; want %d", got, pid)
	}
	starter.Process.Kill()
	starter.Wait()
	// The received copy holds the child's life now.
	time.Sleep(200 * time.Millisecond)
	if status, err := received.TryWait(); status != nil || err != nil {
		t.Fatalf("the child ended (%v, %v) with its starter although another process holds its pidfd", status, err)
	}
	if state := procState(t, pid); state == "Z" || state == "X" {
		t.Fatalf("child %d is %s; want it alive", pid, state)
	}
	watch, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	received.Close()
	if status := gone(t, watch); status.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v once the received PidFd was closed; want SIGKILL", status)
	}
}

func testAutoKillWatched(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	codes := map[*PidFd]int{}
	for code := 1; code <= 3; code++ {
		p, _ := startAutoKill(t, nil, testchild.Exit, strconv.Itoa(code))
		codes[p] = code
		if err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range codes {
		x, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if x.Err != nil || x.Status == nil || x.Status.ExitCode() != codes[x.PidFd] {
			t.Errorf("Next = %+v; want exit status %d", x, codes[x.PidFd])
		}
		if status, err := x.PidFd.Wait(); err != nil || status.Sys() != x.Status.Sys() || status.Pid() != x.Status.Pid() {
			t.Errorf("Wait after delivery = %v, %v; want the delivered status, %v", status, err, x.Status)
		}
	}
}

// testAutoKillFailedExec starts a missing program many times, with a
// pipe's write end as the child's stdout. When the call returns, the child
// that failed its exec must be gone: no longer our child, and holding no
// copy of our descriptors. (The vfork parent resumes once the child has let
// go of its memory, before the child's descriptors are closed and before
// it is reaped.)
func testAutoKillFailedExec(t *testing.T) {
	const tries = 200
	var children, held int
	var took time.Duration
	buf := make([]byte, 1)
	for range tries {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		p, err := StartProcessAutoKill("/nonexistent/pidfd-test", []string{"pidfd-test"}, &os.ProcAttr{Files: []*os.File{nil, w, nil}})
		took += time.Since(t0)
		w.Close()
		if p != nil || !errors.Is(err, os.ErrNotExist) {
			r.Close()
			if p != nil {
				p.Close()
			}
			t.Fatalf("StartProcessAutoKill(missing program) = %v, %v; want ErrNotExist", p, err)
		}
		// With no writer left, a read finds the end of the pipe at once.
		rc, err := r.SyscallConn()
		if err != nil {
			r.Close()
			t.Fatal(err)
		}
		var readErr error
		rc.Control(func(fd uintptr) { _, readErr = unix.Read(int(fd), buf) })
		r.Close()
		if readErr == unix.EAGAIN {
			held++
		}
		kids, err := leakcheck.Children()
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) > 0 {
			children++
		}
	}
	t.Logf("of %d failed starts (%v each), %d returned with the child still ours, %d with the pipe still held", tries, took/tries, children, held)
	if children > 0 || held > 0 {
		t.Errorf("of %d failed starts, %d returned with the child still ours, %d with it still holding the pipe; want none", tries, children, held)
	}
}

// testAutoKillFilesBlocking gives a child a pipe that this process uses in
// non-blocking mode: the child gets it in blocking mode, as
// os.StartProcess hands files over.
func testAutoKillFilesBlocking(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	_, pid := startAutoKill(t, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}}, testchild.Sleep)
	fdinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/1", pid))
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	for line := range strings.Lines(string(fdinfo)) {
		if rest, ok := strings.CutPrefix(line, "flags:"); ok {
			flags64, err := strconv.ParseInt(strings.TrimSpace(rest), 8, 64)
			if err != nil {
				t.Fatalf("fdinfo flags %q: %v", rest, err)
			}
			flags = int(flags64)
		}
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Errorf("the child's stdout has O_NONBLOCK (fdinfo flags %o); want it blocking", flags)
	}
}

// TestStartProcessAutoKillKeepsFiles starts no program, since the kernel
// refuses (before Linux 7.1, CLONE_PIDFD_AUTOKILL) or the program does not
// exist, and checks that the files it was given are as they were. Their
// mode belongs to their open file description, which os.File.Fd switches
// to blocking: a read with a deadline would then block.
func TestStartProcessAutoKillKeepsFiles(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		t.Run("Sandboxed", func(t *testing.T) {
			runUnder(t, "clone3-enosys", "^TestStartProcessAutoKillKeepsFiles$", "TestStartProcessAutoKillKeepsFiles")
		})
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	p, err := StartProcessAutoKill("/nonexistent/pidfd-test", nil, &os.ProcAttr{Files: []*os.File{r, w, os.Stderr}})
	if p != nil {
		p.Close()
		t.Fatal("StartProcessAutoKill(missing program) started a process")
	}
	if !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("StartProcessAutoKill(missing program) = %v; want ErrUnsupported or ErrNotExist", err)
	}
	r.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	read := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 1))
		read <- err
	}()
	select {
	case readErr := <-read:
		if !errors.Is(readErr, os.ErrDeadlineExceeded) {
			t.Errorf("Read with a deadline after StartProcessAutoKill (%v) = %v; want os.ErrDeadlineExceeded", err, readErr)
		}
	case <-time.After(5 * time.Second):
		w.Write([]byte{0}) // lets the read end
		<-read
		t.Errorf("a Read with a 50 ms deadline blocked after StartProcessAutoKill (%v): the pipe was left blocking", err)
	}
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var flagsErr error
	rc.Control(func(fd uintptr) { flags, flagsErr = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if flagsErr != nil || flags&unix.O_NONBLOCK == 0 {
		t.Errorf("the pipe's write end has flags %o, %v; want O_NONBLOCK still set", flags, flagsErr)
	}
}

// TestStartProcessAutoKillNofile checks that the child's RLIMIT_NOFILE is
// the one os.StartProcess would give it: Go raises its own soft limit at
// start-up and gives its children the one it started with, unless the
// limit has changed since. It runs in a test process started with a soft
// limit of 256.
func TestStartProcessAutoKillNofile(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "" {
		testAutoKillNofile(t)
		return
	}
	autoKillOrSkip(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 2048 {
		t.Skipf("hard RLIMIT_NOFILE %d: too low to start a test process with a soft limit of 256 that Go raises", lim.Max)
	}
	// Lowered with prlimit, not syscall.Setrlimit: after that Go would no
	// longer give its children the limit this process started with.
	low := unix.Rlimit{Cur: 256, Max: lim.Max}
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	defer unix.Prlimit(0, unix.RLIMIT_NOFILE, &lim, nil)
	runUnder(t, "none", "^TestStartProcessAutoKillNofile$", "TestStartProcessAutoKillNofile")
}

// testAutoKillNofile runs in the test process that
// TestStartProcessAutoKillNofile starts with a soft limit of 256, and
// compares the children of StartProcess and StartProcessAutoKill as it
// calls syscall.Setrlimit.
func testAutoKillNofile(t *testing.T) {
	autoKillOrSkip(t)
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if now.Cur != now.Max-1 {
		t.Fatalf("the test process runs with a soft RLIMIT_NOFILE of %d (hard %d); want Go to have raised it", now.Cur, now.Max)
	}
	childLimit := func(p *PidFd) uint64 {
		t.Helper()
		var lim unix.Rlimit
		if err := unix.Prlimit(mustPIDOf(t, p), unix.RLIMIT_NOFILE, nil, &lim); err != nil {
			t.Fatal(err)
		}
		return lim.Cur
	}
	// The exception the docs state: Go's own limit, set again, looks as
	// if it had never changed, to StartProcessAutoKill and to StartProcess
	// where its child makes a table of its own, not to os.StartProcess.
	exception := now.Max - 1
	if own, _ := ownTableExpected(); own {
		exception = 256
	}
	for _, step := range []struct {
		set         *syscall.Rlimit
		plain, auto uint64
	}{
		{nil, 256, 256},
		// After a Setrlimit, Go gives its children the current limit.
		{&syscall.Rlimit{Cur: 1000, Max: now.Max}, 1000, 1000},
		{&syscall.Rlimit{Cur: now.Max - 1, Max: now.Max}, exception, 256},
	} {
		if step.set != nil {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, step.set); err != nil {
				t.Fatal(err)
			}
		}
		// Not a Go child: Go's runtime raises its own soft limit as it
		// starts, and the reading would race it.
		sleep := []string{"sleep", "3600"}
		plain, err := StartProcess("/bin/sleep", sleep, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := childLimit(plain)
		plain.Kill()
		plain.Wait()
		plain.Close()
		if got != step.plain {
			t.Errorf("after Setrlimit(%v), StartProcess's child has a soft RLIMIT_NOFILE of %d; want %d", step.set, got, step.plain)
		}
		p, err := StartProcessAutoKill("/bin/sleep", sleep, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = childLimit(p)
		waitGone(p)
		if got != step.auto {
			t.Errorf("after Setrlimit(%v), StartProcessAutoKill's child has a soft RLIMIT_NOFILE of %d; want %d", step.set, got, step.auto)
		}
	}
}
