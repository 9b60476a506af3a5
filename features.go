//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// KernelFeatures probes the kernel, once per process, and reports what it
// found.
func KernelFeatures() Features {
	if onAndroid {
		return Features{} // see unsupported
	}
	return probeFeatures()
}

var probeFeatures = sync.OnceValue(func() Features {
	var f Features
	pid := os.Getpid()
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	f.NonblockOpen = err == nil
	if err != nil {
		if fd, err = unix.PidfdOpen(pid, 0); err != nil {
			return f // no pidfds at all
		}
	}
	defer unix.Close(fd)

	var fs unix.Statfs_t
	f.Pidfs = unix.Fstatfs(fd, &fs) == nil && uint32(fs.Type) == unix.PID_FS_MAGIC
	var info unix.PidfdInfo
	info.Mask = unix.PIDFD_INFO_PID
	f.GetInfo = unix.IoctlPidfdInfo(fd, &info) == nil
	if ns, err := unix.IoctlRetInt(fd, unix.PIDFD_GET_PID_NAMESPACE); err == nil {
		unix.Close(ns)
		f.NamespaceIoctls = true
	} else {
		f.NamespaceIoctls = errors.Is(err, unix.EOPNOTSUPP) // known ioctl, kind not built
	}
	_, _, err = unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
	f.FileHandles = err == nil && f.Pidfs
	if thread, err := unix.PidfdOpen(unix.Gettid(), unix.PIDFD_THREAD); err == nil {
		unix.Close(thread)
		f.ThreadPidfds = true
	}
	f.ExitInfo = f.GetInfo && kernelAtLeast(6, 15)
	if pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err == nil {
		if peer, err := unix.GetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			unix.Close(peer)
			f.PeerPidfd = true
		}
		unix.Close(pair[0])
		unix.Close(pair[1])
	}
	return f
})

// kernelAtLeast compares the running kernel's version with major.minor. It
// serves features that no call can probe without side effects.
func kernelAtLeast(major, minor int) bool {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return false
	}
	release := unix.ByteSliceToString(uts.Release[:])
	var gotMajor, gotMinor int
	if _, err := fmt.Sscanf(release, "%d.%d", &gotMajor, &gotMinor); err != nil {
		return false
	}
	return gotMajor > major || gotMajor == major && gotMinor >= minor
}
