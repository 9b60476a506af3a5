//go:build linux && !(amd64 || arm64 || 386)

package spawn

import "syscall"

// Only the architectures with child code can start a process.
const haveChild = false

func clone3(args *cloneArgs, size uintptr, p *plan) (pid, errno uintptr) {
	return 0, uintptr(syscall.ENOSYS) // not reached: Start checks Supported
}
