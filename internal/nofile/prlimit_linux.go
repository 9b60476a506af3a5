//go:build linux && (amd64 || arm64 || 386)

package nofile

// prlimitNofile reads this process's RLIMIT_NOFILE into lim with
// prlimit64, in assembly since the package may import nothing, and returns
// 0 or the negated errno.
//
//go:noescape
func prlimitNofile(lim *Limit) (errno uintptr)
