//go:build linux

// Package seccomp makes the running process see an older kernel: a seccomp
// filter makes the newer pidfd calls fail the way kernels without them do,
// so that the pidfd package's fallbacks can be tested on a new kernel. It is
// for tests only: the filter cannot be removed, and it covers every thread.
package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OldKernel describes what to take away.
type OldKernel struct {
	// PidfsIoctls makes every ioctl of the pidfs type (0xFF: the
	// PIDFD_GET_*_NAMESPACE ioctls and PIDFD_GET_INFO) fail with ENOTTY,
	// as on Linux 6.1.
	PidfsIoctls bool
	// FileHandles makes name_to_handle_at fail with EOPNOTSUPP, as for a
	// filesystem without file handles.
	FileHandles bool
	// NoNonblockFlag makes pidfd_open with PIDFD_NONBLOCK (or with
	// PIDFD_THREAD, 6.9) fail with EINVAL, as before Linux 5.10.
	NoNonblockFlag bool
	// NoProcessMrelease makes process_mrelease fail with ENOSYS, as
	// before Linux 5.15.
	NoProcessMrelease bool
	// PidFdTrap makes pidfd_open, pidfd_send_signal, pidfd_getfd and
	// process_mrelease raise SIGSYS instead of failing, which kills a Go
	// program, as the app sandbox of Android before 12 does.
	PidFdTrap bool
	// PidFdOpen, if not zero, makes every pidfd_open fail with it, as some
	// container runtimes do (EPERM, ENOSYS).
	PidFdOpen unix.Errno
	// DenyUnshare, if not zero, makes close_range with CLOSE_RANGE_UNSHARE
	// fail with it, as a policy that allows closing descriptors but not
	// copying the table would.
	DenyUnshare unix.Errno
	// FakeUnshare makes close_range with CLOSE_RANGE_UNSHARE return 0
	// without running, as a sandbox that fakes success would.
	FakeUnshare bool
	// Deny makes each system call it names fail with its errno, as
	// sandboxes that allow pidfds but not signals do; errno 0 makes the
	// call return 0 without running, as a sandbox that fakes success does.
	Deny map[uint32]unix.Errno
}

// auditArch is the AUDIT_ARCH value of the system calls this program makes,
// for the little-endian architectures (the filter reads the low half of a
// 64-bit argument at a little-endian offset).
var auditArch = map[string]uint32{
	"386":     unix.AUDIT_ARCH_I386,
	"amd64":   unix.AUDIT_ARCH_X86_64,
	"arm":     unix.AUDIT_ARCH_ARM,
	"arm64":   unix.AUDIT_ARCH_AARCH64,
	"riscv64": unix.AUDIT_ARCH_RISCV64,
	"ppc64le": unix.AUDIT_ARCH_PPC64LE,
	"loong64": unix.AUDIT_ARCH_LOONGARCH64,
}

// Install applies the filter to every thread of the process, for good.
func Install(k OldKernel) error {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("seccomp: no AUDIT_ARCH known for %s", runtime.GOARCH)
	}
	const (
		offNr   = 0  // seccomp_data.nr
		offArch = 4  // seccomp_data.arch
		offArg1 = 24 // low 32 bits of seccomp_data.args[1] (little-endian)
		offArg2 = 32 // and of args[2]
		allow   = unix.SECCOMP_RET_ALLOW
	)
	errno := func(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }
	load := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	// jumpIf skips the next instruction unless A == k.
	jumpIf := func(k uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: k}
	}

	var prog []unix.SockFilter
	prog = append(prog,
		load(offArch),
		unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: arch},
		ret(allow),
	)
	// rule makes system call nr end in action.
	rule := func(nr, action uint32) []unix.SockFilter {
		return []unix.SockFilter{load(offNr), jumpIf(nr), ret(action)}
	}
	// fail makes system call nr fail with e.
	fail := func(nr uint32, e unix.Errno) []unix.SockFilter { return rule(nr, errno(e)) }
	// failWithBits makes nr fail with e when its argument at offset arg
	// has all the bits of mask set.
	failWithBits := func(nr, arg, mask uint32, e unix.Errno) []unix.SockFilter {
		return []unix.SockFilter{
			load(offNr),
			{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 4, K: nr}, // else past the ret
			load(arg),
			{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: mask},
			jumpIf(mask),
			ret(errno(e)),
		}
	}
	if k.FileHandles {
		prog = append(prog, fail(unix.SYS_NAME_TO_HANDLE_AT, unix.EOPNOTSUPP)...)
	}
	if k.PidfsIoctls {
		prog = append(prog, failWithBits(unix.SYS_IOCTL, offArg1, 0xff00, unix.ENOTTY)...) // _IOC_TYPE 0xFF
	}
	if k.PidFdOpen != 0 {
		prog = append(prog, fail(unix.SYS_PIDFD_OPEN, k.PidFdOpen)...)
	}
	for nr, e := range k.Deny {
		prog = append(prog, fail(nr, e)...)
	}
	if k.DenyUnshare != 0 || k.FakeUnshare {
		prog = append(prog, failWithBits(unix.SYS_CLOSE_RANGE, offArg2, unix.CLOSE_RANGE_UNSHARE, k.DenyUnshare)...)
	}
	if k.NoProcessMrelease {
		prog = append(prog, fail(unix.SYS_PROCESS_MRELEASE, unix.ENOSYS)...)
	}
	if k.PidFdTrap {
		for _, nr := range []uint32{unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_SEND_SIGNAL, unix.SYS_PIDFD_GETFD, unix.SYS_PROCESS_MRELEASE} {
			prog = append(prog, rule(nr, unix.SECCOMP_RET_TRAP)...)
		}
	}
	if k.NoNonblockFlag {
		prog = append(prog, failWithBits(unix.SYS_PIDFD_OPEN, offArg1, unix.PIDFD_NONBLOCK, unix.EINVAL)...)
		prog = append(prog, failWithBits(unix.SYS_PIDFD_OPEN, offArg1, unix.PIDFD_THREAD, unix.EINVAL)...)
	}
	prog = append(prog, ret(allow))

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: PR_SET_NO_NEW_PRIVS: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("seccomp: SECCOMP_SET_MODE_FILTER: %w", e)
	}
	return nil
}
