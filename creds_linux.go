//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/procfs"
)

func (p *PidFd) creds() (Creds, error) {
	c := p.getCall()
	err := p.controlPID(c, (*fdCall).readCreds)
	i := &c.info
	creds := Creds{
		RUID: i.Ruid, EUID: i.Euid, SUID: i.Suid, FSUID: i.Fsuid,
		RGID: i.Rgid, EGID: i.Egid, SGID: i.Sgid, FSGID: i.Fsgid,
	}
	p.putCall(c)
	if err != nil {
		return Creds{}, err
	}
	return creds, nil
}

func (p *PidFd) ppid() (int, error) {
	c := p.getCall()
	defer p.putCall(c)
	if err := p.controlPID(c, (*fdCall).readPPID); err != nil {
		return 0, err
	}
	if c.pid == 0 {
		return 0, ErrNotInPIDNamespace // the kernel's 0: no PID here
	}
	return c.pid, nil
}

func (p *PidFd) cgroupID() (uint64, error) {
	c := p.getCall()
	defer p.putCall(c)
	if err := p.controlPID(c, (*fdCall).readCgroupID); err != nil {
		return 0, err
	}
	return c.info.Cgroupid, nil
}

// controlPID is control with c.pid preset to the PidFd's PID, for the
// /proc fallbacks.
func (p *PidFd) controlPID(c *fdCall, op func(*fdCall, int)) error {
	if p == nil || p.conn == nil {
		return os.ErrInvalid
	}
	c.pid = p.pid
	return p.control(c, op)
}

// getInfo asks PIDFD_GET_INFO for the fields in mask, and reports false when
// the kernel lacks the ioctl so the caller must fall back.
func (c *fdCall) getInfo(fd int, mask uint64) (ok bool, err error) {
	known := getInfo.state.Load()
	if known == capMissing {
		return false, nil
	}
	c.info = unix.PidfdInfo{Mask: mask}
	err = unix.IoctlPidfdInfo(fd, &c.info)
	switch {
	case err == unix.EREMOTE:
		return true, ErrNotInPIDNamespace
	case getInfo.fallBack(known, err):
		return false, nil
	case err != nil:
		return true, wrapErr("ioctl PIDFD_GET_INFO", err)
	case c.info.Mask&mask != mask:
		return true, fmt.Errorf("pidfd: PIDFD_GET_INFO left out fields %#x: %w", mask&^c.info.Mask, unix.ENODATA)
	}
	return true, nil
}

func (c *fdCall) readCreds(fd int) {
	if ok, err := c.getInfo(fd, unix.PIDFD_INFO_CREDS); ok {
		c.err = err
		return
	}
	var status procfs.Status
	if status, c.err = c.readStatus(fd); c.err == nil {
		c.info.Ruid, c.info.Euid, c.info.Suid, c.info.Fsuid = status.UID[0], status.UID[1], status.UID[2], status.UID[3]
		c.info.Rgid, c.info.Egid, c.info.Sgid, c.info.Fsgid = status.GID[0], status.GID[1], status.GID[2], status.GID[3]
	}
}

func (c *fdCall) readPPID(fd int) {
	if ok, err := c.getInfo(fd, unix.PIDFD_INFO_PID); ok {
		c.pid, c.err = int(int32(c.info.Ppid)), err
		return
	}
	var status procfs.Status
	status, c.err = c.readStatus(fd)
	c.pid = status.PPid
}

func (c *fdCall) readStatus(fd int) (procfs.Status, error) {
	text, err := c.proc.readVerified(fd, c.pid, "status")
	if err != nil {
		return procfs.Status{}, err
	}
	status, ok := procfs.ParseStatus(text)
	if !ok {
		return status, errors.New("pidfd: cannot parse /proc/PID/status")
	}
	return status, nil
}

func (c *fdCall) readCgroupID(fd int) {
	if ok, err := c.getInfo(fd, unix.PIDFD_INFO_CGROUPID); ok {
		c.err = err
		return
	}
	text, err := c.proc.readVerified(fd, c.pid, "cgroup")
	if err != nil {
		c.err = err
		return
	}
	path, ok := procfs.CgroupV2Path(text)
	if !ok {
		c.err = fmt.Errorf("pidfd: /proc/PID/cgroup names no cgroup v2 directory of ours "+
			"(no cgroup2, another cgroup namespace, or a removed cgroup): %w", errors.ErrUnsupported)
		return
	}
	c.info.Cgroupid, c.err = cgroupIDOf(path)
}

// cgroup2Root is where this process sees the cgroup2 hierarchy mounted.
var cgroup2Root = learnOnce(func() (string, error) {
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	root, ok := procfs.Cgroup2Mount(mountinfo)
	if !ok {
		return "", fmt.Errorf("pidfd: no cgroup2 filesystem is mounted: %w", errors.ErrUnsupported)
	}
	return root, nil
})

// cgroupIDOf returns the ID of the cgroup at path in the cgroup2 hierarchy.
func cgroupIDOf(path string) (uint64, error) {
	root, err := cgroup2Root()
	if err != nil {
		return 0, err
	}
	return fileID(unix.AT_FDCWD, root+path, 0)
}
