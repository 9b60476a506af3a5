//go:build linux

package pidfd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

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
