package pidfd

// Creds returns the process's user and group IDs: by ioctl(PIDFD_GET_INFO)
// on Linux 6.13+, else from /proc/PID/status, verified to be the process's
// own. It fails with [os.ErrProcessDone] once the process is reaped.
func (p *PidFd) Creds() (Creds, error) { return p.creds() }

// PPID returns the PID of the process's parent, as the caller sees it: 0
// when the parent is not visible here (the process is the init of a PID
// namespace, or its parent lives outside ours). Like PID, it is only a name
// for the moment.
func (p *PidFd) PPID() (int, error) { return p.ppid() }

// CgroupID returns the ID of the process's cgroup in the unified (v2)
// hierarchy: by ioctl(PIDFD_GET_INFO) on Linux 6.13+, else from
// /proc/PID/cgroup and the file handle of that cgroup's directory. It is the
// ID that bpf_get_current_cgroup_id and name_to_handle_at report.
func (p *PidFd) CgroupID() (uint64, error) { return p.cgroupID() }
