//go:build linux

// Command vminit is /init of the virtual machines vmtest boots: it mounts
// the kernel's filesystems, runs /pidfd.test with the arguments in /args,
// reaps orphans meanwhile, prints the test binary's exit status on a marker
// line, and powers the machine off.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitMarker starts the line that carries the test binary's exit status.
const ExitMarker = "VMTEST-EXIT:"

// StartMarker is printed once the kernel has booted and run init: a machine
// that stops before it failed to boot, not to test.
const StartMarker = "VMTEST-START"

func main() {
	code := run()
	// The console may hold a partial line (firmware escape codes): start afresh.
	fmt.Printf("\n%s %d\n", ExitMarker, code)
	unix.Sync()
	// With qemu's -no-reboot a restart ends qemu; it needs no ACPI.
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

func run() int {
	fmt.Printf("\n%s\n", StartMarker)
	mounts := []struct{ source, target, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			fmt.Println("vminit:", err)
			return 125
		}
		if err := unix.Mount(m.source, m.target, m.fstype, 0, ""); err != nil {
			fmt.Printf("vminit: mount %s: %v\n", m.target, err)
			return 125
		}
	}
	argText, err := os.ReadFile("/args")
	if err != nil {
		fmt.Println("vminit:", err)
		return 125
	}
	args := []string{"/pidfd.test"}
	for line := range strings.Lines(string(argText)) {
		if line = strings.TrimSuffix(line, "\n"); line != "" {
			args = append(args, line)
		}
	}
	// PIDFD_VMTEST tells the tests that they run in a throwaway VM, where
	// they may change what is global to the machine (core_pattern).
	env := []string{"PATH=/bin", "HOME=/tmp", "TMPDIR=/tmp", "PIDFD_VMTEST=1"}
	proc, err := os.StartProcess(args[0], args, &os.ProcAttr{
		Dir:   "/tmp",
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		fmt.Println("vminit:", err)
		return 125
	}
	// As PID 1 we inherit every orphan: reap them all until the test ends.
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Println("vminit: wait:", err)
			return 125
		}
		if pid != proc.Pid {
			continue
		}
		if status.Signaled() {
			fmt.Printf("vminit: test binary killed by %v\n", status.Signal())
			return 128 + int(status.Signal())
		}
		return status.ExitStatus()
	}
}
