//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// namespaceKinds gives, for each kind, its pidfd ioctl and its clone flag
// (0 for the ForChildren kinds, which setns enters through their plain kind).
var namespaceKinds = [...]struct {
	ioctl uint
	clone int
}{
	NamespaceCgroup:          {unix.PIDFD_GET_CGROUP_NAMESPACE, unix.CLONE_NEWCGROUP},
	NamespaceIPC:             {unix.PIDFD_GET_IPC_NAMESPACE, unix.CLONE_NEWIPC},
	NamespaceMount:           {unix.PIDFD_GET_MNT_NAMESPACE, unix.CLONE_NEWNS},
	NamespaceNet:             {unix.PIDFD_GET_NET_NAMESPACE, unix.CLONE_NEWNET},
	NamespacePID:             {unix.PIDFD_GET_PID_NAMESPACE, unix.CLONE_NEWPID},
	NamespacePIDForChildren:  {unix.PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE, 0},
	NamespaceTime:            {unix.PIDFD_GET_TIME_NAMESPACE, unix.CLONE_NEWTIME},
	NamespaceTimeForChildren: {unix.PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE, 0},
	NamespaceUser:            {unix.PIDFD_GET_USER_NAMESPACE, unix.CLONE_NEWUSER},
	NamespaceUTS:             {unix.PIDFD_GET_UTS_NAMESPACE, unix.CLONE_NEWUTS},
}

func (p *PidFd) openNamespace(ns Namespace) (*os.File, error) {
	if !ns.valid() {
		return nil, fmt.Errorf("pidfd: unknown namespace kind %d: %w", int(ns), os.ErrInvalid)
	}
	var nsFd int
	err := p.withFd(func(fd int) error {
		var err error
		nsFd, err = namespaceFd(fd, p.pid, ns)
		return err
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nsFd), ns.String()), nil
}

func namespaceFd(fd, pid int, ns Namespace) (int, error) {
	kind := namespaceKinds[ns]
	if known := namespaceIoctls.state.Load(); known != capMissing {
		// The ioctl's argument must be 0: anything else is EINVAL.
		nsFd, err := unix.IoctlRetInt(fd, kind.ioctl)
		switch {
		case err == unix.EOPNOTSUPP:
			return -1, fmt.Errorf("pidfd: kernel built without %s namespaces: %w", ns.String(), errors.ErrUnsupported)
		case !namespaceIoctls.fallBack(known, err):
			return nsFd, wrapErr("ioctl PIDFD_GET_"+strings.ToUpper(ns.String())+"_NAMESPACE", err)
		}
	}
	var (
		b       procBuffer
		path    string
		nsFd    = -1
		openErr error
	)
	err := b.inProcDir(fd, pid, "ns/"+ns.String(), func(p []byte) error {
		path = string(p)
		nsFd, openErr = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return nil
	}, func() {
		if nsFd >= 0 {
			unix.Close(nsFd) // the namespace of whoever held the PID
		}
	})
	switch {
	case err != nil:
		return -1, err
	case openErr == unix.ENOENT:
		if _, statErr := os.Stat("/proc/self/ns/" + ns.String()); statErr == nil {
			// We have one, so the kernel has the kind: the process has
			// exited and left its namespaces (a zombie).
			return -1, wrapErr("open "+path, unix.ESRCH)
		}
		return -1, fmt.Errorf("pidfd: kernel has no %s namespaces: %w", ns.String(), errors.ErrUnsupported)
	case openErr != nil:
		return -1, &os.PathError{Op: "open", Path: path, Err: openErr}
	}
	return nsFd, nil
}

func (p *PidFd) setns(kinds []Namespace) error {
	flags := 0
	for _, ns := range kinds {
		switch {
		case !ns.valid():
			return fmt.Errorf("pidfd: unknown namespace kind %d: %w", int(ns), os.NewSyscallError("setns", unix.EINVAL))
		case ns == NamespaceUser || ns == NamespaceMount:
			return fmt.Errorf("pidfd: a multithreaded process cannot enter a %s namespace: %w", ns, os.NewSyscallError("setns", unix.EINVAL))
		case ns == NamespaceTime:
			return fmt.Errorf("pidfd: a multithreaded process cannot enter a time namespace: %w", os.NewSyscallError("setns", unix.EUSERS))
		case namespaceKinds[ns].clone == 0:
			return fmt.Errorf("pidfd: %s is entered through its plain kind: %w", ns, os.NewSyscallError("setns", unix.EINVAL))
		}
		flags |= namespaceKinds[ns].clone
	}
	if flags == 0 {
		// No kinds: the kernel answers setns(pidfd, 0) with EINVAL.
		return fmt.Errorf("pidfd: no namespace kinds given: %w", os.NewSyscallError("setns", unix.EINVAL))
	}
	if known := setnsPidFd.state.Load(); known != capMissing {
		err := p.withFd(func(fd int) error { return unix.Setns(fd, flags) })
		if (err == nil || err == unix.EPERM) && known != capPresent {
			setnsPidFd.learn(true)
		}
		if err != unix.EINVAL {
			return wrapErr("setns", err)
		}
		// EINVAL: a kernel before 5.8 (a pidfd is not a namespace
		// file), or a real answer.
		if err := setnsPidFd.explain("setns", err); !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	// Open every namespace before entering any, so that a process that is
	// gone, or a kind that is missing, changes nothing.
	files := make([]*os.File, 0, len(kinds))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, ns := range kinds {
		file, err := p.openNamespace(ns)
		if err != nil {
			return err
		}
		files = append(files, file)
	}
	for i, ns := range kinds {
		if err := unix.Setns(int(files[i].Fd()), namespaceKinds[ns].clone); err != nil {
			return os.NewSyscallError("setns", err)
		}
	}
	return nil
}
