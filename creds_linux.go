//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/procfs"
)

func (p *PidFd) creds() (creds Creds, err error) {
	err = p.withFd(func(fd int) (err error) {
		creds, err = readCreds(fd, p.pid)
		return err
	})
	if err != nil {
		return Creds{}, err
	}
	return creds, nil
}

func (p *PidFd) ppid() (ppid int, err error) {
	err = p.withFd(func(fd int) (err error) {
		ppid, err = readPPID(fd, p.pid)
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case ppid == 0:
		return 0, ErrNotInPIDNamespace // the kernel's 0: no PID here
	}
	return ppid, nil
}

func (p *PidFd) cgroupID() (id uint64, err error) {
	err = p.withFd(func(fd int) (err error) {
		id, err = readCgroupID(fd, p.pid)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// getPidFdInfo asks PIDFD_GET_INFO for the fields in mask, and reports
// false when the kernel lacks the ioctl so the caller must fall back.
// infoFallBack is getInfo.fallBack with one more refusal that selects the
// fallback: PIDFD_GET_INFO never answers EPERM or EACCES itself
// (fs/pidfs.c), so those come from a policy that denies the ioctl (a
// seccomp filter, an LSM), which can be put in place at any time: the
// /proc fallbacks serve from then on.
func infoFallBack(known int32, err error) bool {
	if err == unix.EPERM || err == unix.EACCES {
		getInfo.state.Store(capMissing)
		return true
	}
	return getInfo.fallBack(known, err)
}

func getPidFdInfo(fd int, info *unix.PidfdInfo, mask uint64) (ok bool, err error) {
	known := getInfo.state.Load()
	if known == capMissing {
		return false, nil
	}
	*info = unix.PidfdInfo{Mask: mask}
	err = unix.IoctlPidfdInfo(fd, info)
	switch {
	case err == unix.EREMOTE:
		return true, ErrNotInPIDNamespace
	case infoFallBack(known, err):
		return false, nil
	case err != nil:
		return true, wrapErr("ioctl PIDFD_GET_INFO", err)
	case info.Mask&mask != mask:
		return true, fmt.Errorf("pidfd: PIDFD_GET_INFO left out fields %#x: %w", mask&^info.Mask, unix.ENODATA)
	}
	return true, nil
}

// The readers below take the pinned descriptor and the PidFd's PID (for
// the /proc fallbacks).

func readCreds(fd, pid int) (Creds, error) {
	var info unix.PidfdInfo
	if ok, err := getPidFdInfo(fd, &info, unix.PIDFD_INFO_CREDS); ok {
		return Creds{
			RUID: info.Ruid, EUID: info.Euid, SUID: info.Suid, FSUID: info.Fsuid,
			RGID: info.Rgid, EGID: info.Egid, SGID: info.Sgid, FSGID: info.Fsgid,
		}, err
	}
	status, err := readStatus(fd, pid)
	if err != nil {
		return Creds{}, err
	}
	return Creds{
		RUID: status.UID[0], EUID: status.UID[1], SUID: status.UID[2], FSUID: status.UID[3],
		RGID: status.GID[0], EGID: status.GID[1], SGID: status.GID[2], FSGID: status.GID[3],
	}, nil
}

func readPPID(fd, pid int) (int, error) {
	var info unix.PidfdInfo
	if ok, err := getPidFdInfo(fd, &info, unix.PIDFD_INFO_PID); ok {
		return int(int32(info.Ppid)), err
	}
	status, err := readStatus(fd, pid)
	return status.PPid, err
}

func readStatus(fd, pid int) (procfs.Status, error) {
	var b procBuffer
	text, err := b.readVerified(fd, pid, "status")
	if err != nil {
		return procfs.Status{}, err
	}
	status, ok := procfs.ParseStatus(text)
	if !ok {
		return status, errors.New("pidfd: cannot parse /proc/PID/status")
	}
	return status, nil
}

func readCgroupID(fd, pid int) (uint64, error) {
	var info unix.PidfdInfo
	if ok, err := getPidFdInfo(fd, &info, unix.PIDFD_INFO_CGROUPID); ok {
		return info.Cgroupid, err
	}
	var b procBuffer
	text, err := b.readVerified(fd, pid, "cgroup")
	if err != nil {
		return 0, err
	}
	path, ok := procfs.CgroupV2Path(text)
	if !ok {
		return 0, fmt.Errorf("pidfd: /proc/PID/cgroup names no cgroup v2 directory of ours "+
			"(no cgroup2, another cgroup namespace, or a removed cgroup): %w", errors.ErrUnsupported)
	}
	return cgroupIDOf(path)
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
