//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

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

func TestGetFd(t *testing.T) {
	leakcheck.Check(t)
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dup, err := p.GetFd(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dup.WriteString("through the copy"); err != nil {
		t.Fatal(err)
	}
	dup.Close()
	w.Close()
	if got, err := io.ReadAll(r); err != nil || string(got) != "through the copy" {
		t.Errorf("read %q, %v through the pipe", got, err)
	}
	for _, bad := range []int{-1, 1 << 30} {
		if f, err := p.GetFd(bad); !errors.Is(err, syscall.EBADF) {
			f.Close()
			t.Errorf("GetFd(%d) = %v; want EBADF", bad, err)
		}
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

// TestReapedErrorsNameTheMethod asks a reaped process everything that
// learns about it through calls of the package's own: each answers
// os.ErrProcessDone in words that name the method called, not an ioctl or a
// /proc file, by the kernel's calls and by the /proc fallbacks.
func TestReapedErrorsNameTheMethod(t *testing.T) {
	leakcheck.Check(t)
	bothPaths(t, func(t *testing.T) {
		cmd := testchild.Command(testchild.Exit, "0")
		p := startFromProcess(t, cmd)
		defer p.Close()
		cmd.Wait()
		ask := map[string]func() error{
			"PID":      func() error { _, err := p.PID(); return err },
			"PPID":     func() error { _, err := p.PPID(); return err },
			"Creds":    func() error { _, err := p.Creds(); return err },
			"CgroupID": func() error { _, err := p.CgroupID(); return err },
			"OpenNamespace": func() error {
				f, err := p.OpenNamespace(NamespaceUTS)
				if err == nil {
					f.Close()
				}
				return err
			},
			"Identity": func() error { _, err := p.Identity(); return err },
		}
		if KernelFeatures().ThreadPidFds { // signal scopes: Linux 6.9
			ask["Signal to the process group"] = func() error { return p.Signal(syscall.SIGTERM, ToProcessGroup()) }
		}
		for method, call := range ask {
			err := call()
			if !errors.Is(err, os.ErrProcessDone) || !strings.HasPrefix(err.Error(), "pidfd: "+method+": ") {
				t.Errorf("%s of a reaped process: %v; want os.ErrProcessDone, said as \"pidfd: %s: ...\"", method, err, method)
			}
		}
	})
}
