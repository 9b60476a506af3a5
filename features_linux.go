//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd/internal/spawn"
	"golang.org/x/sys/unix"
)

// A capability is one thing the kernel may or may not offer this process: a
// system call, a flag, an ioctl, a socket option. Kernels differ, and a
// seccomp filter can take any of them away, so the package never judges by
// the kernel's version what it can learn from the kernel's own answers:
// those of the package's calls (a call that works shows the capability; a
// "no such call" error, on a kernel that has not answered the call before,
// shows it missing) and, where a call's error cannot tell, those of a probe
// that changes nothing. A definite answer is kept for the life of the
// process. A probe that cannot finish for a passing reason (out of
// descriptors or memory, say) keeps nothing: its error goes to that caller
// alone, and the next question probes again.
type capability struct {
	// state is capUnknown, capPresent or capMissing. The package's hot
	// paths load it before a call and store it only to change it.
	state atomic.Int32
	name  string // what it is, for errors: "thread pidfds (PIDFD_THREAD)"
	since string // the Linux release that brought it, for errors: "6.9"
	// probe asks the kernel without side effects. It reports whether the
	// kernel offers the capability; its error, a passing failure.
	probe func() (bool, error)
	mu    sync.Mutex // one probe at a time
}

// PIDFD_GET_INFO flags that golang.org/x/sys/unix lacks, from Linux 7.3's
// include/uapi/linux/pidfd.h.
const (
	pidfdInfoSupportedMask  = 1 << 5 // PIDFD_INFO_SUPPORTED_MASK: want/got supported_mask (not 6.18)
	pidfdInfoCoredumpSignal = 1 << 6 // PIDFD_INFO_COREDUMP_SIGNAL: coredump_signal is set
	pidfdInfoCoredumpCode   = 1 << 7 // PIDFD_INFO_COREDUMP_CODE: coredump_code is set
)

const (
	capUnknown = iota
	capPresent
	capMissing
)

// What the package asks the kernel for. Each is learned from the answers of
// the calls that need it, and probed where those cannot tell.
var (
	nonblockOpen = capability{name: "pidfd_open(PIDFD_NONBLOCK)", since: "5.10", probe: func() (bool, error) {
		fd, err := unix.PidfdOpen(os.Getpid(), unix.PIDFD_NONBLOCK)
		return closeIfOpen(fd, "pidfd_open", err)
	}}
	setnsPidFd = capability{name: "setns on a pidfd", since: "5.8", probe: probeSetns}
	peerPidFd  = capability{name: "SO_PEERPIDFD", since: "6.5", probe: probePeerPidFd}
	pidfsIDs   = capability{name: "pidfs IDs", since: "6.9", probe: func() (bool, error) {
		return withSelfPidFd(func(fd int) (bool, error) {
			_, err := pidfsID(fd)
			switch {
			case err == nil:
				return true, nil
			case errors.Is(err, errors.ErrUnsupported):
				return false, nil
			}
			return false, err
		})
	}}
	threadPidFds = capability{name: "thread pidfds (PIDFD_THREAD)", since: "6.9", probe: func() (bool, error) {
		fd, err := unix.PidfdOpen(unix.Gettid(), unix.PIDFD_THREAD)
		return closeIfOpen(fd, "pidfd_open", err)
	}}
	namespaceIoctls = capability{name: "PIDFD_GET_*_NAMESPACE", since: "6.11", probe: func() (bool, error) {
		return withSelfPidFd(func(fd int) (bool, error) {
			ns, err := unix.IoctlRetInt(fd, unix.PIDFD_GET_PID_NAMESPACE)
			if err == nil {
				unix.Close(ns)
			}
			return knowsCall("ioctl PIDFD_GET_PID_NAMESPACE", err)
		})
	}}
	getInfo = capability{name: "PIDFD_GET_INFO", since: "6.13", probe: func() (bool, error) {
		return withSelfPidFd(func(fd int) (bool, error) {
			info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_PID}
			err := unix.IoctlPidfdInfo(fd, &info)
			if err == unix.EPERM || err == unix.EACCES {
				return false, nil // a policy's refusal (see infoFallBack)
			}
			return knowsCall("ioctl PIDFD_GET_INFO", err)
		})
	}}
	exitInfo     = capability{name: "PIDFD_INFO_EXIT", since: "6.15", probe: probeExitInfo}
	coredumpInfo = capability{name: "PIDFD_INFO_COREDUMP", since: "6.16", probe: func() (bool, error) {
		if has, err := getInfo.ask(); err != nil || !has {
			return false, err
		}
		info, call, err := selfInfo(unix.PIDFD_INFO_COREDUMP)
		if err != nil {
			return answered(call, err)
		}
		if info.Mask&pidfdInfoSupportedMask != 0 {
			return info.Supported_mask&unix.PIDFD_INFO_COREDUMP != 0, nil
		}
		// A kernel that knows the flag answers it for a live process:
		// whether it would be dumped, and as whom.
		return info.Mask&unix.PIDFD_INFO_COREDUMP != 0, nil
	}}
)

// autoKill is StartProcessAutoKill's clone3 flags, which no call can ask
// about without making a child: the probe makes one whose first step fails
// (execve of a directory), so that it exits at once, and the kernel reaps
// it. A clone3 that fails tells instead: EINVAL for flags the kernel does
// not know, ENOSYS or EPERM from a sandbox.
var autoKill = capability{name: "CLONE_PIDFD_AUTOKILL", since: "7.1", probe: func() (bool, error) {
	if !spawn.Supported {
		return false, nil
	}
	_, fd, err := spawn.Start(&spawn.Attr{Path: "/", Argv: []string{"/"}, Files: []int{-1, -1, -1}, Flags: autoKillFlags})
	if err == nil {
		unix.Close(fd) // cannot happen: "/" is no program; the close kills it
		return true, nil
	}
	if errno, cloneFailed := err.(syscall.Errno); cloneFailed {
		return answered("clone3", errno)
	}
	return true, nil // a step failed: the child ran
}}

// kernelFeatures is KernelFeatures with the reason a question went
// unanswered, for the package's own decisions.
func kernelFeatures() (Features, error) {
	var first error
	ask := func(c *capability) bool {
		has, err := c.has()
		if first == nil {
			first = err
		}
		return has
	}
	return Features{
		PeerPidFd:    ask(&peerPidFd),
		ThreadPidFds: ask(&threadPidFds),
		ExitInfo:     ask(&exitInfo),
		IDs:          ask(&pidfsIDs),
		Coredumps:    ask(&coredumpInfo),
		AutoKill:     ask(&autoKill),
	}, first
}

// has reports whether the kernel offers c, probing once if no answer is
// known yet. Its error says that the probe could not finish now; nothing
// is then known, and the next call probes again.
func (c *capability) has() (bool, error) {
	has, err := c.ask()
	if err != nil {
		return false, fmt.Errorf("pidfd: cannot ask the kernel about %s now: %w", c.name, err)
	}
	return has, nil
}

// ask is has with the probe's own error.
func (c *capability) ask() (bool, error) {
	if s := c.state.Load(); s != capUnknown {
		return s == capPresent, nil
	}
	if onAndroid {
		return false, nil // no pidfd call may be made there: see unsupported
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.state.Load(); s != capUnknown {
		return s == capPresent, nil
	}
	has, err := c.probe()
	if err == nil {
		c.learn(has)
	}
	return has, err
}

// learn keeps a definite answer.
func (c *capability) learn(has bool) {
	if has {
		c.state.Store(capPresent)
	} else {
		c.state.Store(capMissing)
	}
}

// fallBack learns what err, the answer of a call that needs c, says about
// c, given the state known before the call, and reports whether the caller
// must fall back. Success shows c present. ENOTTY, EINVAL and ENOSYS ("no
// such call") show it missing, unless the kernel has answered the call
// before: then they are the call's own answer, as ESRCH, EPERM and EBADF
// always are. (Nothing here touches c after a successful call on a known
// kernel: with page-table isolation the return from a syscall costs a TLB
// miss per page.)
func (c *capability) fallBack(known int32, err error) bool {
	switch {
	case err == nil:
		if known != capPresent {
			c.state.Store(capPresent)
		}
	case known != capPresent && (err == unix.ENOTTY || err == unix.EINVAL || err == unix.ENOSYS):
		c.state.Store(capMissing)
		return true
	}
	return false
}

// explain turns err, the answer of call, into the error to return where a
// kernel without c would answer the same (EINVAL, often): the call's own
// error if the kernel offers c, [errors.ErrUnsupported] naming c if not, or
// the reason the kernel cannot be asked now.
func (c *capability) explain(call string, err error) error {
	has, probeErr := c.ask()
	switch {
	case probeErr != nil:
		return fmt.Errorf("pidfd: %s answered %v, and the kernel cannot be asked why now: %w", call, err, probeErr)
	case !has:
		return fmt.Errorf("pidfd: %s needs Linux %s: %w", c.name, c.since, errors.ErrUnsupported)
	}
	return wrapErr(call, err)
}

// answered turns a probing call's error into an answer. Success, and the
// errors of a kernel without the call, ioctl, flag or option (or of a policy
// that denies it), are answers; any other error is a passing failure.
func answered(call string, err error) (bool, error) {
	switch err {
	case nil:
		return true, nil
	case unix.ENOSYS, unix.ENOTTY, unix.EINVAL, unix.EOPNOTSUPP, unix.ENOPROTOOPT, unix.EPERM:
		return false, nil
	}
	return false, os.NewSyscallError(call, err)
}

// knowsCall turns the error of a probing call that has a fallback into an
// answer by fallBack's rule, so that a capability means the same whichever
// learned it: only "no such call" errors show it missing. Any other answer
// (EPERM from a policy, EOPNOTSUPP for a namespace kind the kernel was built
// without) comes from a kernel that knows the call, and is the call's own
// answer; only a passing failure is an error.
func knowsCall(call string, err error) (bool, error) {
	switch err {
	case unix.ENOTTY, unix.EINVAL, unix.ENOSYS:
		return false, nil
	case unix.ENOMEM, unix.EINTR, unix.EAGAIN:
		return false, os.NewSyscallError(call, err)
	}
	return true, nil
}

// closeIfOpen is answered for a probing call that returns a descriptor,
// which it closes.
func closeIfOpen(fd int, call string, err error) (bool, error) {
	if err == nil {
		unix.Close(fd)
	}
	return answered(call, err)
}

// withSelfPidFd runs probe with a pidfd of this process: a kernel or a
// policy without pidfds offers nothing that needs one.
func withSelfPidFd(probe func(fd int) (bool, error)) (bool, error) {
	fd, err := openSelf()
	if err != nil {
		return answered("pidfd_open", err)
	}
	defer unix.Close(fd)
	return probe(fd)
}

// openSelf opens a pidfd of this process for a probe. Where a sandbox
// refuses pidfd_open (EPERM, ENOSYS), the kernel still hands one out as the
// peer of a socket pair (SO_PEERPIDFD, 6.5+): a refused pidfd_open says
// nothing of the ioctls and pidfs that a probe asks about. Its error is
// pidfd_open's.
func openSelf() (int, error) {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != unix.EPERM && err != unix.ENOSYS {
		return fd, err
	}
	pair, pairErr := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if pairErr != nil {
		return -1, err
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	peer, peerErr := unix.GetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	if peerErr != nil {
		return -1, err
	}
	return peer, nil
}

// probeSetns enters its own UTS namespace on a thread of its own, which
// changes nothing: 5.8+ answers success or EPERM, older kernels EINVAL (a
// pidfd is not a namespace file).
func probeSetns() (bool, error) {
	return withSelfPidFd(func(fd int) (bool, error) {
		answer := make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			answer <- unix.Setns(fd, unix.CLONE_NEWUTS)
		}()
		switch err := <-answer; err {
		case nil, unix.EPERM:
			return true, nil
		case unix.EINVAL:
			return false, nil
		default:
			return false, os.NewSyscallError("setns", err)
		}
	})
}

// probePeerPidFd asks for the peer pidfd of a socket pair of its own.
func probePeerPidFd() (bool, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return answered("socketpair", err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	peer, err := unix.GetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	return closeIfOpen(peer, "getsockopt SO_PEERPIDFD", err)
}

// learnOnce returns a function that runs learn until its answer is definite
// and from then on returns that answer without running it, as
// sync.OnceValues does with the first answer: what capability does for the
// kernel's answers, for the values the package reads once per process (the
// boot ID, where cgroup2 is mounted). Definite are a success and an error
// that is [errors.ErrUnsupported] (this process can never have the thing).
// Any other error goes to that caller alone, and the next call runs learn
// again.
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

// selfInfo asks PIDFD_GET_INFO on a pidfd of this process for the fields
// in want and for the flags the kernel supports (PIDFD_INFO_SUPPORTED_MASK,
// which kernels before it ignore: the answer's mask then lacks the flag).
// Its error is the errno of the call it names, for answered.
func selfInfo(want uint64) (info unix.PidfdInfo, call string, err error) {
	fd, err := openSelf()
	if err != nil {
		return info, "pidfd_open", err
	}
	defer unix.Close(fd)
	for {
		info = unix.PidfdInfo{Mask: want | pidfdInfoSupportedMask}
		if err = unix.IoctlPidfdInfo(fd, &info); err != unix.EINTR {
			return info, "ioctl PIDFD_GET_INFO", err
		}
	}
}

// probeExitInfo asks whether the kernel records exit statuses. The kernel
// fills only the fields it has, and never says which flags of a request it
// does not know (fs/pidfs.c, pidfd_info; see internal/NOTES.md), so a
// running process cannot tell: a kernel that answers the supported mask
// says so in it; one that answers PIDFD_INFO_COREDUMP (6.16, after
// PIDFD_INFO_EXIT in 6.15) records exits; any other is asked about a thread
// of this process that has ended.
func probeExitInfo() (bool, error) {
	if has, err := getInfo.ask(); err != nil || !has {
		return false, err
	}
	info, call, err := selfInfo(unix.PIDFD_INFO_COREDUMP)
	switch {
	case err != nil:
		return answered(call, err)
	case info.Mask&pidfdInfoSupportedMask != 0:
		return info.Supported_mask&unix.PIDFD_INFO_EXIT != 0, nil
	case info.Mask&unix.PIDFD_INFO_COREDUMP != 0:
		return true, nil
	}
	return probeExitByThread()
}

// probeExitByThread ends an OS thread of its own (a goroutine that returns
// with its thread locked ends the thread) and asks the thread's pidfd for
// PIDFD_INFO_EXIT once the kernel has reaped it, which it does at once for
// any thread but the first. Without thread pidfds it answers no: the
// safe answer, since Wait then reports ErrNoExitStatus rather than waiting
// for a record that may never come.
func probeExitByThread() (bool, error) {
	if has, err := threadPidFds.ask(); err != nil || !has {
		return false, err
	}
	for range 3 {
		type opened struct {
			fd  int
			err error
		}
		answer := make(chan opened)
		go func() {
			runtime.LockOSThread()
			tid := unix.Gettid()
			if tid == os.Getpid() {
				// The first thread never ends before the process.
				runtime.UnlockOSThread()
				answer <- opened{-1, nil}
				return
			}
			fd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
			answer <- opened{fd, err}
			// Returns locked: the thread ends with the goroutine.
		}()
		o := <-answer
		if o.err != nil {
			return answered("pidfd_open", o.err)
		}
		if o.fd >= 0 {
			return askEndedThread(o.fd)
		}
	}
	return false, nil
}

// askEndedThread waits (a few seconds at most) until the thread of fd has
// been reaped, and asks for its exit status; it closes fd.
func askEndedThread(fd int) (bool, error) {
	defer unix.Close(fd)
	deadline := time.Now().Add(5 * time.Second)
	var hup time.Time // when the thread first polled as reaped
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, 100)
		switch {
		case err != nil && err != unix.EINTR:
			return false, os.NewSyscallError("poll", err)
		case fds[0].Revents&unix.POLLHUP != 0:
			info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
			err := unix.IoctlPidfdInfo(fd, &info)
			// 6.13 and 6.14 keep no record: ESRCH for a reaped
			// thread. 6.18 answers the same now and then, for a
			// thread that polls as reaped a moment before its
			// record is written: ask again for a while.
			switch {
			case err == nil && info.Mask&unix.PIDFD_INFO_EXIT != 0:
				return true, nil
			case err == nil, err == unix.ESRCH, err == unix.EINTR:
				if hup.IsZero() {
					hup = time.Now()
				} else if time.Since(hup) > 200*time.Millisecond {
					return false, nil
				}
			default:
				return answered("ioctl PIDFD_GET_INFO", err)
			}
			time.Sleep(time.Millisecond)
		case time.Now().After(deadline):
			return false, errors.New("pidfd: a thread of this process did not end in 5s")
		}
	}
}
