//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// learnOnce returns a function that runs learn until its answer is definite
// and from then on returns that answer without running it, as
// sync.OnceValues does with the first answer. Definite are a success and an
// error that is [errors.ErrUnsupported] (this process can never have the
// thing). Any other error (out of descriptors or memory, interrupted,
// anything unexpected) goes to that caller alone, and the next call runs
// learn again.
func learnOnce[T any](learn func() (T, error)) func() (T, error) {
	var (
		settled atomic.Bool
		mu      sync.Mutex // one learner at a time
		value   T
		err     error
	)
	return func() (T, error) {
		if settled.Load() {
			return value, err
		}
		mu.Lock()
		defer mu.Unlock()
		if !settled.Load() {
			v, e := learn()
			if e != nil && !errors.Is(e, errors.ErrUnsupported) {
				return v, e
			}
			value, err = v, e
			settled.Store(true)
		}
		return value, err
	}
}

// KernelFeatures probes the kernel, once per process, and reports what it
// found. A probe that cannot finish for a passing reason (the process is
// out of descriptors or memory) reports what it could not check as false,
// and the next call probes again.
func KernelFeatures() Features {
	f, _ := kernelFeatures()
	return f
}

// kernelFeatures is KernelFeatures with the reason a probe did not finish,
// for the package's own decisions.
var kernelFeatures = learnOnce(func() (Features, error) {
	var f Features
	if onAndroid {
		return f, nil // no probing there: see unsupported
	}
	// has tells whether a probing call worked. Success, and the errors of
	// a kernel without the call, ioctl, flag or option (or a policy that
	// denies it), are answers; any other error leaves the probe unfinished.
	var unfinished error
	has := func(call string, err error) bool {
		switch err {
		case nil:
			return true
		case unix.ENOSYS, unix.ENOTTY, unix.EINVAL, unix.EOPNOTSUPP, unix.ENOPROTOOPT, unix.EPERM:
			return false
		}
		if unfinished == nil {
			unfinished = fmt.Errorf("pidfd: cannot probe the kernel now: %w", os.NewSyscallError(call, err))
		}
		return false
	}
	pid := os.Getpid()
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	f.NonblockOpen = err == nil
	if err == unix.EINVAL {
		fd, err = unix.PidfdOpen(pid, 0)
	}
	if !has("pidfd_open", err) {
		return f, unfinished // no pidfds at all, or none for now
	}
	defer unix.Close(fd)

	var fs unix.Statfs_t
	f.Pidfs = has("fstatfs", unix.Fstatfs(fd, &fs)) && uint32(fs.Type) == unix.PID_FS_MAGIC
	var info unix.PidfdInfo
	info.Mask = unix.PIDFD_INFO_PID
	f.GetInfo = has("ioctl PIDFD_GET_INFO", unix.IoctlPidfdInfo(fd, &info))
	ns, err := unix.IoctlRetInt(fd, unix.PIDFD_GET_PID_NAMESPACE)
	if err == nil {
		unix.Close(ns)
	}
	// EOPNOTSUPP: a known ioctl, for a kind the kernel was built without.
	f.NamespaceIoctls = err == unix.EOPNOTSUPP || has("ioctl PIDFD_GET_PID_NAMESPACE", err)
	_, _, err = unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
	f.FileHandles = has("name_to_handle_at", err) && f.Pidfs
	thread, err := unix.PidfdOpen(unix.Gettid(), unix.PIDFD_THREAD)
	if f.ThreadPidfds = has("pidfd_open", err); f.ThreadPidfds {
		unix.Close(thread)
	}
	f.ExitInfo = f.GetInfo && kernelAtLeast(6, 15)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if has("socketpair", err) {
		peer, err := unix.GetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_PEERPIDFD)
		if f.PeerPidfd = has("getsockopt SO_PEERPIDFD", err); f.PeerPidfd {
			unix.Close(peer)
		}
		unix.Close(pair[0])
		unix.Close(pair[1])
	}
	return f, unfinished
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
