//go:build linux

package pidfd

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readCoredump reads what the kernel recorded about a core dump of the
// process of fd, which has ended with ws and been reaped, and reports
// whether it could tell. The kernel is asked for PIDFD_INFO_COREDUMP with
// PIDFD_INFO_EXIT, without which a reaped process answers ESRCH (fs/pidfs.c,
// pidfd_info). Its answer for a reaped process is the record of a dump; for
// a live one (a zombie too, on 7.3) it is the mm's dumpable mode instead,
// which is why this is asked only after the reaping. A process that exited,
// or that a signal without a core action killed, dumped nothing. For one
// killed by a signal that dumps, an answer without the record says nothing:
// the kernel records only dumps to a helper given the pidfd (core_pattern
// "|... %F") or to a coredump socket, not to a file.
func readCoredump(fd int, ws syscall.WaitStatus) (Coredump, bool) {
	if has, err := coredumpInfo.ask(); err != nil || !has {
		return Coredump{}, false
	}
	if !ws.Signaled() || !dumpsCore(ws.Signal()) {
		return Coredump{}, true
	}
	var info unix.PidfdInfo
	for {
		info = unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT | unix.PIDFD_INFO_COREDUMP}
		err := unix.IoctlPidfdInfo(fd, &info)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return Coredump{}, false
		}
	}
	// 6.18 answers a dump to a file with the flag and an empty mask: no
	// record either.
	if info.Mask&unix.PIDFD_INFO_COREDUMP == 0 || info.Mask&unix.PIDFD_INFO_EXIT == 0 || info.Coredump_mask == 0 {
		return Coredump{}, false
	}
	m := info.Coredump_mask
	dump := Coredump{
		Dumped:  m&unix.PIDFD_COREDUMPED != 0,
		Skipped: m&unix.PIDFD_COREDUMP_SKIP != 0,
		AsUser:  m&unix.PIDFD_COREDUMP_USER != 0,
		AsRoot:  m&unix.PIDFD_COREDUMP_ROOT != 0,
	}
	if info.Mask&pidfdInfoCoredumpSignal != 0 && info.Coredump_signal != 0 {
		dump.Signal = syscall.Signal(info.Coredump_signal)
	}
	if info.Mask&pidfdInfoCoredumpCode != 0 {
		dump.Code, dump.HasCode = int(int32(info.Coredump_code)), true
	}
	return dump, true
}

// newExitStatus makes the status of a process that ended with ws; ru is
// its resource usage, nil where unknown.
func newExitStatus(pid int, ws syscall.WaitStatus, ru *syscall.Rusage) *ExitStatus {
	s := &ExitStatus{pid: pid, code: ws.ExitStatus(), core: ws.CoreDump(), sys: ws}
	if ws.Signaled() {
		s.signal = ws.Signal()
	}
	if ru != nil {
		s.usage = ru // only when known: SysUsage() == nil says "unknown"
		s.user = time.Duration(ru.Utime.Nano())
		s.system = time.Duration(ru.Stime.Nano())
	}
	return s
}

// exitStatusOf converts the state os or os/exec collected.
func exitStatusOf(state *os.ProcessState) *ExitStatus {
	ws, _ := state.Sys().(syscall.WaitStatus)
	ru, _ := state.SysUsage().(*syscall.Rusage)
	return newExitStatus(state.Pid(), ws, ru)
}

// dumpsCore reports whether sig's default action dumps core (signal(7)).
func dumpsCore(sig syscall.Signal) bool {
	switch sig {
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE,
		unix.SIGSEGV, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return true
	}
	return false
}
