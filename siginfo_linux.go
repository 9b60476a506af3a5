//go:build linux

package pidfd

import (
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The layouts of siginfo_t that the package reads (waitid) and writes
// (pidfd_send_signal with a value). unix.Siginfo hides the fields, so each
// use has a struct of its own, of the kernel's size.

// siginfoHead is the start of siginfo_t that every use here shares. The
// union after the three leading ints is aligned like a pointer, so its
// fields (pid and uid first, for the members used here) start at byte 16 on
// 64-bit and at 12 on 32-bit.
type siginfoHead struct {
	signo int32
	errno int32 // si_code on MIPS, which swaps the two
	code  int32
	_     [ptrSize - 4]byte
	pid   int32
	uid   uint32
}

// siginfoChild is siginfo_t as waitid fills it for a child.
type siginfoChild struct {
	siginfoHead
	status int32
	_      [siginfoSize - 20 - ptrSize]byte
}

// siginfoQueue is siginfo_t as sigqueue fills it (the union's _rt member).
type siginfoQueue struct {
	siginfoHead
	value uintptr
	_     [siginfoSize - 16 - 2*ptrSize]byte
}

const (
	ptrSize     = unsafe.Sizeof(uintptr(0))
	siginfoSize = 128
)

// Each pair of differences must be non-negative: the types have one size.
var (
	_ [unsafe.Sizeof(siginfoChild{}) - unsafe.Sizeof(unix.Siginfo{})]byte
	_ [unsafe.Sizeof(unix.Siginfo{}) - unsafe.Sizeof(siginfoChild{})]byte
	_ [unsafe.Sizeof(siginfoQueue{}) - siginfoSize]byte
	_ [siginfoSize - unsafe.Sizeof(siginfoQueue{})]byte
)

// codeSwapped says that siginfo_t has si_code and si_errno the other way
// round, as on MIPS.
var codeSwapped = strings.HasPrefix(runtime.GOARCH, "mips")

// siQueue is si_code SI_QUEUE, what sigqueue(3) sends. The kernel accepts
// only negative codes from a process signalling another.
const siQueue = -1

// si_code values for SIGCHLD (asm-generic/siginfo.h).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// waitStatus rebuilds the wait4-style status that os.ProcessState holds.
func (si *siginfoChild) waitStatus() syscall.WaitStatus {
	code := si.code
	if codeSwapped {
		code = si.errno
	}
	switch code {
	case cldExited:
		return syscall.WaitStatus(si.status&0xff) << 8
	case cldKilled:
		return syscall.WaitStatus(si.status & 0x7f)
	case cldDumped:
		return syscall.WaitStatus(si.status&0x7f | 0x80)
	}
	return syscall.WaitStatus(si.status)
}
