//go:build linux

package pidfd

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// procCgroupIno is the inode number of the process's cgroup v2 directory,
// which is its cgroup ID on 64-bit kernels.
func procCgroupIno(t *testing.T, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	root, err := cgroup2Root()
	if err != nil {
		t.Skip(err)
	}
	for line := range strings.Lines(string(data)) {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			var st unix.Stat_t
			if err := unix.Stat(root+path, &st); err != nil {
				t.Fatal(err)
			}
			return st.Ino
		}
	}
	t.Skip("no cgroup v2 line in /proc/PID/cgroup")
	return 0
}

func TestCredsPPIDCgroup(t *testing.T) {
	leakcheck.Check(t)
	bothPaths(t, func(t *testing.T) {
		for _, s := range liveSubjects {
			t.Run(s.name, func(t *testing.T) {
				p, pid := s.open(t)
				wantPPID, wantCreds := procStatus(t, pid)
				if creds, err := p.Creds(); err != nil || creds != wantCreds {
					t.Errorf("Creds = %+v, %v; /proc says %+v", creds, err, wantCreds)
				}
				if s.name == "other user" && (wantCreds.EUID != 4242 || wantCreds.EGID != 4343) {
					t.Errorf("child runs as %+v; want uid 4242, gid 4343", wantCreds)
				}
				if ppid, err := p.PPID(); err != nil || ppid != wantPPID {
					t.Errorf("PPID = %d, %v; /proc says %d", ppid, err, wantPPID)
				}
				id, err := p.CgroupID()
				if s.name == "zombie" {
					// An exited task has left its cgroup: any answer but a wrong one.
					if err == nil && id != procCgroupIno(t, pid) {
						t.Errorf("zombie CgroupID = %d; /proc says %d", id, procCgroupIno(t, pid))
					}
					return
				}
				if err != nil {
					t.Fatalf("CgroupID: %v", err)
				}
				if kernelIs64Bit() {
					if want := procCgroupIno(t, pid); id != want {
						t.Errorf("CgroupID = %d; the cgroup directory's inode is %d", id, want)
					}
				}
			})
		}
	})
}

// TestPPIDNotNameable asks for the parent of PID 1, which has no PID here:
// the kernel's, or one in an ancestor PID namespace.
func TestPPIDNotNameable(t *testing.T) {
	leakcheck.Check(t)
	bothPaths(t, func(t *testing.T) {
		p, err := Open(1)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if ppid, err := p.PPID(); ppid != 0 || !errors.Is(err, ErrNotInPIDNamespace) {
			t.Errorf("PPID of PID 1 = %d, %v; want 0, ErrNotInPIDNamespace", ppid, err)
		}
	})
}

func TestInfoAfterReap(t *testing.T) {
	leakcheck.Check(t)
	bothPaths(t, func(t *testing.T) {
		_, p := startChild(t, testchild.Exit, "0")
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Creds(); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Creds = %v; want os.ErrProcessDone", err)
		}
		if _, err := p.PPID(); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("PPID = %v; want os.ErrProcessDone", err)
		}
		if _, err := p.CgroupID(); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("CgroupID = %v; want os.ErrProcessDone", err)
		}
		if f, err := p.OpenNamespace(NamespaceNet); !errors.Is(err, os.ErrProcessDone) {
			f.Close()
			t.Errorf("OpenNamespace = %v; want os.ErrProcessDone", err)
		}
		called := false
		err := p.WithProcDir(func(*os.Root) error { called = true; return nil })
		if !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("WithProcDir = %v (fn called: %v); want os.ErrProcessDone", err, called)
		}
	})
}
