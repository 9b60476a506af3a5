package pidfd

// Creds returns the process's user and group IDs: by ioctl(PIDFD_GET_INFO)
// on Linux 6.13+, else from /proc/PID/status, verified to be the process's
// own. It fails with [os.ErrProcessDone] once the process is reaped.
func (p *PidFd) Creds() (Creds, error) {
	creds, err := p.creds()
	return creds, doneErr("Creds", err)
}

// PPID returns the PID of the process's parent, as the caller sees it. Like
// PID, it is only a name for the moment. A parent that has no PID in the
// caller's PID namespace gives [ErrNotInPIDNamespace], as PID does for such
// a process: the parent lives in an ancestor namespace (as the parent of a
// namespace's init does, or of a process started by one that entered the
// namespace with setns), or it is the kernel itself (for PID 1 and 2 of the
// initial namespace).
func (p *PidFd) PPID() (int, error) {
	ppid, err := p.ppid()
	return ppid, doneErr("PPID", err)
}

// CgroupID returns the ID of the process's cgroup in the unified (v2)
// hierarchy: by ioctl(PIDFD_GET_INFO) on Linux 6.13+, else from
// /proc/PID/cgroup and the file handle of that cgroup's directory. It is the
// ID that bpf_get_current_cgroup_id and name_to_handle_at report.
func (p *PidFd) CgroupID() (uint64, error) {
	id, err := p.cgroupID()
	return id, doneErr("CgroupID", err)
}
