// Package pidfd names Linux processes by file descriptor instead of by PID.
//
// A PID is only a number, and Linux hands the number out again once the
// process that had it has died and been reaped. A supervisor that signals or
// inspects "PID 4242" a moment too late hits whatever process was given 4242
// next. A pidfd is a file descriptor that refers to one process for as long
// as the descriptor is open: signals sent through it reach that process or
// fail with [os.ErrProcessDone], never a stranger.
//
// # Getting a pidfd without a race
//
// The PidFd is only as trustworthy as the way it was obtained:
//
//   - [Start] starts an [exec.Cmd] and returns a PidFd for the child. A child
//     cannot be recycled before its parent reaps it, so there is no window.
//   - [FromProcess] opens a PidFd for a process an [os.Process] holds, and
//     proves against the os.Process's own handle that it is the same process.
//   - [NewFile] adopts a pidfd received from elsewhere; [ReadMessage]
//     receives pidfds that another process sent with [WriteMessage].
//   - [FromUnixConn] names the process at the other end of a unix socket,
//     and [PassSender] the process that sent each message ([Message.Sender]):
//     the kernel makes those pidfds for the processes themselves.
//   - [OpenIdentity] reopens a process from an [Identity] saved earlier,
//     and reports [os.ErrProcessDone] rather than open a stranger.
//   - [OpenThread] and [SelfThread] name a single thread.
//   - [Self] names the calling process.
//   - [Open] takes a bare PID. Unless the PID is your own unreaped child, the
//     process may already have died and the PID been reused before the call;
//     prefer the constructors above.
//
// # Waiting
//
// [PidFd.Wait] and [PidFd.WaitContext] park the calling goroutine on Go's
// runtime poller until the process exits; they do not hold an OS thread, so
// thousands of concurrent waits cost thousands of goroutines, not thousands of
// threads. Any number of goroutines may wait on one PidFd: all of them get the
// same [ExitStatus]. Only a parent can reap a child; waiting on any other
// process reports [syscall.ECHILD].
//
// # Signalling
//
// [PidFd.Signal] reaches the process or fails; with [ToThread] or
// [ToProcessGroup] it reaches its thread or the process group it leads; with
// [WithValue] it carries a value as sigqueue does; [PidFd.KillAndRelease]
// kills and reclaims the memory at once.
//
// # Asking about a process
//
// [PidFd.PID], [PidFd.PPID], [PidFd.Creds], [PidFd.CgroupID], [PidFd.ID]
// and [PidFd.OpenNamespace] answer from the pidfd itself on new kernels. On older
// ones they read /proc/PID, and only answer after proving that the pidfd's
// process still lives: a PID is reused only after its process is reaped, so
// a live process still owns what was read. Otherwise they report
// [os.ErrProcessDone], never another process's data. [PidFd.WithProcDir]
// gives the same guarantee to code of your own that reads /proc/PID.
//
// # Kernel requirements
//
// pidfds need Linux 5.3 (pidfd_open) and waiting needs 5.4 (waitid with
// P_PIDFD). Newer kernels make some queries cheaper; where a kernel lacks a
// call the package falls back to /proc and checks that the process it read
// about is still the one the pidfd names. The comment at the top of
// pidfd_linux.go lists which kernel added what.
//
// On every operating system other than Linux, the package compiles and
// every constructor returns [errors.ErrUnsupported]. So it does on Android,
// where it makes no pidfd system call: before Android 12 the app sandbox
// kills a process for one (SIGSYS) instead of failing it.
//
// # Errors
//
// Failed system calls are [*os.SyscallError] values. A process that has
// exited and been reaped satisfies errors.Is(err, [os.ErrProcessDone]); a
// closed PidFd gives [os.ErrClosed]; a kernel without the needed call gives
// errors.Is(err, [errors.ErrUnsupported]).
package pidfd
