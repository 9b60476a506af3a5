//go:build linux

package pidfd

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/procfs"
)

func (p *PidFd) id() (uint64, error) {
	var id uint64
	err := p.withFd(func(fd int) (err error) {
		id, err = pidfsID(fd)
		return err
	})
	return id, err
}

// pidfsID reads the pidfs ID of fd.
func pidfsID(fd int) (uint64, error) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return 0, os.NewSyscallError("fstatfs", err)
	}
	if uint32(fs.Type) != unix.PID_FS_MAGIC {
		return 0, fmt.Errorf("pidfd: no unique process ID before pidfs (Linux 6.9): %w", errors.ErrUnsupported)
	}
	return fileID(fd, "", unix.AT_EMPTY_PATH)
}

// fileID returns the 64-bit ID of a pidfs or kernfs (cgroup2) file: the
// content of its file handle, which carries all 64 bits on every
// architecture; where file handles are missing or forbidden, its inode
// number, which equals the ID on 64-bit kernels.
func fileID(dirfd int, path string, flags int) (uint64, error) {
	handle, _, err := unix.NameToHandleAt(dirfd, path, flags)
	if err == nil && len(handle.Bytes()) == 8 {
		return binary.NativeEndian.Uint64(handle.Bytes()), nil
	}
	if !kernelIs64Bit() {
		if err == nil {
			err = fmt.Errorf("file handle of %d bytes, want 8", len(handle.Bytes()))
		}
		return 0, fmt.Errorf("pidfd: no 64-bit ID on a 32-bit kernel without file handles (%w): %w",
			err, errors.ErrUnsupported)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, path, &st, flags); err != nil {
		return 0, os.NewSyscallError("fstatat", err)
	}
	return st.Ino, nil
}

// kernelIs64Bit reports whether the kernel (not this program, which may be
// a 32-bit one on a 64-bit kernel) has 64-bit inode numbers. Its first
// answer is definite: uname fails only for a bad pointer.
var kernelIs64Bit = sync.OnceValue(func() bool {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return false
	}
	machine := unix.ByteSliceToString(uts.Machine[:])
	return strings.Contains(machine, "64") || machine == "s390x"
})

// alive reports whether the process has not been reaped.
func (p *PidFd) alive() bool {
	return p.withFd(provenAlive) == nil
}

func (p *PidFd) identity() (Identity, error) {
	if p == nil || p.file == nil {
		return Identity{}, os.ErrInvalid
	}
	boot, err := bootID()
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Boot: boot, PID: p.pid}
	if id.ID, err = p.ID(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return Identity{}, err
	}
	err = p.withFd(func(fd int) error {
		var buf procBuffer
		text, err := buf.readVerified(fd, p.pid, "stat")
		if err != nil {
			return err
		}
		var ok bool
		if id.StartTime, ok = procfs.StatStartTime(text); !ok {
			return errors.New("pidfd: cannot parse /proc/PID/stat")
		}
		return nil
	})
	switch {
	case p.reapedUnwaited(err) && id.ID != 0:
		return id, nil // the ID names it, without the start time /proc had
	case err != nil:
		return Identity{}, err
	}
	return id, nil
}

func openIdentity(id Identity) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	boot, err := bootID()
	if err != nil {
		return nil, err
	}
	if id.PID <= 0 || id.Boot != boot {
		return nil, fmt.Errorf("pidfd: identity from another boot or of no process: %w", os.ErrProcessDone)
	}
	p, err := Open(id.PID)
	if errors.Is(err, unix.ENOENT) { // the PID names a thread now
		return nil, fmt.Errorf("pidfd: PID %d now names a thread of another process: %w", id.PID, os.ErrProcessDone)
	}
	if err != nil {
		return nil, err
	}
	now, err := p.Identity()
	if err != nil {
		p.Close()
		return nil, err
	}
	same := now.StartTime == id.StartTime
	if id.ID != 0 && now.ID != 0 {
		same = now.ID == id.ID
	}
	if !same {
		p.Close()
		return nil, fmt.Errorf("pidfd: PID %d now names another process: %w", id.PID, os.ErrProcessDone)
	}
	return p, nil
}

// bootID is this boot's random ID.
var bootID = learnOnce(func() ([16]byte, error) {
	var id [16]byte
	text, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return id, err
	}
	digits := strings.ReplaceAll(strings.TrimSpace(string(text)), "-", "")
	if _, err := hex.Decode(id[:], []byte(digits)); err != nil || len(digits) != 32 {
		return id, fmt.Errorf("pidfd: cannot parse boot_id %q", text)
	}
	return id, nil
})
