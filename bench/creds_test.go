//go:build linux

// Package bench compares the pidfd package with the popular /proc readers.
// It is a module of its own so that the library keeps golang.org/x/sys as
// its only dependency.
//
//	cd bench && go test -run '^$' -bench . -count 10                          # this kernel
//	cd bench && PIDFD_BENCH_OLD_KERNEL=1 go test -run '^$' -bench . -count 10 # as on 6.1: /proc fallbacks
package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/seccomp"
	"github.com/prometheus/procfs"
	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if os.Getenv("PIDFD_BENCH_OLD_KERNEL") != "" {
		if err := seccomp.Install(seccomp.OldKernel{PidfsIoctls: true, FileHandles: true}); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// startSleeper starts the process the benchmarks read about.
func startSleeper(tb testing.TB) (*pidfd.PidFd, int) {
	tb.Helper()
	cmd := exec.Command("sleep", "3600")
	p, err := pidfd.Start(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Kill()
		p.Wait()
		p.Close()
	})
	return p, cmd.Process.Pid
}

// TestAgree checks that every contender reads the same credentials.
func TestAgree(t *testing.T) {
	p, pid := startSleeper(t)
	ours, err := p.Creds()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := fs.Proc(pid)
	if err != nil {
		t.Fatal(err)
	}
	status, err := proc.NewStatus()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(ours.RUID) != status.UIDs[0] || uint64(ours.EGID) != status.GIDs[1] {
		t.Errorf("pidfd %+v, procfs uids %v gids %v", ours, status.UIDs, status.GIDs)
	}
	gp, err := process.NewProcess(int32(pid))
	if err != nil {
		t.Fatal(err)
	}
	uids, err := gp.Uids()
	if err != nil || uint32(uids[0]) != ours.RUID {
		t.Errorf("pidfd %+v, gopsutil uids %v (%v)", ours, uids, err)
	}
}

func BenchmarkCreds(b *testing.B) {
	p, pid := startSleeper(b)
	b.Run("raw-ioctl", func(b *testing.B) {
		fd := int(p.Fd())
		info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_CREDS}
		if err := unix.IoctlPidfdInfo(fd, &info); err != nil {
			b.Skipf("no PIDFD_GET_INFO here: %v", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			info = unix.PidfdInfo{Mask: unix.PIDFD_INFO_CREDS}
			if err := unix.IoctlPidfdInfo(fd, &info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pidfd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Creds(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewDefaultFS()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			proc, err := fs.Proc(pid)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := proc.NewStatus(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gopsutil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			proc, err := process.NewProcess(int32(pid))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := proc.Uids(); err != nil {
				b.Fatal(err)
			}
			if _, err := proc.Gids(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
