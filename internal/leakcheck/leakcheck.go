// Package leakcheck fails a test that leaves open file descriptors, child
// processes or goroutines behind. Tests that use it must not run in parallel:
// descriptors and children belong to the whole process.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Check records the open descriptors and goroutines now, and at the end of
// the test fails it if more descriptors are open, more goroutines run, or any
// child process (running or zombie) exists. Leaked children are killed and
// reaped so that one failure does not cascade.
func Check(t testing.TB) {
	t.Helper()
	fdsBefore := OpenFds(t)
	goroutinesBefore := runtime.NumGoroutine()
	t.Cleanup(func() {
		if kids := Children(t); len(kids) > 0 {
			t.Errorf("leaked child processes: %v", kids)
			for _, pid := range kids {
				syscall.Kill(pid, syscall.SIGKILL)
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
			}
		}
		if leaked := newFds(fdsBefore, OpenFds(t)); len(leaked) > 0 {
			t.Errorf("leaked file descriptors: %s", strings.Join(leaked, ", "))
		}
		// Goroutines that finish the test's work exit a moment after it.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutinesBefore {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("leaked goroutines: %d before, %d after\n%s", goroutinesBefore, n, buf)
		}
	})
}

// OpenFds lists this process's open descriptors as "N -> target".
func OpenFds(t testing.TB) map[int]string {
	t.Helper()
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	names, err := dir.Readdirnames(-1)
	dirFd := int(dir.Fd())
	dir.Close()
	if err != nil {
		t.Fatal(err)
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
	return fds
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
func Children(t testing.TB) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
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
		after := stat[strings.LastIndexByte(string(stat), ')')+1:]
		fields := strings.Fields(string(after))
		if len(fields) > 1 && fields[1] == strconv.Itoa(self) {
			kids = append(kids, pid)
		}
	}
	return kids
}
