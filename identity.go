package pidfd

// ID returns the kernel's 64-bit ID of the process, unique for the life of
// the system: the inode number of its pidfs file (Linux 6.9+). Every pidfd
// of the process has the same ID, and no other process ever gets it, so it
// can be compared, logged or stored; it stays readable after the process is
// reaped. Kernels before pidfs have no such ID and give
// [errors.ErrUnsupported] ([Features].IDs tells beforehand). To compare two
// PidFds on any kernel, use [PidFd.Equal]; to store a name for the process,
// [PidFd.Identity], which includes the ID.
func (p *PidFd) ID() (uint64, error) { return p.id() }

// Equal reports whether p and other name the same process. Where the kernel
// has IDs ([PidFd.ID]) it compares them, and is exact for any two pidfds.
// Before pidfs it compares PIDs, which two processes can share only one
// after the other: if both processes are still alive after their PIDs were
// read, they are one. Without pidfs, processes already reaped cannot be
// compared and are reported unequal.
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

// Identity returns the process's [Identity]: what to store (in a state
// file, a database) to open the same process later with [OpenIdentity],
// never another that has been given its PID. It holds the boot, the PID,
// the start time and, where the kernel has one, the ID that [PidFd.ID]
// returns. It needs /proc (for the start time, verified like every /proc
// read) and fails with [os.ErrProcessDone] once the process has been reaped.
// A child from [StartProcessAutoKill] that has exited, which the kernel
// reaps at once, has an Identity until a wait returns its status, as its
// PID ([PidFd.PID]): one without a start time, since its ID names it.
func (p *PidFd) Identity() (Identity, error) {
	id, err := p.identity()
	return id, doneErr("Identity", err)
}

// OpenIdentity opens the process that id names, or fails with
// [os.ErrProcessDone] if it is gone: reaped, from another boot, or its PID
// now the ID of another process's thread. As with [Open], [PidFd.Wait]
// reaps the process if it is a child of the caller, and no other.
//
// It never opens a different process that has been given the same PID
// since: it opens the PID and then checks the ID (or, before pidfs, the
// start time) against id. Start times count clock ticks (usually 10 ms):
// before pidfs, a process given the PID within the same tick as the
// original started cannot be told from it.
func OpenIdentity(id Identity) (*PidFd, error) { return openIdentity(id) }
