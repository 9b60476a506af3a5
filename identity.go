//go:build linux

package pidfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ID returns the process's 64-bit ID, unique for the life of the system: the
// inode number of its pidfs file. Every pidfd of the process has the same ID,
// and no other process ever gets it, so it can be compared, logged or
// stored. Kernels before pidfs (Linux 6.9) have no such ID and give
// [errors.ErrUnsupported]; the ID stays readable after the process is reaped.
func (p *PidFd) ID() (uint64, error) {
	var id uint64
	err := p.controlFunc(func(fd int) (err error) {
		id, err = pidfsID(fd)
		return err
	})
	return id, err
}

// pidfsID reads the pidfs ID of fd.
func pidfsID(fd int) (uint64, error) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return 0, os.NewSyscallError("fstatfs", err)
	}
	if uint32(fs.Type) != unix.PID_FS_MAGIC {
		return 0, fmt.Errorf("pidfd: no unique process ID before pidfs (Linux 6.9): %w", errors.ErrUnsupported)
	}
	return fileID(fd, "", unix.AT_EMPTY_PATH)
}

// fileID returns the 64-bit ID of a pidfs or kernfs (cgroup2) file: the
// content of its file handle, which carries all 64 bits on every
// architecture; where file handles are missing or forbidden, its inode
// number, which equals the ID on 64-bit kernels.
func fileID(dirfd int, path string, flags int) (uint64, error) {
	handle, _, err := unix.NameToHandleAt(dirfd, path, flags)
	if err == nil && len(handle.Bytes()) == 8 {
		return binary.NativeEndian.Uint64(handle.Bytes()), nil
	}
	if !kernelIs64Bit() {
		if err == nil {
			err = fmt.Errorf("file handle of %d bytes, want 8", len(handle.Bytes()))
		}
		return 0, fmt.Errorf("pidfd: no 64-bit ID on a 32-bit kernel without file handles (%w): %w",
			err, errors.ErrUnsupported)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, path, &st, flags); err != nil {
		return 0, os.NewSyscallError("fstatat", err)
	}
	return st.Ino, nil
}

// kernelIs64Bit reports whether the kernel (not this program, which may be
// a 32-bit one on a 64-bit kernel) has 64-bit inode numbers.
var kernelIs64Bit = sync.OnceValue(func() bool {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return false
	}
	machine := unix.ByteSliceToString(uts.Machine[:])
	return strings.Contains(machine, "64") || machine == "s390x"
})

// Equal reports whether p and other name the same process. With pidfs
// (Linux 6.9+) it compares IDs and is exact for any two pidfds. Before pidfs
// it compares PIDs, which two processes can share only one after the other:
// if both processes are still alive after their PIDs were read, they are one.
// Without pidfs, processes already reaped cannot be compared and are reported
// unequal.
func (p *PidFd) Equal(other *PidFd) bool {
	if p == nil || other == nil {
		return false
	}
	a, errA := p.ID()
	b, errB := other.ID()
	if errA == nil && errB == nil {
		return a == b
	}
	return p.equalByPID(other)
}

// equalByPID compares by PID, for kernels without pidfs.
func (p *PidFd) equalByPID(other *PidFd) bool {
	pidA, errA := p.PID()
	pidB, errB := other.PID()
	if errA != nil || errB != nil || pidA != pidB {
		return false
	}
	return p.alive() && other.alive()
}

// alive reports whether the process has not been reaped.
func (p *PidFd) alive() bool {
	return p.controlFunc(provenAlive) == nil
}
