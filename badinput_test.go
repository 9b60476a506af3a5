//go:build linux

package pidfd

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// TestBadInput hands every exported function input it must refuse, and
// checks each refusal is a clear error, not a panic.
func TestBadInput(t *testing.T) {
	leakcheck.Check(t)
	_, live := startChild(t, testchild.Sleep)
	closed, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	huge := int(^uint(0) >> 1) // MaxInt: beyond pid_t and fd ranges on 64-bit

	threadID := make(chan int)
	release := make(chan struct{})
	// A thread that is not the process's leader: pidfd_open refuses its ID
	// without PIDFD_THREAD.
	var lockThread func()
	lockThread = func() {
		runtime.LockOSThread() // a thread other than the first ends with the goroutine
		if unix.Gettid() == os.Getpid() {
			// The first thread, which cannot end: hold it (unlocked at
			// the end) so that another goroutine gets another thread.
			defer runtime.UnlockOSThread()
			go lockThread()
		} else {
			threadID <- unix.Gettid()
		}
		<-release
	}
	go lockThread()
	tid := <-threadID
	defer close(release)

	cases := []struct {
		name string
		call func() error
		want error // nil: any error will do
	}{
		{"Open(0)", func() error { return openErr(Open(0)) }, syscall.EINVAL},
		{"Open(-1)", func() error { return openErr(Open(-1)) }, syscall.EINVAL},
		{"Open(MinInt)", func() error { return openErr(Open(math.MinInt)) }, syscall.EINVAL},
		{"Open(MaxInt)", func() error { return openErr(Open(huge)) }, nil},
		{"Open(non-leader thread)", func() error { return openErr(Open(tid)) }, syscall.ENOENT},
		{"NewFile(MaxUint)", func() error { return openErr(NewFile(^uintptr(0))) }, ErrNotPidFd},
		{"FromProcess(nil)", func() error { return openErr(FromProcess(nil)) }, os.ErrInvalid},
		{"FromProcess(zero)", func() error { return openErr(FromProcess(&os.Process{})) }, nil},
		{"Start(nil)", func() error { return openErr(Start(nil)) }, os.ErrInvalid},
		{"Start(zero Cmd)", func() error { return openErr(Start(&exec.Cmd{})) }, nil},
		{"Signal(65)", func() error { return live.Signal(syscall.Signal(65)) }, syscall.EINVAL}, // the kernel's refusal
		{"OpenNamespace(0)", func() error { return fileErr(live.OpenNamespace(0)) }, os.ErrInvalid},
		{"OpenNamespace(11)", func() error { return fileErr(live.OpenNamespace(NamespaceUTS + 1)) }, os.ErrInvalid},
		{"OpenNamespace(MinInt)", func() error { return fileErr(live.OpenNamespace(Namespace(math.MinInt))) }, os.ErrInvalid},
		{"Setns(0)", func() error { return live.Setns(0) }, syscall.EINVAL},
		{"Setns()", func() error { return live.Setns() }, syscall.EINVAL},
		{"Setns(user)", func() error { return live.Setns(NamespaceUser) }, syscall.EINVAL},
		{"GetFd(-1)", func() error { return fileErr(live.GetFd(-1)) }, syscall.EBADF},
		{"GetFd(MaxInt)", func() error { return fileErr(live.GetFd(huge)) }, syscall.EBADF},
		{"WithProcDir(nil)", func() error { return live.WithProcDir(nil) }, os.ErrInvalid},
		{"WaitContext(cancelled)", func() error { _, err := live.WaitContext(cancelled); return err }, context.Canceled},
		{"WaitContext(nil)", func() error { var ctx context.Context; _, err := closed.WaitContext(ctx); return err }, os.ErrClosed},
		{"closed PID", func() error { _, err := closed.PID(); return err }, os.ErrClosed},
		{"closed PPID", func() error { _, err := closed.PPID(); return err }, os.ErrClosed},
		{"closed Creds", func() error { _, err := closed.Creds(); return err }, os.ErrClosed},
		{"closed CgroupID", func() error { _, err := closed.CgroupID(); return err }, os.ErrClosed},
		{"closed ID", func() error { _, err := closed.ID(); return err }, os.ErrClosed},
		{"closed OpenNamespace", func() error { return fileErr(closed.OpenNamespace(NamespaceNet)) }, os.ErrClosed},
		{"closed Setns", func() error { return closed.Setns(NamespaceUTS) }, os.ErrClosed},
		{"closed GetFd", func() error { return fileErr(closed.GetFd(0)) }, os.ErrClosed},
		{"closed WithProcDir", func() error { return closed.WithProcDir(func(*os.Root) error { return nil }) }, os.ErrClosed},
		{"closed WaitContext", func() error { _, err := closed.WaitContext(context.Background()); return err }, os.ErrClosed},
		{"closed Kill", func() error { return closed.Kill() }, os.ErrClosed},
	}
	for _, tc := range cases {
		err := tc.call()
		switch {
		case err == nil:
			t.Errorf("%s succeeded; want an error", tc.name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s = %v; want %v", tc.name, err, tc.want)
		}
	}
	// What is no signal at all is refused before any system call, and the
	// error must not blame one; the kernel's own refusal (signal 65 above)
	// is EINVAL too, so one check serves callers.
	badSignals := []os.Signal{nil, notASignal{}, syscall.Signal(-1), syscall.Signal(math.MinInt32)}
	if strconv.IntSize == 64 {
		one := 1
		badSignals = append(badSignals, syscall.Signal(one<<32|int(syscall.SIGKILL))) // SIGKILL in the low 32 bits
	}
	for _, sig := range badSignals {
		for name, send := range map[string]func() error{
			"Signal":                func() error { return live.Signal(sig) },
			"Signal(ToThreadGroup)": func() error { return live.Signal(sig, ToThreadGroup()) },
			"Signal(WithValue)":     func() error { return live.Signal(sig, WithValue(1)) },
		} {
			err := send()
			var sysErr *os.SyscallError
			if !errors.Is(err, syscall.EINVAL) || errors.As(err, &sysErr) {
				t.Errorf("%s(%#v) = %v; want EINVAL without a system call", name, sig, err)
			}
		}
	}
	// Nor is a contradiction among the options.
	for name, opts := range map[string][]SignalOption{
		"an unknown scope":   {{scope: 1 << 20}},
		"two scopes":         {ToThread(), ToProcessGroup()},
		"one scope twice":    {ToThreadGroup(), ToThreadGroup()},
		"two values":         {WithValue(1), WithValue(2)},
		"two values, scoped": {WithValue(1), ToThreadGroup(), WithValue(1)},
	} {
		if err := live.Signal(syscall.SIGTERM, opts...); !errors.Is(err, syscall.EINVAL) || errors.As(err, new(*os.SyscallError)) {
			t.Errorf("Signal with %s = %v; want EINVAL without a system call", name, err)
		}
	}
	if err := live.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the child after the bad signals: %v", err) // none reached it
	}
	if closed.Equal(live) || live.Equal(closed) {
		t.Error("Equal with a closed PidFd reported true")
	}
}

// notASignal is an os.Signal that is no syscall.Signal.
type notASignal struct{}

func (notASignal) String() string { return "not a signal" }
func (notASignal) Signal()        {}

func fileErr(f *os.File, err error) error {
	if f != nil {
		f.Close()
		if err == nil {
			return errors.New("got a file")
		}
	}
	return err
}

// FuzzOpen opens whatever PID it is given: only ever an error or a PidFd
// that names a process of that PID.
func FuzzOpen(f *testing.F) {
	for _, pid := range []int{0, -1, 1, os.Getpid(), math.MaxInt32, math.MinInt32} {
		f.Add(pid)
	}
	f.Fuzz(func(t *testing.T, pid int) {
		p, err := Open(pid)
		if err != nil {
			return
		}
		defer p.Close()
		if got, err := p.PID(); err == nil && got != pid {
			t.Fatalf("Open(%d) names PID %d", pid, got)
		}
	})
}

// FuzzNewFile hands NewFile descriptors of every kind, and numbers no
// descriptor can have: it must accept exactly the pidfds.
func FuzzNewFile(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(1) << 40)
	f.Add(uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, fd uint64) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		self, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			t.Fatal(err)
		}
		event, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(event)
		candidates := []uintptr{r.Fd(), w.Fd(), uintptr(self), uintptr(event)}
		var target uintptr
		if fd < uint64(len(candidates)) {
			target = candidates[fd]
		} else if fd < 1<<20 {
			unix.Close(self)
			return // a small number may be any descriptor of this process
		} else {
			target = uintptr(fd) // larger than any descriptor here (RLIMIT_NOFILE)
		}
		p, err := NewFile(target)
		switch {
		case target == uintptr(self) && err != nil:
			t.Fatalf("NewFile(pidfd) = %v", err)
		case target != uintptr(self) && err == nil:
			p.Close()
			t.Fatalf("NewFile accepted descriptor %d, not a pidfd", target)
		case err != nil && !errors.Is(err, ErrNotPidFd):
			t.Fatalf("NewFile(%d) = %v; want ErrNotPidFd", target, err)
		}
		if p != nil {
			p.Close()
		} else {
			unix.Close(self)
		}
	})
}
