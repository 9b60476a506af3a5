package pidfd

// OpenThread returns a PidFd for one thread (Linux 6.9+, PIDFD_THREAD;
// [errors.ErrUnsupported] before). A thread is never reaped through its
// PidFd: its process is. tid is a thread ID as gettid returns it; the ID of
// a process's first thread is the process's PID.
//
// A thread PidFd differs from a process one:
//   - PID returns the thread ID, and Signal reaches that thread alone
//     (with [ToThreadGroup], its whole process).
//   - It polls readable once the thread has exited, while the rest of its
//     process may run on; a process PidFd waits for every thread. The first
//     thread is the exception: the kernel keeps it until its whole process
//     ends.
//   - A thread is never a child that can be reaped: Wait, WaitContext and
//     TryWait work as [PidFd.Wait] does for another's process. Where the
//     kernel records exit statuses (Linux 6.15+) they wait until the thread
//     is released, which for any thread but the first follows its exit at
//     once (the first goes when its process is reaped), and report its
//     status; before that they return [ErrNoExitStatus] once the thread
//     has exited.
//
// Like [Open], OpenThread names whichever thread holds tid when it runs. A
// thread of the caller's own process that cannot exit meanwhile (the
// calling thread, or one whose goroutine is locked to it) is opened without
// that race: see [SelfThread].
func OpenThread(tid int) (*PidFd, error) { return openThread(tid) }

// SelfThread returns a thread PidFd for the calling OS thread. Go moves
// goroutines between threads: call [runtime.LockOSThread] first for the
// answer to keep meaning the goroutine's thread.
func SelfThread() (*PidFd, error) { return selfThread() }

// IsThread reports whether the PidFd names a single thread (see
// [OpenThread]) rather than a whole process.
func (p *PidFd) IsThread() bool { return p != nil && p.isThread() }
