//go:build linux

package spawn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestMain(m *testing.M) {
	testchild.RunIfChild(nil)
	// The first signal.Notify (TestNoHandlerBeforeExec's) starts
	// os/signal's goroutine, which never ends: start it before the count.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	signal.Stop(c)
	os.Exit(leakcheck.Run(m, func() bool { return true }))
}

func supportedOrSkip(t *testing.T) {
	t.Helper()
	if !Supported {
		if _, _, err := Start(&Attr{Path: "/bin/true"}); err != syscall.ENOSYS {
			t.Fatalf("Start on %s = %v; want ENOSYS", runtime.GOARCH, err)
		}
		t.Skipf("no child code for %s (checked that Start says so)", runtime.GOARCH)
	}
}

// TestLayout checks the offsets each architecture's assembly uses against
// the layout Go gives the plan and its steps: all words, in order.
func TestLayout(t *testing.T) {
	leakcheck.Check(t)
	word := unsafe.Sizeof(uintptr(0))
	var p plan
	var st step
	if unsafe.Offsetof(p.steps) != 0 || unsafe.Offsetof(p.n) != word || unsafe.Offsetof(p.done) != 2*word ||
		unsafe.Offsetof(p.errno) != 3*word || unsafe.Offsetof(st.a4) != 4*word || unsafe.Offsetof(st.want) != 5*word ||
		unsafe.Sizeof(st) != 6*word {
		t.Fatalf("the plan or a step is not words in the order the assembly reads them")
	}
	sources, _ := filepath.Glob("child_*.s")
	if len(sources) == 0 {
		t.Skip("the assembly sources are not here (a test binary run elsewhere)")
	}
	for _, source := range sources {
		src, err := os.ReadFile(source)
		if err != nil {
			t.Fatal(err)
		}
		word := 8
		if source == "child_386.s" {
			word = 4
		}
		want := map[string]int{"PLAN_STEPS": 0, "PLAN_N": word, "PLAN_DONE": 2 * word, "PLAN_ERRNO": 3 * word, "STEP_WANT": 5 * word, "STEP_SIZE": 6 * word}
		for _, m := range regexp.MustCompile(`(?m)^#define (\w+) (\d+)$`).FindAllStringSubmatch(string(src), -1) {
			v, _ := strconv.Atoi(m[2])
			if w, ok := want[m[1]]; !ok || v != w {
				t.Errorf("%s: %s is %d; the layout says %d", source, m[1], v, w)
			}
			delete(want, m[1])
		}
		for name := range want {
			t.Errorf("%s does not define %s", source, name)
		}
	}
}

// start starts a test child in a role with SIGCHLD as its exit signal,
// so that it is reaped as usual; reap collects it.
func start(t *testing.T, attr Attr, role string, args ...string) int {
	t.Helper()
	cmd := testchild.Command(role, args...)
	attr.Path, attr.Argv, attr.Env = cmd.Path, cmd.Args, cmd.Env
	attr.ExitSignal = syscall.SIGCHLD
	pid, pidfd, err := Start(&attr)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if pidfd != -1 {
		t.Errorf("a pidfd (%d) without CLONE_PIDFD", pidfd)
	}
	return pid
}

func reap(t *testing.T, pid int) syscall.WaitStatus {
	t.Helper()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("wait4(%d): %v", pid, err)
		}
		return ws
	}
}

func TestStart(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	pid := start(t, Attr{Dir: dir, Files: []int{-1, int(w.Fd()), 2}, Setpgid: true}, testchild.Sleep)
	w.Close()
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != dir {
		t.Errorf("child's directory %q, %v; want %q", cwd, err, dir)
	}
	// The vfork parent resumes when exec lets go of its memory, before the
	// new program's environment is in place: until then it reads empty.
	var env []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		env, err = os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || len(env) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !bytes.Contains(env, []byte("PIDFD_TEST_CHILD_ROLE=sleep\x00")) {
		t.Errorf("child's environment %q, %v; want the role in it", env, err)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("child's process group %d, %v; want its own", pgid, err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	if ws := reap(t, pid); ws.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %v; want SIGKILL", ws)
	}
	if out, err := io.ReadAll(r); len(out) != 0 || err != nil {
		t.Errorf("read %q, %v from the child's stdout; want EOF", out, err)
	}

	pid = start(t, Attr{Files: []int{-1, -1, 2}}, testchild.Exit, "5")
	if ws := reap(t, pid); ws.ExitStatus() != 5 {
		t.Errorf("child ended with %v; want exit status 5", ws)
	}
}

// TestStandardFilesClosed starts a program that is not Go (which would
// open /dev/null on closed standard descriptors) with fewer than three
// files: the others must be closed, not the parent's.
func TestStandardFilesClosed(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	for n := range 3 {
		files := []int{0, 1, 2}[:n]
		pid, _, err := Start(&Attr{Path: sleep, Argv: []string{"sleep", "60"}, Files: files, ExitSignal: syscall.SIGCHLD})
		if err != nil {
			t.Fatal(err)
		}
		// Start returns once exec has replaced the child's memory, a
		// moment before the kernel closes its close-on-exec descriptors:
		// a descriptor that must be closed may show open for that moment.
		for fd := range 3 {
			var open bool
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				_, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
				if open = err == nil; open == (fd < n) || time.Now().After(deadline) {
					break
				}
			}
			if open != (fd < n) {
				t.Errorf("with %d files, descriptor %d of the child open: %v; want %v", n, fd, open, fd < n)
			}
		}
		syscall.Kill(pid, syscall.SIGKILL)
		reap(t, pid)
	}
}

// TestOtherFilesClosed holds a descriptor without close-on-exec that is
// not in Files, as one that another goroutine has just made and not yet
// marked: the child must not have it.
func TestOtherFilesClosed(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	fd, err := unix.Dup(2) // without close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	pid := start(t, Attr{Files: []int{-1, -1, 2}}, testchild.Fds, "-"+strconv.Itoa(fd))
	if ws := reap(t, pid); ws.ExitStatus() != 0 {
		t.Errorf("child checking that descriptor %d is closed ended with %v; want exit status 0", fd, ws)
	}
}

// TestBlocking hands a child a pipe that this process uses in non-blocking
// mode: the child gets it blocking, and a child whose exec fails leaves it
// as it was.
func TestBlocking(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	r, w, err := os.Pipe() // both ends non-blocking
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	nonblocking := func(fd int) bool {
		t.Helper()
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fl&unix.O_NONBLOCK != 0
	}
	// Fd would switch w to blocking mode; a raw conn's Control does not.
	wfd := -1
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { wfd = int(fd) })
	if !nonblocking(wfd) {
		t.Fatal("os.Pipe's write end is not non-blocking")
	}
	pid, _, err := Start(&Attr{Path: "/nonexistent/spawn-test", Files: []int{-1, wfd, wfd}, Blocking: true, ExitSignal: syscall.SIGCHLD})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start(missing program) = %v; want ErrNotExist", err)
	}
	reap(t, pid)
	if !nonblocking(wfd) {
		t.Error("a failed exec left the pipe blocking")
	}
	pid = start(t, Attr{Files: []int{-1, wfd, 2}, Blocking: true}, testchild.Sleep)
	defer reap(t, pid)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if nonblocking(wfd) {
		t.Error("the child's stdout is non-blocking")
	}
}

// TestNoHandlerBeforeExec stops a child between clone3 and execve, started
// without CLONE_CLEAR_SIGHAND in Flags, and queues it a signal that this
// process handles (signal.Notify). The child shares our memory and the
// signal stack of the thread that cloned it: Go's handler must not run in
// it, which would deliver the signal here. The signal's default action
// must kill it instead.
func TestNoHandlerBeforeExec(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGUSR1)
	defer signal.Stop(got)
	cmd := testchild.Command(testchild.Exit, "0")
	// Descriptors to close, one system call each, keep the child busy
	// before its exec for long enough to be caught there.
	for holes := 1 << 17; holes <= 1<<20; holes *= 2 {
		files := make([]int, holes)
		for i := range files {
			files[i] = -1
		}
		done := make(chan struct{})
		caught := make(chan bool, 1)
		go func() { caught <- signalBeforeExec(syscall.SIGUSR1, done) }()
		pid, _, err := Start(&Attr{Path: cmd.Path, Argv: cmd.Args, Env: cmd.Env, Files: files, ExitSignal: syscall.SIGCHLD})
		close(done)
		queued := <-caught
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		ws := reap(t, pid)
		if !queued {
			t.Logf("with %d descriptors to close, the child had execed before it could be stopped", holes)
			continue
		}
		select {
		case <-got:
			t.Fatal("this process received the SIGUSR1 sent only to the child: Go's handler ran in the child")
		case <-time.After(200 * time.Millisecond):
		}
		if ws.Signal() != syscall.SIGUSR1 {
			t.Errorf("child ended with %v; want death by SIGUSR1, its default action", ws)
		}
		return
	}
	t.Fatal("could not stop a child before its exec")
}

// signalBeforeExec waits for the child Start is making, stops it, and if
// it has not execed yet queues sig to it, then lets it go on. It reports
// whether it queued sig, and gives up once done is closed and no child is
// left to stop.
func signalBeforeExec(sig syscall.Signal, done <-chan struct{}) bool {
	const forkNoExec = 0x40 // PF_FORKNOEXEC: set by fork, cleared by exec
	for {
		kids, _ := leakcheck.Children()
		if len(kids) == 0 {
			select {
			case <-done:
				return false
			default:
				continue
			}
		}
		pid := kids[0]
		if syscall.Kill(pid, syscall.SIGSTOP) != nil {
			return false
		}
		defer syscall.Kill(pid, syscall.SIGCONT)
		// A signal stops the child at its next return to user space, so
		// once stopped it is either before its exec or after it.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				return false
			}
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if fields[0] == "Z" || fields[0] == "X" {
				return false // it ended first
			}
			if fields[0] != "T" {
				continue
			}
			flags, _ := strconv.ParseUint(fields[6], 10, 64)
			if flags&forkNoExec == 0 {
				return false
			}
			return syscall.Kill(pid, sig) == nil
		}
		return false
	}
}

// TestSignalMask starts a child from a thread that blocks SIGUSR1: the
// child must start with no signal blocked (under os/exec it would keep
// the thread's mask).
func TestSignalMask(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	var usr1 unix.Sigset_t
	usr1.Val[0] = 1 << (unix.SIGUSR1 - 1)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &usr1, &old); err != nil {
		t.Fatal(err)
	}
	pid := start(t, Attr{}, testchild.Sleep)
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	defer reap(t, pid)
	defer syscall.Kill(pid, syscall.SIGKILL)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(status, []byte("\nSigBlk:\t0000000000000000\n")) {
		t.Errorf("the child starts with signals blocked:\n%s", status)
	}
}

func TestStartErrors(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	cmd := testchild.Command(testchild.Sleep)
	tests := []struct {
		attr Attr
		want string
		is   error
	}{
		{Attr{Path: "/nonexistent/spawn-test"}, "fork/exec /nonexistent/spawn-test: no such file or directory", os.ErrNotExist},
		{Attr{Path: cmd.Path, Dir: "/nonexistent/spawn-test"}, "chdir /nonexistent/spawn-test: no such file or directory", os.ErrNotExist},
		{Attr{Path: cmd.Path, Files: []int{0, 1 << 20}}, "descriptor 1 of the new process: dup3: bad file descriptor", syscall.EBADF},
		{Attr{Path: cmd.Path, Setpgid: true, Pgid: 1 << 30}, "setpgid: ", nil},
	}
	for _, test := range tests {
		test.attr.ExitSignal = syscall.SIGCHLD
		pid, pidfd, err := Start(&test.attr)
		if err == nil || !strings.Contains(err.Error(), test.want) || test.is != nil && !errors.Is(err, test.is) {
			t.Errorf("Start(%+v) = %v; want %q (%v)", test.attr, err, test.want, test.is)
		}
		if pidfd != -1 {
			t.Errorf("a pidfd (%d) after a failed start", pidfd)
		}
		if pid > 0 {
			// Without CLONE_AUTOREAP the failed child is a zombie,
			// exited with status 127.
			if ws := reap(t, pid); ws.ExitStatus() != 127 {
				t.Errorf("the failed child ended with %v; want exit status 127", ws)
			}
		}
	}
	// A NUL byte is the caller's error, never clone3's bare errno.
	for _, attr := range []Attr{
		{Path: "a\x00b"},
		{Path: cmd.Path, Argv: []string{"a\x00b"}},
		{Path: cmd.Path, Env: []string{"A=\x00"}},
		{Path: cmd.Path, Dir: "/\x00tmp"},
	} {
		pid, pidfd, err := Start(&attr)
		var pathErr *os.PathError
		if pid != -1 || pidfd != -1 || !errors.As(err, &pathErr) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Start(%+v) = %d, %d, %v; want a *PathError for EINVAL and no child", attr, pid, pidfd, err)
		}
	}
}

// TestConcurrent starts children from many goroutines while others start
// programs with os/exec and the garbage collector runs: every child must
// run and exit with its own status, and no start may hang.
func TestConcurrent(t *testing.T) {
	leakcheck.Check(t)
	supportedOrSkip(t)
	const workers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each+workers)
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(2)
	go func() { // os/exec's own vfork, concurrently
		defer churn.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := testchild.Command(testchild.Exit, "0").Run(); err != nil {
				errs <- fmt.Errorf("os/exec: %w", err)
			}
		}
	}()
	go func() { // garbage, and collections
		defer churn.Done()
		var keep [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			keep = append(keep, make([]byte, 64<<10))
			if len(keep) > 64 {
				keep = nil
				runtime.GC()
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				code := (w*each + i) % 100
				cmd := testchild.Command(testchild.Exit, strconv.Itoa(code))
				pid, _, err := Start(&Attr{Path: cmd.Path, Argv: cmd.Args, Env: cmd.Env, Files: []int{-1, -1, 2}, ExitSignal: syscall.SIGCHLD})
				if err != nil {
					errs <- err
					continue
				}
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != code {
					errs <- fmt.Errorf("child %d: %v, %v; want exit status %d", pid, ws, err, code)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkStartBesideExec measures how long a start of true(1) takes
// while 16 goroutines start it with os/exec, and os.StartProcess's under
// the same load for comparison. os/exec's starts share one hold of
// syscall.ForkLock among them; a start that takes the lock for itself
// waits for a moment when none is in flight.
func BenchmarkStartBesideExec(b *testing.B) {
	if !Supported {
		b.Skipf("no child code for %s", runtime.GOARCH)
	}
	path, err := exec.LookPath("true")
	if err != nil {
		b.Skip(err)
	}
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range 16 {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				exec.Command(path).Run()
			}
		}()
	}
	defer func() {
		close(stop)
		load.Wait()
	}()
	argv := []string{"true"}
	b.Run("Start", func(b *testing.B) {
		for b.Loop() {
			pid, _, err := Start(&Attr{Path: path, Argv: argv, ExitSignal: syscall.SIGCHLD})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
			b.StartTimer()
		}
	})
	b.Run("os.StartProcess", func(b *testing.B) {
		for b.Loop() {
			p, err := os.StartProcess(path, argv, &os.ProcAttr{})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			p.Wait()
			b.StartTimer()
		}
	})
}
