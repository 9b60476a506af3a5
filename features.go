package pidfd

// Features says which pidfd facilities the running kernel offers this
// process (a seccomp filter can take some away), among those a program may
// decide on. Everything else the package uses has a fallback, or says so in
// the doc of the method that needs it.
type Features struct {
	PeerPidFd    bool // FromUnixConn (SO_PEERPIDFD), Linux 6.5
	ThreadPidFds bool // OpenThread, SelfThread and signal scopes (PIDFD_THREAD), Linux 6.9
	ExitInfo     bool // exit statuses of processes that are not children (PIDFD_INFO_EXIT), Linux 6.15
	IDs          bool // PidFd.ID, and the ID in an Identity (pidfs), Linux 6.9
	Coredumps    bool // ExitStatus.Coredump (PIDFD_INFO_COREDUMP), Linux 6.16
	// AutoKill: StartProcessAutoKill (CLONE_PIDFD_AUTOKILL, CLONE_AUTOREAP,
	// CLONE_NNP), Linux 7.1, on amd64, arm64 and 386. Learned by starting
	// a child that exits at once, the first time it is asked.
	AutoKill bool
}

// KernelFeatures asks the kernel, once per process, which [Features] it
// offers. Only Linux has pidfds: elsewhere every field is false. A question
// the kernel cannot answer for a passing reason (the process is out of
// descriptors or memory) is reported as false, and asked again by the next
// call.
func KernelFeatures() Features {
	f, _ := kernelFeatures()
	return f
}
