// Package pidfd names Linux processes by file descriptor instead of by PID.
//
// A PID is only a number, and Linux gives it to a new process once the
// process that had it has exited and been reaped. A supervisor that signals
// or inspects "PID 4242" a moment too late reaches whatever process was given
// 4242 next. A pidfd is a file descriptor that refers to one process for as
// long as the descriptor is open: a signal sent through it reaches that
// process or fails with [os.ErrProcessDone], never a stranger.
//
// # What it adds to os.Process
//
// Since Go 1.23 an [os.Process] holds a pidfd of its own where the kernel
// has them, and its Signal, Kill and Wait go through it. This package offers
// what os.Process does not:
//
//   - Waits that hold no OS thread and take a context. [PidFd.Wait] and
//     [PidFd.WaitContext] park the goroutine on Go's runtime poller until
//     the pidfd says the process has exited, where os.Process.Wait blocks
//     a thread in waitid: ten thousand waits cost ten thousand goroutines,
//     not ten thousand threads, and a wait gives up when its context is done.
//   - Waits for processes that are not children. Wait returns when any
//     process exits, with its status where the kernel records one.
//   - Queries that never answer for the wrong process: [PidFd.PID],
//     [PidFd.PPID], [PidFd.Creds], [PidFd.CgroupID], [PidFd.OpenNamespace],
//     and [PidFd.Setns] and [PidFd.GetFd] to enter a process's namespaces
//     and copy its descriptors (see "The liveness proof" below).
//   - Signals to one thread, to the whole process or to the process group
//     it leads, signals with a value, and a kill that reclaims the memory
//     at once ([PidFd.KillAndRelease]).
//   - pidfds passed between processes, and the processes at the other end
//     of a unix socket named by the kernel.
//   - Identities to store: an [Identity] saved in a file or a database
//     reopens the same process later, or reports that it is gone.
//
// # Getting a PidFd without a race
//
// A PidFd is only as trustworthy as the way it was made:
//
//   - [Start] starts an [exec.Cmd], and [StartProcess] a program as
//     [os.StartProcess] does; the pidfd comes from the clone call itself,
//     so there is no moment at which the PID could name another process.
//   - [FromProcess] opens a PidFd for the process an [os.Process] holds,
//     and proves against the os.Process's own handle that it is the same.
//   - [NewFile] adopts a pidfd received from elsewhere; [ReadMessage]
//     adopts those another process sent with [WriteMessage].
//   - [FromUnixConn] names the process at the other end of a unix socket,
//     and [PassSender] the sender of each message ([Message].Sender): the
//     kernel makes those pidfds for the processes themselves.
//   - [OpenIdentity] reopens a process from an [Identity] saved earlier.
//   - [Self] names the calling process; [OpenThread] and [SelfThread] name
//     a single thread.
//   - [Open] takes a bare PID. Unless the PID is your own unreaped child,
//     its process may have exited and the PID been reused before the call;
//     prefer the constructors above.
//
// # Reaping and zombies
//
// A process that exits does not vanish: it stays a zombie, keeping its PID
// and its exit status, until its parent collects the status with a wait
// system call. That is reaping, and only then can the PID go to another
// process. So an unreaped child's PID is safe to use, and a child nobody
// reaps stays a zombie as long as its parent lives. Only the parent can
// reap, and only once: a second party that tries gets no status.
//
// Who reaps depends on how the PidFd was made:
//
//   - [Start]: os/exec. [PidFd.Wait] calls cmd.Wait once the child has
//     exited, so cmd.ProcessState is set and the child's output copied when
//     it returns. Call PidFd.Wait or cmd.Wait, not both.
//   - [FromProcess]: os. For a child, Wait calls the os.Process's Wait, so
//     its state stays true. Wait one way, not both.
//   - [StartProcess]: the PidFd alone; no os.Process exists, and Wait reaps
//     with waitid(P_PIDFD). Start and FromProcess cost two descriptors per
//     child (the os.Process keeps its own) until the child is reaped;
//     StartProcess costs one.
//   - [Open], [NewFile], [FromUnixConn], [OpenIdentity] and [ReadMessage]:
//     nobody, unless the process is your child, which Wait then reaps with
//     waitid(P_PIDFD). If os/exec or os started that child, Release its
//     os.Process first, or use FromProcess.
//   - [StartProcessAutoKill]: the kernel (CLONE_AUTOREAP). The child never
//     becomes a zombie and Wait reads its status from the kernel's record.
//   - A thread is nobody's child: nothing reaps a thread PidFd.
//
// # Waiting
//
// [PidFd.Wait], [PidFd.WaitContext] and [PidFd.TryWait] are one family, and
// they do what suits the process:
//
//   - Your child: they reap it (through os/exec or os where those own it)
//     and return its [ExitStatus].
//   - Any other process: they return once it has exited. The kernel records
//     the exit status of any process when its parent reaps it (Linux 6.15+),
//     and the status comes from that record; before 6.15 the answer is
//     [ErrNoExitStatus]. The record holds no resource usage.
//   - A thread ([OpenThread]): they wait for the thread to exit, and report
//     its status likewise.
//
// Any number of goroutines may wait on one PidFd; all get the same answer,
// and so do later calls. TryWait never blocks: it returns (nil, nil) while
// the process runs. A child from Start can end with a status and an error
// together (cmd.WaitDelay expired before its output was copied): Wait then
// returns both, and the error is a [*WaitError] that carries the status too,
// so code that only checks err still finds it with [errors.As].
//
// A [Watcher] waits for many processes in one loop: Add PidFds to it, at
// any time, and [Watcher.Next] returns each exit once, with the status Wait
// gives for that PidFd, or the context's error when the loop should end.
// Its epoll set is itself on the runtime poller, so ten thousand watched
// children cost one parked goroutine, not ten thousand (see the
// supervisor in its example).
//
// # Signals
//
// [PidFd.Signal] sends a signal through the pidfd. Options choose whom it
// reaches, [ToThread], [ToThreadGroup] or [ToProcessGroup] (Linux 6.9+), and
// [WithValue] attaches a value as sigqueue(3) does. The kernel names a
// process group by its leader, so ToProcessGroup works only through the
// leader's PidFd ([ErrNotGroupLeader] otherwise). [PidFd.Kill] sends SIGKILL.
//
// # Process trees
//
// A daemon that calls setsid and forks twice leaves its starter's process
// group, and its parent exits: no signal to the process a supervisor
// started, or to its group, reaches it. A [Tree] holds every process
// started through it and every descendant of theirs: in a cgroup v2 of its
// own where the caller may make one (root, or a delegated cgroup), else by
// making the caller a child subreaper, which has limits (see [NewTree]).
// [Tree.Signal], [Tree.Kill] and [Tree.Wait] reach the whole tree, and
// [Tree.Terminate] ends it as a service manager stops a service: SIGTERM,
// a grace period, SIGKILL.
//
// # The liveness proof
//
// On new kernels the queries ask the kernel through the pidfd itself, and
// the answer is that process's own. On older ones they read /proc/PID, which
// is named by PID, and the PID may have passed to another process since it
// was learned. So every read of /proc/PID ends with a proof that the pidfd's
// process still lives: its pidfd does not poll readable, or, for a zombie,
// the kernel still shows it unreaped. A PID passes on only after its process
// is reaped, so a process still alive after the read owned what was read. If
// the proof fails the answer is [os.ErrProcessDone], never another process's
// data. [PidFd.WithProcDir] gives the same guarantee to your own reads of
// /proc/PID.
//
// # Passing pidfds, naming peers
//
// [WriteMessage] sends PidFds over a unix socket (SCM_RIGHTS), and
// [ReadMessage] adopts those that arrive, refusing and closing every
// descriptor of a message that carries anything but pidfds. [FromUnixConn]
// names the process that connected (SO_PEERPIDFD) and [PassSender] the
// process that sent each message (SCM_PIDFD). Unlike a PID from SO_PEERCRED
// or SCM_CREDENTIALS, these pidfds cannot name a process that merely
// inherited the number: a server can authenticate its clients by them.
//
// # Identities to store
//
// A PidFd lasts as long as its descriptor. To find a process again after a
// restart, store its [Identity] ([PidFd.Identity]; text or binary through
// its Marshal methods), and reopen it with [OpenIdentity], which reports
// [os.ErrProcessDone] if that process is gone, never a stranger that got its
// PID since. An Identity holds the boot, the PID, the start time and the
// kernel's unique ID of the process: [PidFd.ID], a 64-bit number that every
// pidfd of the process shares and no other process gets during that boot
// (Linux 6.9+). [PidFd.Equal] tells whether two PidFds name one process.
//
// # Kernels
//
// pidfds need Linux 5.3. Each later feature, the kernel that added it, and
// what the package does before it:
//
//	Linux  feature                           before it
//	5.1    pidfd_send_signal                 (5.3 is needed anyway)
//	5.2    CLONE_PIDFD (SysProcAttr.PidFD)   (5.3 is needed anyway)
//	5.3    pidfd_open, pollable pidfds       constructors: errors.ErrUnsupported
//	5.4    waitid(P_PIDFD)                   none
//	5.5    fdinfo "Pid: -1" once reaped      signal 0 tells a zombie from a reaped process
//	                                         (fdinfo is trusted from 5.10 on)
//	5.6    pidfd_getfd                       GetFd: none
//	5.7    CLONE_INTO_CGROUP                 Tree.Start: the child is moved into the
//	                                         tree's cgroup right after it starts
//	5.8    setns(pidfd)                      Setns: /proc/PID/ns/NAME, verified
//	5.10   PIDFD_NONBLOCK                    fcntl(O_NONBLOCK)
//	5.14   cgroup.kill                       Tree.Kill: each process by pidfd
//	5.15   process_mrelease                  KillAndRelease: the kill alone
//	6.5    SO_PEERPIDFD                      FromUnixConn: errors.ErrUnsupported
//	6.5    SO_PASSPIDFD, SCM_PIDFD           PassSender: errors.ErrUnsupported
//	6.9    pidfs (unique 64-bit inode)       ID: errors.ErrUnsupported; Equal: by PID
//	                                         while both live; Identity: by start time
//	6.9    PIDFD_THREAD                      OpenThread, SelfThread: errors.ErrUnsupported
//	6.9    PIDFD_SIGNAL_* flags              ToThread, ToThreadGroup, ToProcessGroup:
//	                                         errors.ErrUnsupported
//	6.11   PIDFD_GET_*_NAMESPACE ioctls      OpenNamespace: /proc/PID/ns/NAME, verified
//	6.13   ioctl(PIDFD_GET_INFO)             PID, PPID, Creds, CgroupID: /proc, verified
//	6.13   pidfs file handles                ID: the inode number (64-bit kernels),
//	                                         errors.ErrUnsupported (32-bit kernels)
//	6.15   PIDFD_INFO_EXIT                   Wait on a non-child or thread: ErrNoExitStatus
//	6.16   PIDFD_INFO_COREDUMP               ExitStatus.Coredump: unknown (ok false)
//	7.x    PIDFD_INFO_COREDUMP_SIGNAL, _CODE Coredump.Signal nil, HasCode false
//	7.x    PIDFD_INFO_SUPPORTED_MASK         probes: PIDFD_INFO_COREDUMP on itself, the
//	                                         exit record of an ended thread of its own
//	7.1    CLONE_AUTOREAP, CLONE_PIDFD_AUTOKILL,
//	       CLONE_NNP                         StartProcessAutoKill: errors.ErrUnsupported
//
// "Verified" is the liveness proof above. Each feature is probed once per
// process; [KernelFeatures] reports the few a caller may want to decide on.
// A seccomp filter can take features away from a newer kernel, and the
// package then acts as on the older one.
//
// On every operating system other than Linux the package compiles and every
// constructor returns [errors.ErrUnsupported]. So it does on Android, where
// it makes no pidfd system call: before Android 12 the app sandbox kills a
// process for one (SIGSYS) instead of failing it.
//
// # Errors
//
// Failed system calls are [*os.SyscallError] values, but for a process that
// is gone: the methods that learn about a process through calls of their
// own (PID, PPID, Creds, CgroupID, Identity, OpenNamespace, a signal to a
// process group) say "pidfd: METHOD: os: process already finished". Test
// errors with [errors.Is] (or [errors.As] for *WaitError):
//
//   - [os.ErrProcessDone]: the process has exited and been reaped.
//   - [os.ErrClosed]: the PidFd was closed, also while a wait was pending
//     and when Close is called again. Close of a nil *PidFd returns
//     [os.ErrInvalid], as for an [*os.File].
//   - [errors.ErrUnsupported]: the kernel lacks the call and nothing can
//     stand in for it (see the table), or the system is not Linux. Also
//     before Linux 6.13 where /proc was mounted from an ancestor PID
//     namespace, as in a container without a /proc of its own: its PIDs
//     would name other processes. And where a sandbox (a seccomp filter,
//     some container runtimes) refuses pidfd_open with EPERM or ENOSYS:
//     [Open], [Self] and [Start] then return an error that is both
//     ErrUnsupported and the refusal's errno, Start before it starts
//     anything. [StartProcess] needs no pidfd_open (its pidfd comes
//     from the clone) and works there.
//   - [ErrNoExitStatus]: the process has exited, and the kernel cannot
//     tell how.
//   - [ErrNotInPIDNamespace]: the process, or for PPID its parent, lives in
//     a PID namespace the caller cannot see, so it has no PID here.
//   - [ErrNotGroupLeader]: a signal to the process group of a process that
//     does not lead its group.
//   - [ErrNotPidFd]: a descriptor given to NewFile, or received by
//     ReadMessage, is not a pidfd.
//   - [*WaitError]: a wait that has a status and an error together.
//   - [context.Canceled] or [context.DeadlineExceeded]: WaitContext gave up.
//
// Nothing panics on bad input.
package pidfd
