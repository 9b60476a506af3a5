// Package nofile keeps the RLIMIT_NOFILE limits this process started with.
//
// Go raises its own soft limit when package syscall initializes
// (syscall/rlimit.go, Go 1.19+), so that Go programs are not held to the
// 1024 descriptors that select(2) needs, and gives the original back to the
// children it starts itself. It keeps the original unexported. This package
// imports nothing, so Go initializes it before package syscall: packages
// initialize in the order of their import paths wherever their imports
// allow it (the Go spec, since Go 1.21), and "github.com/..." comes before
// "syscall". Its init reads the limits then.
package nofile

// Limit is a soft and a hard limit, as prlimit64 reads them.
type Limit struct {
	Cur, Max uint64
}

var (
	start Limit
	known bool
)

func init() {
	known = prlimitNofile(&start) == 0
}

// Start returns the RLIMIT_NOFILE limits this process started with, read
// before Go raised the soft limit, and whether they could be read (only on
// Linux, for amd64, arm64 and 386).
func Start() (Limit, bool) {
	return start, known
}
