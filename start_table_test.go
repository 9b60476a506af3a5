//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// kernelAtLeast reports whether the running kernel's release is at least
// major.minor, and the release.
func kernelAtLeast(major, minor int) (bool, string) {
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	var haveMajor, haveMinor int
	fmt.Sscanf(release, "%d.%d", &haveMajor, &haveMinor)
	return haveMajor > major || haveMajor == major && haveMinor >= minor, release
}

// profilesWithoutOwnTable are the seccomp profiles under which
// StartProcess's child cannot make a table of its own.
var profilesWithoutOwnTable = []string{"5.4", "5.4-signal-eperm", "unshare-eperm", "unshare-faked", "closerange-faked", "clone3-enosys"}

// ownTableExpected reports whether StartProcess's child must get a
// descriptor table of its own here: from Linux 5.11 (close_range's flags), on the
// architectures with the child code, unless a profile takes a call away.
func ownTableExpected() (bool, string) {
	has, release := kernelAtLeast(5, 11)
	archHas := runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" || runtime.GOARCH == "386"
	for _, profile := range profilesWithoutOwnTable {
		if os.Getenv(oldKernelEnv) == profile {
			return false, fmt.Sprintf("Linux %s under the %s profile", release, profile)
		}
	}
	return has && archHas, fmt.Sprintf("Linux %s, %s", release, runtime.GOARCH)
}

// holdHighDescriptor opens /dev/null without close-on-exec at a number at
// or above at, or where RLIMIT_NOFILE is lower, a little below the limit,
// for the test's length.
func holdHighDescriptor(t *testing.T, at int) int {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < uint64(at)+64 {
		at = int(lim.Cur) - 64
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	fd, err := unix.FcntlInt(null.Fd(), unix.F_DUPFD, at)
	if err != nil {
		t.Fatalf("fcntl(F_DUPFD, %d): %v", at, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestStartProcessOwnTable checks what a StartProcess child's descriptor
// table holds. Where the child makes a table of its own (Linux 5.11+, the
// child code's architectures, Sys settings it makes), it holds attr.Files
// alone, and is no larger than they need, however high the descriptors
// this process holds: the start did not copy the whole table. Elsewhere the
// child is made as os.StartProcess makes it, and inherits every
// descriptor without close-on-exec. Under the profiles that take the
// child's calls away it falls back, and works.
func TestStartProcessOwnTable(t *testing.T) {
	leakcheck.Check(t)
	own, where := ownTableExpected()
	// Descriptors without close-on-exec, which os.StartProcess hands on:
	// one far above the child's, one just above.
	high := holdHighDescriptor(t, 4096)
	low := holdHighDescriptor(t, 3)
	before := map[int][2]uint64{}
	for _, fd := range []int{0, 1, 2, low, high} {
		id, err := fileOf(fd)
		if err != nil {
			t.Fatal(err)
		}
		before[fd] = id
	}
	check := func(t *testing.T, sys *syscall.SysProcAttr, own bool) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		args := []string{"1", "-" + strconv.Itoa(high), "-" + strconv.Itoa(low), "table<" + strconv.Itoa(high)}
		if !own {
			args = []string{"1", strconv.Itoa(high), strconv.Itoa(low)} // inherited: written to
		}
		cmd := testchild.Command(testchild.Fds, args...)
		p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env, Files: []*os.File{nil, w, os.Stderr}, Sys: sys})
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		status, err := p.Wait()
		if err != nil || !status.Success() {
			t.Errorf("child checking %v (own table: %v, %s) = %v, %v; want success (3: a descriptor it should not have; 5: a table copied whole)", args, own, where, status, err)
		}
		// Whatever the child did to its table, this process's is as it was.
		for fd, want := range before {
			if got, err := fileOf(fd); err != nil || got != want {
				t.Errorf("descriptor %d of this process: %v, %v after the start; want %v as before", fd, got, err, want)
			}
		}
	}
	t.Run("plain", func(t *testing.T) { check(t, nil, own) })
	t.Run("Setsid", func(t *testing.T) { check(t, &syscall.SysProcAttr{Setsid: true}, own) })
	t.Run("Pdeathsig", func(t *testing.T) { check(t, &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}, own) })
	// A setting the child code does not make: os.StartProcess's way.
	same := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), NoSetGroups: true}
	t.Run("Credential", func(t *testing.T) { check(t, &syscall.SysProcAttr{Credential: same}, false) })
	if os.Getenv(oldKernelEnv) == "" {
		runUnderEach(t, profilesWithoutOwnTable, "^TestStartProcessOwnTable$", "TestStartProcessOwnTable")
	}
}

// TestStartProcessOwnTableErrors checks that StartProcess's errors are the
// same whichever way the child is made: a missing program, a missing Dir,
// a closed file, a NUL byte, and that no child is left.
func TestStartProcessOwnTableErrors(t *testing.T) {
	leakcheck.Check(t)
	closed, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	cases := []struct {
		name       string
		path       string
		attr       *os.ProcAttr
		want       error
		wantOp     string
		notPathErr bool
	}{
		{"missing program", "/nonexistent/pidfd-test", nil, os.ErrNotExist, "fork/exec", false},
		{"missing Dir", "/bin/true", &os.ProcAttr{Dir: "/nonexistent/pidfd-test"}, os.ErrNotExist, "fork/exec", false},
		{"not a program", "/", nil, syscall.EACCES, "fork/exec", false},
		{"NUL byte", "/bin/tr\x00ue", nil, syscall.EINVAL, "fork/exec", false},
		{"closed file", "/bin/true", &os.ProcAttr{Files: []*os.File{closed}}, os.ErrClosed, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := StartProcess(c.path, []string{c.path}, c.attr)
			if p != nil {
				p.Kill()
				p.Wait()
				p.Close()
				t.Fatalf("StartProcess started a child")
			}
			if c.notPathErr {
				if !errors.Is(err, c.want) {
					t.Errorf("StartProcess = %v; want %v", err, c.want)
				}
				return
			}
			var pathErr *os.PathError
			if !errors.As(err, &pathErr) || pathErr.Op != c.wantOp || pathErr.Path != c.path || !errors.Is(err, c.want) {
				t.Errorf("StartProcess = %v (%T); want a *PathError %s %q for %v", err, err, c.wantOp, c.path, c.want)
			}
		})
	}
	if os.Getenv(oldKernelEnv) == "" {
		runUnderEach(t, []string{"5.4"}, "^TestStartProcessOwnTableErrors$", "TestStartProcessOwnTableErrors")
	}
}

// TestStartProcessFiles checks that StartProcess places attr.Files as
// StartProcessAutoKill does: below, on and above their numbers, one file
// twice, with holes; and the child's own table where it is expected.
func TestStartProcessFiles(t *testing.T) {
	leakcheck.Check(t)
	own, _ := ownTableExpected()
	testFilesPlaced(t, own, func(attr *os.ProcAttr, args []string) *PidFd {
		cmd := testchild.Command(testchild.Fds, args...)
		attr.Env = cmd.Env
		p, err := StartProcess(cmd.Path, cmd.Args, attr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			p.Kill()
			p.Wait()
			p.Close()
		})
		return p
	})
	if os.Getenv(oldKernelEnv) == "" {
		runUnderEach(t, []string{"5.4"}, "^TestStartProcessFiles$", "TestStartProcessFiles")
	}
}

// fileOf is the device and inode of descriptor fd's file.
func fileOf(fd int) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return [2]uint64{}, err
	}
	return [2]uint64{uint64(st.Dev), st.Ino}, nil
}

// TestStartProcessPdeathsig checks that a StartProcess child with
// Pdeathsig dies of it when its starter dies, whichever way it was made.
func TestStartProcessPdeathsig(t *testing.T) {
	leakcheck.Check(t)
	starter, pid := startStarter(t, "pdeathsig")
	watch, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	starter.Process.Kill()
	starter.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, err := watch.WaitContext(ctx)
	switch {
	case errors.Is(err, ErrNoExitStatus): // ended; a kernel before 6.15 keeps no status for a non-child
	case err != nil:
		t.Fatalf("the child of a SIGKILLed starter: %v; want it to end of Pdeathsig", err)
	case status.Signal() != syscall.SIGKILL:
		t.Errorf("the child of a SIGKILLed starter ended with %v; want SIGKILL", status)
	}
	if os.Getenv(oldKernelEnv) == "" {
		runUnderEach(t, []string{"5.4"}, "^TestStartProcessPdeathsig$", "TestStartProcessPdeathsig")
	}
}

// TestPidFdsSetAside checks where the pidfds the package makes sit: from
// pidfdFloor up, where RLIMIT_NOFILE allows, whichever constructor made
// them; and that NewFile keeps the number it was given.
func TestPidFdsSetAside(t *testing.T) {
	leakcheck.Check(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur <= pidfdFloor+64 {
		t.Skipf("soft RLIMIT_NOFILE %d: no room above %d", lim.Cur, pidfdFloor)
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	opened, err := Open(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	cmd := testchild.Command(testchild.Sleep)
	started, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { started.Kill(); started.Wait(); started.Close() }()
	cmd = testchild.Command(testchild.Sleep)
	fromCmd, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { fromCmd.Kill(); fromCmd.Wait(); fromCmd.Close() }()
	for name, p := range map[string]*PidFd{"Self": self, "Open": opened, "StartProcess": started, "Start": fromCmd} {
		if fd := p.Fd(); fd < pidfdFloor {
			t.Errorf("%s's pidfd is descriptor %d; want %d or above", name, fd, pidfdFloor)
		}
	}
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	adopted, err := NewFile(uintptr(fd))
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer adopted.Close()
	if got := adopted.Fd(); got != uintptr(fd) {
		t.Errorf("NewFile(%d) holds descriptor %d; want the one it was given", fd, got)
	}
}
