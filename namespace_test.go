//go:build linux

package pidfd

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestOpenNamespace(t *testing.T) {
	leakcheck.Check(t)
	subjects := []subject{liveSubjects[0], liveSubjects[1], {"new namespaces", func(t *testing.T) (*PidFd, int) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to create namespaces")
		}
		cmd := testchild.Command(testchild.Sleep)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC |
			syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP}
		return startCmd(t, cmd), cmd.Process.Pid
	}}}
	bothPaths(t, func(t *testing.T) {
		for _, s := range subjects {
			t.Run(s.name, func(t *testing.T) {
				p, pid := s.open(t)
				for ns := NamespaceCgroup; ns <= NamespaceUTS; ns++ {
					var want unix.Stat_t
					if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/"+ns.String(), &want); err != nil {
						t.Logf("%s: not in /proc (%v): skipped", ns, err)
						continue
					}
					f, err := p.OpenNamespace(ns)
					if err != nil {
						t.Errorf("OpenNamespace(%s): %v", ns, err)
						continue
					}
					var got unix.Stat_t
					err = unix.Fstat(int(f.Fd()), &got)
					f.Close()
					if err != nil || got.Ino != want.Ino || got.Dev != want.Dev {
						t.Errorf("OpenNamespace(%s) is inode %d; /proc/%d/ns/%s is %d", ns, got.Ino, pid, ns, want.Ino)
					}
				}
			})
		}
	})
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, bad := range []Namespace{0, -1, NamespaceUTS + 1} {
		if f, err := p.OpenNamespace(bad); !errors.Is(err, os.ErrInvalid) {
			f.Close()
			t.Errorf("OpenNamespace(%d) = %v; want os.ErrInvalid", bad, err)
		}
	}
	if got := Namespace(42).String(); got != "Namespace(42)" {
		t.Errorf("Namespace(42).String() = %q", got)
	}
}

func TestSetns(t *testing.T) {
	leakcheck.Check(t)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	// No kinds at all: setns(pidfd, 0) is EINVAL, as the kernel's own
	// selftest requires.
	for _, bad := range [][]Namespace{{NamespaceUser}, {NamespaceMount}, {NamespacePIDForChildren}, {0}, {}} {
		if err := self.Setns(bad...); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Setns(%v) = %v; want EINVAL", bad, err)
		}
	}
	if err := unix.Setns(int(self.Fd()), 0); err != unix.EINVAL {
		t.Errorf("the kernel's setns(pidfd, 0) = %v; want EINVAL, as Setns() answers", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create and enter a UTS namespace")
	}
	bothPaths(t, func(t *testing.T) {
		cmd := testchild.Command(testchild.Hostname, "pidfd-setns-test")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
		ready, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := startCmd(t, cmd)
		if line, err := io.ReadAll(io.LimitReader(ready, 6)); err != nil || string(line) != "ready\n" {
			t.Fatalf("child said %q, %v; want ready", line, err)
		}
		want := "pidfd-setns-test"
		got := make(chan string, 1)
		go func() {
			// This thread's namespace changes for good: it must end with
			// the goroutine, so it is never unlocked.
			runtime.LockOSThread()
			if err := p.Setns(NamespaceUTS, NamespaceNet); err != nil {
				got <- "Setns: " + err.Error()
				return
			}
			var uts unix.Utsname
			unix.Uname(&uts)
			got <- unix.ByteSliceToString(uts.Nodename[:])
		}()
		if name := <-got; name != want {
			t.Errorf("host name after Setns = %q; want %q", name, want)
		}
	})
}
