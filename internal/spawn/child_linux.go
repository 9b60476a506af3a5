//go:build linux && (amd64 || arm64 || 386)

package spawn

const haveChild = true

// clone3 calls clone3(args, size) with CLONE_VM|CLONE_VFORK in args. In the
// parent it returns the child's PID or the errno once the child has execed
// or exited. The child makes the system calls of p in order and exits with
// status 127 at the first that fails, after writing its errno to p.errno;
// p.done counts those that succeeded.
//
//go:noescape
func clone3(args *cloneArgs, size uintptr, p *plan) (pid, errno uintptr)
