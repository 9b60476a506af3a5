//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The cgroup kind of Tree: its cgroup's members, their signals, the wait
// for it to empty, and clone3's CLONE_INTO_CGROUP (see tree_linux.go).

// cloneIntoCgroup is clone3's CLONE_INTO_CGROUP, which SysProcAttr's
// UseCgroupFD asks for.
var cloneIntoCgroup = capability{name: "CLONE_INTO_CGROUP", since: "5.7", probe: probeCloneIntoCgroup}

// probeCloneIntoCgroup asks clone3 for a child in the cgroup of a
// descriptor that no process can have open (above the kernel's largest
// table, INT_MAX rounded down). A kernel that knows CLONE_INTO_CGROUP
// looks the descriptor up before any child exists, and answers EBADF; one
// before 5.7 refuses the larger struct (E2BIG) or the flag (EINVAL); a
// filter that denies clone3 answers ENOSYS or EPERM. None makes a child.
func probeCloneIntoCgroup() (bool, error) {
	const cloneIntoCgroupFlag = 0x200000000 // CLONE_INTO_CGROUP
	// struct clone_args up to cgroup (CLONE_ARGS_SIZE_VER2): flags, pidfd,
	// child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
	// set_tid_size, cgroup; every field a u64 on every architecture.
	var args [11]uint64
	args[0] = cloneIntoCgroupFlag
	args[4] = uint64(unix.SIGCHLD)
	args[10] = math.MaxInt32
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	switch errno {
	case unix.EBADF:
		return true, nil
	case unix.E2BIG, unix.EINVAL, unix.ENOSYS, unix.EPERM:
		return false, nil
	case 0:
		// Cannot happen: no cgroup has that descriptor. A child made all
		// the same could not run Go code: it ends at once, and is reaped.
		if pid == 0 {
			unix.Exit(127)
		}
		var ws unix.WaitStatus
		unix.Wait4(int(pid), &ws, 0, nil)
		return false, fmt.Errorf("pidfd: clone3 made a child in no cgroup: %w", errors.ErrUnsupported)
	}
	return false, os.NewSyscallError("clone3", errno)
}

// removeCgroups removes the cgroup dir and those its members made below
// it, the deepest first. A cgroup is removed once no live process is in it
// or below it; it needs no emptying of its files.
func removeCgroups(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "rmdir", Path: dirs[i], Err: err})
		}
	}
	return errors.Join(errs...)
}

// signalCgroup sends s to each process in the cgroup or below it, by a
// pidfd proved to name a member, round after round until a round finds no
// process it has not signalled.
func (t *tree) signalCgroup(s unix.Signal) error {
	signalled := map[int]int{} // PID → pidfd
	defer func() {
		for _, fd := range signalled {
			unix.Close(fd)
		}
	}()
	var errs []error
	for {
		pids, ids, err := cgroupMembers(t.dir)
		if err != nil {
			return err
		}
		fresh := 0
		for _, pid := range pids {
			if fd, ok := signalled[pid]; ok {
				if running(fd) {
					continue // the process signalled: its PID is its own while it runs
				}
				unix.Close(fd) // another process has the PID now
				delete(signalled, pid)
			}
			fd, err := openNonblocking(pid)
			if err != nil {
				if !errors.Is(err, os.ErrProcessDone) {
					errs = append(errs, err)
				}
				continue
			}
			id, err := readCgroupID(fd, pid)
			if err != nil || !ids[id] {
				// Exited, and perhaps its PID passed to a process
				// outside the tree.
				unix.Close(fd)
				continue
			}
			signalled[pid] = fd
			fresh++
			if err := unix.PidfdSendSignal(fd, s, nil, 0); err != nil && err != unix.ESRCH {
				errs = append(errs, fmt.Errorf("pidfd: PID %d: %w", pid, os.NewSyscallError("pidfd_send_signal", err)))
			}
		}
		if fresh == 0 {
			return errors.Join(errs...)
		}
	}
}

// cgroupMembers lists the processes in dir and in the cgroups below it,
// and the IDs of those cgroups.
func cgroupMembers(dir string) (pids []int, ids map[uint64]bool, err error) {
	ids = map[uint64]bool{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil && path == dir:
			return err
		case err != nil || !d.IsDir():
			return nil // a cgroup below, removed meanwhile
		}
		id, err := fileID(unix.AT_FDCWD, path, 0)
		if err != nil {
			if path == dir {
				return err
			}
			return nil
		}
		procs, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if path == dir {
				return err
			}
			return nil
		}
		ids[id] = true
		for _, field := range bytes.Fields(procs) {
			if pid, err := strconv.Atoi(string(field)); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids, ids, err
}

// waitCgroup waits for "populated 0" in cgroup.events. The kernel wakes
// pollers of the file whenever it changes, and epoll reports that to Go's
// runtime poller as readable: a descriptor of our own, so that a context's
// deadline on it touches no other wait.
func (t *tree) waitCgroup(ctx context.Context) error {
	path := filepath.Join(t.dir, "cgroup.events")
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(deadlinePassed) })
	defer stop()
	var populated bool
	var readErr error
	err = conn.Read(func(fd uintptr) bool {
		populated, readErr = readPopulated(int(fd))
		return readErr != nil || !populated
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return &os.PathError{Op: "poll", Path: path, Err: err}
	case readErr != nil:
		return &os.PathError{Op: "read", Path: path, Err: readErr}
	}
	return nil
}

// readPopulated reads the populated key of a cgroup.events file.
func readPopulated(fd int) (bool, error) {
	var buf [128]byte
	n, err := unix.Pread(fd, buf[:], 0)
	if err != nil {
		return false, err
	}
	for line := range bytes.Lines(buf[:n]) {
		if value, ok := bytes.CutPrefix(line, []byte("populated ")); ok {
			return string(bytes.TrimSpace(value)) != "0", nil
		}
	}
	return false, errors.New("pidfd: cgroup.events has no populated key")
}
