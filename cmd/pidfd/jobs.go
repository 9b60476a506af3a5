//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// jobControl stops the tool when its job stops, so that a shell that runs
// the tool as a job sees the job stop (Ctrl-Z) and gets its prompt back,
// and continues the command when the tool is continued.
//
// The tool stops itself after it has forwarded SIGTSTP, SIGTTIN or SIGTTOU
// (stop), or, with -g, when the command has stopped (commandStopped): the
// command is then in a process group of its own, which a terminal's stop
// signals reach without the tool. Once continued, the tool awaits the
// SIGCONT that continued it before it looks at the command again: with -g
// the command is still stopped until that SIGCONT is forwarded
// (continued), and a stop seen before would stop the tool at once again.
type jobControl struct {
	f          *forwarder
	tty        int  // the terminal
	foreground bool // -g put the command's group in the terminal's foreground
	contCaught bool // the tool gets SIGCONT (it was not ignored at its start)
	say        func(string, ...any)

	awaitingCont bool
}

// stopsJob reports whether sig is one of the stop signals of job control
// that a process can catch.
func stopsJob(sig os.Signal) bool {
	return sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU
}

// commandStopped stops the tool if the command (PID pid) has stopped since
// it was last seen to. It takes the report of the stop (WSTOPPED without
// WNOWAIT), not the exit: the command is reaped by the run loop alone.
func (j *jobControl) commandStopped(pid int) {
	if j.awaitingCont {
		return
	}
	var si childInfo
	if err := waitid(unix.P_PID, pid, &si, unix.WSTOPPED|unix.WNOHANG); err != nil || si.signo != int32(unix.SIGCHLD) {
		return
	}
	j.stop(fmt.Sprintf("PID %d stopped", pid))
}

// stop stops the tool, for the reason why, unless it must not: as PID 1
// of a PID namespace, whose own stop signal the kernel drops (and whose
// container has no shell to continue it), or in an orphaned process group,
// where the kernel would not stop a process on SIGTSTP, SIGTTIN or SIGTTOU
// either, as nobody would continue it. It returns once the tool has been
// continued.
func (j *jobControl) stop(why string) {
	switch {
	case os.Getpid() == 1:
		j.say("%s: the tool does not stop, as PID 1 of its PID namespace", why)
		return
	case orphanedGroup():
		j.say("%s: the tool does not stop, its process group being orphaned", why)
		return
	}
	j.say("%s: the tool stops", why)
	// tgkill to this thread: the thread takes the stop on its way out of
	// the call, so the call returns once the tool is continued. (kill(2)
	// would let another thread take it, a moment later.)
	runtime.LockOSThread()
	err := unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGSTOP)
	runtime.UnlockOSThread()
	if err != nil {
		j.say("the tool could not stop: %v", os.NewSyscallError("tgkill", err))
		return
	}
	if j.contCaught {
		j.awaitingCont = true // the SIGCONT that continued the tool is on its way
		return
	}
	// A SIGCONT ignored since the tool started never comes to it: continue
	// the command here.
	j.continued()
	if err := j.f.forward(unix.SIGCONT); err != nil {
		j.say("%v not forwarded to %s: %v", unix.SIGCONT, j.f.target(), err)
	} else {
		j.say("forwarded %v to %s", unix.SIGCONT, j.f.target())
	}
}

// continued readies the command to be continued (the caller forwards the
// SIGCONT): if -g put the command's group in the terminal's foreground and
// the terminal is the tool's group's again ("fg" gave it the tool's job),
// it goes back to the command's group. From the foreground group that
// takes no SIGTTOU.
func (j *jobControl) continued() {
	j.awaitingCont = false
	if !j.foreground {
		return
	}
	if pgrp, err := unix.IoctlGetInt(j.tty, unix.TIOCGPGRP); err == nil && pgrp == unix.Getpgrp() {
		if err := unix.IoctlSetPointerInt(j.tty, unix.TIOCSPGRP, j.f.pid); err != nil {
			j.say("the terminal not given back to process group %d: %v", j.f.pid, os.NewSyscallError("ioctl TIOCSPGRP", err))
		}
	}
}

// orphanedGroup reports whether the tool's process group is orphaned: no
// member has a parent in another group of the same session, which is the
// link to a shell that could continue the group. It follows the tool's
// ancestors, the members that started the job, up to the first one out of
// the group (/proc/PID/stat); without /proc, the tool's parent alone.
func orphanedGroup() bool {
	own, err := unix.Getsid(0)
	if err != nil {
		return true
	}
	group := unix.Getpgrp()
	pid := unix.Getppid()
	for range 64 { // a bound, against a loop in what /proc said
		ppid, pgid, sid, err := procStat(pid)
		if err != nil { // no /proc: as the parent is, with getpgid and getsid
			if pgid, err = unix.Getpgid(pid); err != nil {
				return true
			}
			if sid, err = unix.Getsid(pid); err != nil {
				return true
			}
			ppid = 0
		}
		switch {
		case sid != own:
			return true
		case pgid != group:
			return false
		case ppid <= 1:
			return true
		}
		pid = ppid
	}
	return true
}

// procStat reads a process's parent, process group and session from
// /proc/PID/stat ("pid (comm) state ppid pgrp session ..."; comm may hold
// spaces and parentheses).
func procStat(pid int) (ppid, pgrp, sid int, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 4 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, stat)
	}
	var ids [3]int
	for i := range ids {
		if ids[i], err = strconv.Atoi(fields[i+1]); err != nil {
			return 0, 0, 0, err
		}
	}
	return ids[0], ids[1], ids[2], nil
}
