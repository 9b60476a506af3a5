//go:build linux

package pidfd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestKernelFeatures(t *testing.T) {
	leakcheck.Check(t)
	f := KernelFeatures()
	t.Logf("kernel features: %+v", f)
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var info unix.PidfdInfo
	info.Mask = unix.PIDFD_INFO_PID
	if has, _ := getInfo.has(); has != (unix.IoctlPidfdInfo(int(p.Fd()), &info) == nil) {
		t.Errorf("PIDFD_GET_INFO known as %v, but the ioctl says %v", has, !has)
	}
	if _, err := p.ID(); (err == nil) != f.IDs {
		t.Errorf("IDs = %v, but ID says %v", f.IDs, err)
	}
	thread, err := unix.PidfdOpen(unix.Gettid(), unix.PIDFD_THREAD)
	if err == nil {
		unix.Close(thread)
	}
	if (err == nil) != f.ThreadPidFds {
		t.Errorf("ThreadPidFds = %v, but pidfd_open(PIDFD_THREAD) says %v", f.ThreadPidFds, err)
	}
}

// TestEmulated54 runs the core tests as on Linux 5.4: pidfd_open knows no
// PIDFD_NONBLOCK, so descriptors are made non-blocking with fcntl.
func TestEmulated54(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "5.4", "^(TestNonblockWithoutFlag|TestOpenChild|TestStart|TestFromProcess|TestWaitStatus|TestWaitContext|"+
		"TestCloseDuringWait|TestConcurrentWaitAndSignal|TestCredsPPIDCgroup|TestPIDReuse)$", "TestNonblockWithoutFlag")
}

// TestNonblockWithoutFlag checks, under the 5.4 profile, that the package
// noticed the missing flag and still made non-blocking descriptors.
func TestNonblockWithoutFlag(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "5.4" {
		t.Skip("runs only inside TestEmulated54")
	}
	if _, err := unix.PidfdOpen(os.Getpid(), unix.PIDFD_NONBLOCK); err != unix.EINVAL {
		t.Fatalf("the filter let PIDFD_NONBLOCK through: %v", err)
	}
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	flags, err := unix.FcntlInt(p.Fd(), unix.F_GETFL, 0)
	noticed := nonblockOpen.state.Load() == capMissing
	if err != nil || flags&unix.O_NONBLOCK == 0 || !noticed {
		t.Errorf("descriptor flags %#x (%v), fallback noticed: %v; want O_NONBLOCK by fcntl", flags, err, noticed)
	}
}

// TestPidFdOpenForbidden runs the constructors where a seccomp filter
// forbids pidfd_open, as some container runtimes do.
func TestPidFdOpenForbidden(t *testing.T) {
	leakcheck.Check(t)
	runUnderEach(t, []string{"open-eperm", "open-enosys"}, "^TestForbiddenOpen$", "TestForbiddenOpen")
}

// TestForbiddenOpen checks, under an open-* profile, that every constructor
// reports the refusal clearly and leaves nothing behind.
func TestForbiddenOpen(t *testing.T) {
	leakcheck.Check(t)
	profile := os.Getenv(oldKernelEnv)
	var errno error
	switch profile {
	case "open-eperm":
		errno = syscall.EPERM
	case "open-enosys":
		errno = syscall.ENOSYS
	default:
		t.Skip("runs only inside TestPidFdOpenForbidden")
	}
	refused := func(name string, p *PidFd, err error) {
		t.Helper()
		if p != nil || !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, errno) {
			t.Errorf("%s = %v, %v; want errors.ErrUnsupported and %v", name, p, err, errno)
		}
	}
	p, err := Self()
	refused("Self", p, err)
	p, err = Open(os.Getppid())
	refused("Open", p, err)
	// Refused before anything starts: the program does not run, and cmd
	// can still start it, as a caller that falls back would.
	mark := filepath.Join(t.TempDir(), "ran")
	cmd := exec.Command("sh", "-c", "echo ran > "+mark)
	p, err = Start(cmd)
	refused("Start", p, err)
	if cmd.Process != nil {
		t.Errorf("Start refused, and cmd.Process = %v; want cmd untouched", cmd.Process)
	}
	if err := cmd.Run(); err != nil {
		t.Errorf("cmd.Run after Start's refusal: %v", err)
	}
	if data, err := os.ReadFile(mark); err != nil || string(data) != "ran\n" {
		t.Errorf("the program's mark: %q, %v; want it written once", data, err)
	}
	// StartProcess takes its pidfd from the clone: it needs no pidfd_open.
	p, err = StartProcess("/bin/sh", []string{"sh", "-c", "exit 3"}, nil)
	if err != nil {
		t.Errorf("StartProcess = %v; want a child", err)
	} else {
		status, err := p.Wait()
		if err != nil || status.ExitCode() != 3 {
			t.Errorf("StartProcess's Wait = %v, %v; want exit status 3", status, err)
		}
		p.Close()
	}
	other := testchild.Command(testchild.Exit, "0")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	if p, err := FromProcess(other.Process); p != nil || err == nil {
		t.Errorf("FromProcess = %v, %v; want an error", p, err)
	}
	other.Wait()
	t.Logf("kernel features under %s: %+v", profile, KernelFeatures())
}

// TestAndroid runs the package where the pidfd system calls kill the
// process with SIGSYS, as the app sandbox of Android before 12 does, with
// the package believing that it runs on Android: it must make none of them.
func TestAndroid(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "" {
		t.Skip("already running under a seccomp profile")
	}
	// The filter kills as Android's does.
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAndroidFilterKills$")
	cmd.Env = append(os.Environ(), oldKernelEnv+"=android")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("SIGSYS")) {
		t.Fatalf("a pidfd_open under the android profile: %v, output:\n%s\nwant death by SIGSYS", err, out)
	}
	runUnder(t, "android", "^TestOnAndroid$", "TestOnAndroid")
}

// TestAndroidFilterKills makes a pidfd call under the android profile,
// which must kill it.
func TestAndroidFilterKills(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "android" {
		t.Skip("runs only inside TestAndroid")
	}
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	t.Errorf("pidfd_open under the android profile returned %d, %v", fd, err)
}

// TestOnAndroid checks, under the android profile, that every constructor
// answers errors.ErrUnsupported and makes no pidfd call, which would kill
// this process.
func TestOnAndroid(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "android" {
		t.Skip("runs only inside TestAndroid")
	}
	a, b := unixPair(t, unix.SOCK_STREAM)
	// A pidfd made without pidfd_open (Linux 6.5+), naming this process.
	peerFd, peerErr := -1, error(nil)
	raw, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) {
		peerFd, peerErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	})
	type call struct {
		name string
		call func() error
	}
	cases := []call{
		{"Open", func() error { return openErr(Open(os.Getppid())) }},
		{"Self", func() error { return openErr(Self()) }},
		{"OpenThread", func() error { return openErr(OpenThread(unix.Gettid())) }},
		{"SelfThread", func() error { return openErr(SelfThread()) }},
		{"FromProcess", func() error { return openErr(FromProcess(&os.Process{Pid: os.Getppid()})) }},
		// os/exec would probe pidfds itself, and be killed: Start must
		// refuse before it starts anything.
		{"Start", func() error { return openErr(Start(testchild.Command(testchild.Sleep))) }},
		{"StartProcess", func() error { return openErr(StartProcess(os.Args[0], []string{os.Args[0]}, nil)) }},
		{"FromUnixConn", func() error { return openErr(FromUnixConn(b)) }},
		{"OpenIdentity", func() error {
			boot, err := bootID()
			if err != nil {
				return err
			}
			return openErr(OpenIdentity(Identity{PID: os.Getppid(), Boot: boot, StartTime: 1}))
		}},
		{"PassSender", func() error { return PassSender(b) }},
	}
	if peerErr == nil {
		defer unix.Close(peerFd) // NewFile leaves a descriptor it refuses alone
		cases = append(cases,
			call{"NewFile", func() error { return openErr(NewFile(uintptr(peerFd))) }},
			call{"ReadMessage", func() error {
				if _, _, err := a.WriteMsgUnix([]byte("x"), unix.UnixRights(peerFd), nil); err != nil {
					return err
				}
				_, m, err := ReadMessage(b, make([]byte, 1))
				m.Close()
				return err
			}})
	}
	for _, tc := range cases {
		if err := tc.call(); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s on Android = %v; want errors.ErrUnsupported", tc.name, err)
		}
	}
	if f := KernelFeatures(); f != (Features{}) {
		t.Errorf("KernelFeatures on Android = %+v; want none", f)
	}
}

// TestAutoKillFeature checks that Features.AutoKill says whether
// StartProcessAutoKill works: on this kernel, and where a sandbox refuses
// clone3.
func TestAutoKillFeature(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		runUnder(t, "clone3-enosys", "^TestAutoKillFeature$", "TestAutoKillFeature")
	}
	p, err := StartProcessAutoKill("/bin/true", []string{"true"}, nil)
	works := err == nil
	if works {
		if s, err := p.Wait(); err != nil || !s.Success() {
			t.Errorf("StartProcessAutoKill(true): %v, %v", s, err)
		}
		p.Close()
	} else if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("StartProcessAutoKill: %v", err)
	}
	t.Logf("StartProcessAutoKill works: %v", works)
	if got := KernelFeatures().AutoKill; got != works {
		t.Errorf("Features.AutoKill = %v; StartProcessAutoKill works: %v (%v)", got, works, err)
	}
}
