//go:build linux

package pidfd

import "golang.org/x/sys/unix"

// pidfdFloor is the lowest number the package gives a pidfd it makes. A
// supervisor holds one per child: kept above the numbers where a program's
// other descriptors live, they leave the low ones free for the files it
// hands its children, and a start copies only the part of the descriptor
// table below those files (see internal/spawn's Start). The table's memory
// grows to the highest number in use, so the floor costs a table of 2,048
// entries, about 16 KB of kernel memory, once.
const pidfdFloor = 1024

// setAside moves fd, a pidfd the package has just made, to the lowest free
// number at or above pidfdFloor, and returns its number. Where none is
// (RLIMIT_NOFILE at or below the floor, or every number above it in use),
// fd stays where it is. No one else knows fd's number yet, so no one can
// see it change.
func setAside(fd int) int {
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, pidfdFloor)
	if err != nil || fd >= pidfdFloor {
		if err == nil {
			unix.Close(high)
		}
		return fd
	}
	unix.Close(fd)
	return high
}
