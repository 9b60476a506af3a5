//go:build linux

// Package leakcheck fails a test that leaves open file descriptors, child
// processes or goroutines behind, and counts the tests it watched. Tests that
// use it must not run in parallel: descriptors and children belong to the
// whole process.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Snapshot is what a process holds at one moment.
type Snapshot struct {
	fds        map[int]string
	goroutines int
}

// Take records the open descriptors and the goroutine count now.
func Take() (Snapshot, error) {
	fds, err := OpenFds()
	return Snapshot{fds: fds, goroutines: runtime.NumGoroutine()}, err
}

// Leaks describes what the process holds now that it did not hold at s: more
// descriptors, more goroutines (after letting finishing ones end), or any
// child process at all. Leaked children are killed and reaped, so that one
// leak does not cascade.
func (s Snapshot) Leaks() []string {
	var leaks []string
	// Goroutines that finish the work of a test exit a moment after it, and
	// may hold descriptors until then.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > s.goroutines && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > s.goroutines {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		leaks = append(leaks, fmt.Sprintf("leaked goroutines: %d before, %d after\n%s", s.goroutines, n, buf))
	}
	// Children too: the package reaps a child whose PidFd was closed
	// unwaited as the child exits, a moment after the test has ended.
	kids, err := Children()
	for err == nil && len(kids) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		kids, err = Children()
	}
	if err != nil {
		leaks = append(leaks, err.Error())
	}
	if len(kids) > 0 {
		leaks = append(leaks, fmt.Sprintf("leaked child processes: %v", kids))
		for _, pid := range kids {
			syscall.Kill(pid, syscall.SIGKILL)
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}
	fds, err := OpenFds()
	if err != nil {
		leaks = append(leaks, err.Error())
	}
	if leaked := newFds(s.fds, fds); len(leaked) > 0 {
		leaks = append(leaks, "leaked file descriptors: "+strings.Join(leaked, ", "))
	}
	return leaks
}

var ran, skipped, failed atomic.Int64

// Check fails t if, when it ends, it has leaked a descriptor, a goroutine or
// a child process, and counts it for Summary.
func Check(t testing.TB) {
	t.Helper()
	before, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, leak := range before.Leaks() {
			t.Error(leak)
		}
		switch {
		case t.Skipped():
			skipped.Add(1)
		case t.Failed():
			failed.Add(1)
		default:
			ran.Add(1)
		}
	})
}

// Run is the body of a TestMain: it runs m's tests, then reports whatever
// they left behind between them (examples and benchmarks have no
// *testing.T to fail), prints the "tests:" line and returns the exit code.
// done, if not nil, runs after the tests; it returns false where a check
// would be wrong (the fuzzing engine keeps workers of its own).
func Run(m *testing.M, done func() (check bool)) int {
	// The runtime poller opens its own descriptors on first use; open them
	// now so that they do not count as leaked.
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	r.Close()
	w.Close()
	before, err := Take()
	if err != nil {
		panic(err)
	}
	code := m.Run()
	if done != nil && !done() {
		return code
	}
	for _, leak := range before.Leaks() {
		fmt.Println("after all tests:", leak)
		code = 1
	}
	fmt.Println("tests:", Summary())
	return code
}

// Summary is a line counting the tests Check watched.
func Summary() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", ran.Load(), failed.Load(), skipped.Load())
}

// OpenFds lists this process's open descriptors as number and target.
func OpenFds() (map[int]string, error) {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	names, err := dir.Readdirnames(-1)
	dirFd := int(dir.Fd())
	dir.Close()
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dirFd {
			continue
		}
		target, _ := os.Readlink("/proc/self/fd/" + name)
		fds[fd] = target
	}
	return fds, nil
}

func newFds(before, after map[int]string) []string {
	var leaked []string
	for fd, target := range after {
		if before[fd] != target {
			leaked = append(leaked, fmt.Sprintf("%d -> %s", fd, target))
		}
	}
	slices.Sort(leaked)
	return leaked
}

// Children lists the PIDs of this process's children, zombies included,
// by the parent field of every /proc/PID/stat.
func Children() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := strconv.Itoa(os.Getpid())
	var kids []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + entry.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		after := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		if fields := strings.Fields(after); len(fields) > 1 && fields[1] == self {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}
