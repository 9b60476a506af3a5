//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// belowLimit is at, or a number well below the soft RLIMIT_NOFILE if at
// is not.
func belowLimit(t *testing.T, at int) int {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return min(at, int(lim.Cur)-64)
}

// fdIdentity is what names the open file behind a descriptor, or "closed".
func fdIdentity(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "closed"
	}
	flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10) + " cloexec=" + strconv.Itoa(flags&unix.FD_CLOEXEC)
}

// TestAttackFakedUnshare starts a child where a sandbox makes close_range
// (or only its CLOSE_RANGE_UNSHARE) return 0 without running: the child
// then still shares this process's table, and every later step of it
// (dup3 onto 0..n-1, close_range(n, ~0U, 0)) would change this process's
// descriptors. StartProcess must leave them as they were.
func TestAttackFakedUnshare(t *testing.T) {
	leakcheck.Check(t)
	for _, profile := range []string{"closerange-faked", "unshare-faked"} {
		t.Run(profile, func(t *testing.T) {
			runUnderWithin(t, profile, "^TestAttackFakedUnshareUnderProfile$", "TestAttackFakedUnshareUnderProfile", 60*time.Second)
		})
	}
}

// TestAttackFakedUnshareUnderProfile is TestAttackFakedUnshare's work.
func TestAttackFakedUnshareUnderProfile(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		t.Skip("runs only under a profile")
	}
	// Save the standard descriptors, to restore them before reporting.
	var saved [3]int
	for i := range saved {
		fd, err := unix.FcntlInt(uintptr(i), unix.F_DUPFD_CLOEXEC, 900)
		if err != nil {
			t.Fatal(err)
		}
		saved[i] = fd
	}
	closeSaved := func() {
		for i, fd := range saved {
			if fd >= 0 {
				unix.Close(fd)
				saved[i] = -1
			}
		}
	}
	defer closeSaved()
	held := holdHighDescriptor(t, belowLimit(t, 4096))
	watched := []int{0, 1, 2, held}
	before := map[int]string{}
	for _, fd := range watched {
		before[fd] = fdIdentity(fd)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The child may be made as os.StartProcess makes it, and inherit the
	// descriptor held: only its standard output is checked.
	cmd := testchild.Command(testchild.Fds, "1")
	p, startErr := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env, Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	after := map[int]string{}
	for _, fd := range watched {
		after[fd] = fdIdentity(fd)
	}
	for i, fd := range saved {
		if after[i] != before[i] {
			unix.Dup3(fd, i, 0)
		}
	}
	closeSaved()
	for _, fd := range watched {
		if after[fd] != before[fd] {
			t.Errorf("descriptor %d of this process: %s before StartProcess, %s after", fd, before[fd], after[fd])
		}
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	defer p.Close()
	status, err := p.Wait()
	if err != nil || !status.Success() {
		t.Errorf("child = %v, %v; want success", status, err)
	}
}

// TestAttackConcurrentStarts starts children from several goroutines at
// once while others open, close, duplicate and dup2 descriptors, start
// children through os/exec, and close the very files given in attr.Files.
// This process's descriptors held throughout must never change, every
// child must write into the pipe it was given and into no other, and no
// start may hang or leave a child behind.
func TestAttackConcurrentStarts(t *testing.T) {
	leakcheck.Check(t)
	// Descriptors held throughout, low and high, without close-on-exec.
	var held []int
	for _, at := range []int{3, 10, 50, 200, 1000, 1100, 5000} {
		held = append(held, holdHighDescriptor(t, belowLimit(t, at)))
	}
	identity := map[int]string{}
	for _, fd := range held {
		identity[fd] = fdIdentity(fd)
	}
	var changed atomic.Value
	checkHeld := func() {
		for _, fd := range held {
			if got := fdIdentity(fd); got != identity[fd] {
				changed.CompareAndSwap(nil, fmt.Sprintf("descriptor %d: %s, then %s", fd, identity[fd], got))
			}
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	// Starters.
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				r, w, err := os.Pipe()
				if err != nil {
					report(err)
					return
				}
				want := fmt.Sprintf("%d-%d", g, i)
				files := []*os.File{nil, w, os.Stderr}
				closer := make(chan struct{})
				if i%3 == 2 { // a file of attr.Files closed during the start
					extra, err := os.Open(os.DevNull)
					if err != nil {
						report(err)
						return
					}
					files = append(files, extra)
					go func() { extra.Close(); close(closer) }()
				} else {
					close(closer)
				}
				p, err := StartProcess("/bin/sh", []string{"sh", "-c", "printf %s " + want + "; [ ! -e /proc/self/fd/4 ]"}, &os.ProcAttr{Files: files})
				<-closer
				w.Close()
				if err != nil {
					r.Close()
					if !errors.Is(err, os.ErrClosed) {
						report(fmt.Errorf("StartProcess: %w", err))
					}
					continue
				}
				out, _ := io.ReadAll(r)
				r.Close()
				status, err := p.Wait()
				p.Close()
				if string(out) != want || err != nil || !status.Success() {
					report(fmt.Errorf("child %s wrote %q, ended %v, %v", want, out, status, err))
				}
			}
		}()
	}
	// Churn: open, close, dup, dup2 onto numbers of its own, pipes.
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own, err := unix.FcntlInt(uintptr(held[0]), unix.F_DUPFD_CLOEXEC, 20)
			if err != nil {
				report(err)
				return
			}
			defer unix.Close(own)
			for time.Now().Before(deadline) {
				f, err := os.Open(os.DevNull)
				if err != nil {
					report(err)
					return
				}
				unix.Dup3(int(f.Fd()), own, unix.O_CLOEXEC)
				r, w, err := os.Pipe()
				if err == nil {
					r.Close()
					w.Close()
				}
				d, err := unix.Dup(int(f.Fd()))
				if err == nil {
					unix.Close(d)
				}
				f.Close()
				checkHeld()
			}
		}()
	}
	// os/exec starts.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			if err := exec.Command("/bin/true").Run(); err != nil {
				report(fmt.Errorf("os/exec: %w", err))
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("hung:\n%s", buf[:runtime.Stack(buf, true)])
	}
	checkHeld()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c := changed.Load(); c != nil {
		t.Errorf("a descriptor held throughout changed: %s", c)
	}
}

// TestAttackFilesEdges gives a child one pipe 150 times, pipes at the top
// of the table (the highest number RLIMIT_NOFILE allows, where no number is
// left above for anything), and a socket.
func TestAttackFilesEdges(t *testing.T) {
	leakcheck.Check(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, files []*os.File, args []string, r *os.File, want string) {
		t.Helper()
		cmd := testchild.Command(testchild.Fds, args...)
		p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env, Files: files})
		for _, f := range files {
			if f != nil && f != os.Stderr {
				f.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		out, _ := io.ReadAll(r)
		status, err := p.Wait()
		if err != nil || !status.Success() || string(out) != want {
			t.Errorf("child %v: %v, %v, wrote %q; want success, %q", args, status, err, out, want)
		}
	}
	t.Run("one pipe 150 times", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		files := make([]*os.File, 150)
		var args []string
		var want string
		for i := range files {
			files[i] = w
			args = append(args, strconv.Itoa(i))
			want += strconv.Itoa(i)
		}
		run(t, files, args, r, want)
	})
	// pipeBelowLimit returns a pipe whose write end is numbered
	// RLIMIT_NOFILE-below.
	pipeBelowLimit := func(t *testing.T, below uint64) (r, high *os.File) {
		if lim.Cur > 1<<16 {
			t.Skipf("RLIMIT_NOFILE %d: too high a table to make", lim.Cur)
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		at := int(lim.Cur - below)
		if err := unix.Dup3(int(w.Fd()), at, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		w.Close()
		return r, os.NewFile(uintptr(at), "high")
	}
	for _, below := range []uint64{2, 100} {
		t.Run(fmt.Sprintf("pipe at limit-%d", below), func(t *testing.T) {
			r, high := pipeBelowLimit(t, below)
			run(t, []*os.File{nil, high, os.Stderr}, []string{"1"}, r, "1")
		})
	}
	t.Run("pipe at limit-1", func(t *testing.T) {
		// No number is left above it: not for the canary of the own
		// table's proof (the child then copies the whole table), nor for
		// os.StartProcess's own moves, which fail with EBADF. StartProcess
		// starts the child or fails so too.
		r, high := pipeBelowLimit(t, 1)
		defer high.Close()
		p, err := StartProcess("/bin/sh", []string{"sh", "-c", "printf 1"}, &os.ProcAttr{Files: []*os.File{nil, high, os.Stderr}})
		var pathErr *os.PathError
		if err != nil {
			if !errors.As(err, &pathErr) || pathErr.Op != "fork/exec" || !errors.Is(err, syscall.EBADF) {
				t.Errorf("StartProcess = %v; want success or os.StartProcess's fork/exec EBADF", err)
			}
			return
		}
		high.Close()
		out, _ := io.ReadAll(r)
		if status, err := p.Wait(); err != nil || !status.Success() || string(out) != "1" {
			t.Errorf("child: %v, %v, wrote %q", status, err, out)
		}
		p.Close()
	})
	t.Run("socket", func(t *testing.T) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := os.NewFile(uintptr(fds[0]), "r")
		defer r.Close()
		w := os.NewFile(uintptr(fds[1]), "w")
		run(t, []*os.File{nil, w, os.Stderr}, []string{"1"}, r, "1")
	})
}

// TestAttackNeverOpened gives a child a number never opened, above the
// limit: the error is os.StartProcess's on both paths.
func TestAttackNeverOpened(t *testing.T) {
	leakcheck.Check(t)
	bad := os.NewFile(uintptr(1<<20), "never opened")
	p, err := StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{Files: []*os.File{nil, bad}})
	var pathErr *os.PathError
	if p != nil || !errors.As(err, &pathErr) || pathErr.Op != "fork/exec" || !errors.Is(err, syscall.EBADF) {
		t.Errorf("StartProcess = %v, %v; want a fork/exec EBADF", p, err)
	}
	if p != nil {
		p.Kill()
		p.Wait()
		p.Close()
	}
}

// TestAttackErrorShapes compares StartProcess's errors with those of
// os.StartProcess, which the fallback path gives: the same *os.PathError
// (Op, Path, errno), no child left, and a non-blocking file given to the
// child non-blocking again.
func TestAttackErrorShapes(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	noShebang := dir + "/noshebang"
	os.WriteFile(noShebang, []byte("\x7fELF-not-really\n"), 0o755)
	notExec := dir + "/notexec"
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	cases := []struct {
		name, path string
		dir        string
	}{
		{"missing", dir + "/missing", ""},
		{"directory", dir, ""},
		{"ENOEXEC", noShebang, ""},
		{"EACCES", notExec, ""},
		// A missing Dir is "chdir" under os.StartProcess, which looks
		// first; "fork/exec" here on both paths (TestStartProcessOwnTableErrors).
		{"relative in Dir", "./missing", "/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pipe := func() *os.File { // non-blocking
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				t.Cleanup(func() { w.Close() })
				return w
			}
			attr := func(w *os.File) *os.ProcAttr {
				return &os.ProcAttr{Dir: c.dir, Files: []*os.File{nil, w, os.Stderr}}
			}
			_, wantErr := os.StartProcess(c.path, []string{c.path}, attr(pipe()))
			w := pipe()
			p, err := StartProcess(c.path, []string{c.path}, attr(w))
			if p != nil {
				p.Kill()
				p.Wait()
				p.Close()
				t.Fatal("started")
			}
			var got, want *os.PathError
			if !errors.As(err, &got) || !errors.As(wantErr, &want) || got.Op != want.Op || got.Path != want.Path || !errors.Is(got.Err, want.Err) {
				t.Errorf("StartProcess = %#v (%v); os.StartProcess = %#v (%v)", err, err, wantErr, wantErr)
			}
			// Where the child makes a table of its own it clears
			// O_NONBLOCK itself, and a failed start sets it back; the
			// fallback, as os.StartProcess, makes the files blocking
			// before it starts (os.File.Fd), for good.
			if own, where := ownTableExpected(); own {
				rc, _ := w.SyscallConn()
				rc.Control(func(fd uintptr) {
					if fl, _ := unix.FcntlInt(fd, unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
						t.Errorf("the pipe given to the failed child is left blocking (%s)", where)
					}
				})
			}
		})
	}
}

// attackNofileEnv marks a test binary that TestAttackLowNofile runs under a
// lowered RLIMIT_NOFILE.
const attackNofileEnv = "PIDFD_TEST_ATTACK_NOFILE"

// TestAttackLowNofile runs TestAttackLowNofileUnderLimit in a process
// started with RLIMIT_NOFILE lowered: a soft limit of 64 or 1024 that Go
// raises at start-up, and hard limits of 64 and 1030 that it cannot, where
// the pidfds cannot sit from 1024 up.
func TestAttackLowNofile(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(attackNofileEnv) != "" || os.Getenv(oldKernelEnv) != "" {
		t.Skip("already under a limit")
	}
	for _, limit := range []string{"-Sn 64", "-Sn 1024", "-n 64", "-n 1030"} {
		t.Run(limit, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `ulimit `+limit+` && exec "$0" -test.v -test.run '^TestAttackLowNofileUnderLimit$'`, os.Args[0])
			cmd.Env = append(os.Environ(), attackNofileEnv+"=1")
			out, err := cmd.CombinedOutput()
			t.Logf("%s", out)
			if err != nil || !bytes.Contains(out, []byte("--- PASS: TestAttackLowNofileUnderLimit")) {
				t.Fatalf("under ulimit %s: %v", limit, err)
			}
		})
	}
}

// childNofiles reports the soft and hard RLIMIT_NOFILE that a child gets
// from os/exec and from StartProcess. The child is a shell, not a Go
// program, which would raise its soft limit as it starts.
func childNofiles(t *testing.T) (osExec, ours string) {
	t.Helper()
	const script = `echo $(ulimit -Sn) $(ulimit -Hn)`
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := StartProcess("/bin/sh", []string{"sh", "-c", script}, &os.ProcAttr{Files: []*os.File{nil, w, os.Stderr}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, _ := io.ReadAll(r)
	p.Wait()
	return strings.TrimSpace(string(out)), strings.TrimSpace(string(got))
}

// TestAttackLowNofileUnderLimit starts children under the limit
// TestAttackLowNofile set: each gets os/exec's RLIMIT_NOFILE, and its
// descriptor, also when this process has almost no number left.
func TestAttackLowNofileUnderLimit(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(attackNofileEnv) == "" {
		t.Skip("runs only under TestAttackLowNofile")
	}
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	t.Logf("RLIMIT_NOFILE %+v", lim)
	if osExec, ours := childNofiles(t); ours != osExec {
		t.Errorf("StartProcess's child has RLIMIT_NOFILE %s; os/exec's, %s", ours, osExec)
	}
	cmd := testchild.Command(testchild.Sleep)
	p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pidfd at %d", p.Fd())
	p.Kill()
	p.Wait()
	p.Close()
	// Almost every number in use: free ones left, 3 then 1.
	for _, free := range []int{3, 1} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var fill []int
		for {
			fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			fill = append(fill, fd)
		}
		for range free {
			unix.Close(fill[len(fill)-1])
			fill = fill[:len(fill)-1]
		}
		cmd := testchild.Command(testchild.Fds, "1")
		p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env, Files: []*os.File{nil, w, os.Stderr}})
		for _, fd := range fill {
			unix.Close(fd)
		}
		w.Close()
		if err != nil {
			t.Logf("with %d free numbers: %v", free, err)
			r.Close()
			continue
		}
		out, _ := io.ReadAll(r)
		r.Close()
		status, err := p.Wait()
		p.Close()
		if err != nil || !status.Success() || string(out) != "1" {
			t.Errorf("with %d free numbers: child %v, %v, wrote %q", free, status, err, out)
		}
	}
}

// TestAttackNofileAfterSetrlimit runs TestAttackNofileAfterSetrlimitUnderLimit
// in a process started with a soft RLIMIT_NOFILE of 256, which Go raises.
func TestAttackNofileAfterSetrlimit(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(attackNofileEnv) != "" || os.Getenv(oldKernelEnv) != "" {
		t.Skip("already under a limit")
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Max < 512 {
		t.Skipf("hard RLIMIT_NOFILE %d (%v): too low", lim.Max, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `ulimit -Sn 256 && exec "$0" -test.v -test.run '^TestAttackNofileAfterSetrlimitUnderLimit$'`, os.Args[0])
	cmd.Env = append(os.Environ(), attackNofileEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestAttackNofileAfterSetrlimitUnderLimit")) {
		t.Fatalf("under ulimit -Sn 256: %v", err)
	}
}

// TestAttackNofileAfterSetrlimitUnderLimit compares the RLIMIT_NOFILE of
// the children of StartProcess and os/exec as this process calls
// syscall.Setrlimit. After any Setrlimit os/exec hands on the current
// limit, also when it is the one Go set at start-up; StartProcess does
// too, but for the exception its doc states where its child makes a table
// of its own: after a Setrlimit to exactly the limit Go set, the child
// gets the one this process started with.
func TestAttackNofileAfterSetrlimitUnderLimit(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(attackNofileEnv) == "" {
		t.Skip("runs only under TestAttackNofileAfterSetrlimit")
	}
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	own, _ := ownTableExpected()
	for i, set := range []*syscall.Rlimit{nil, {Cur: 1000, Max: now.Max}, {Cur: now.Cur, Max: now.Max}} {
		if set != nil {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, set); err != nil {
				t.Fatal(err)
			}
		}
		osExec, ours := childNofiles(t)
		want := osExec
		if i == 2 && own {
			want = fmt.Sprintf("256 %d", now.Max) // the exception
		}
		if ours != want {
			t.Errorf("after Setrlimit(%v): StartProcess's child has RLIMIT_NOFILE %s (os/exec's: %s); want %s", set, ours, osExec, want)
		}
	}
}
