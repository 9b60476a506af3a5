//go:build linux

package main

import (
	"bytes"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals lists the signals run forwards: see runCommand.doc.
// Those of a fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
// SIGABRT) are among them: Go's runtime relays one to the program only if
// a process sent it (si_code SI_USER or SI_TKILL), and still crashes the
// tool on a real fault of its own.
var forwardedSignals = func() []os.Signal {
	var sigs []os.Signal
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		switch sig {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPROF, 32, 33, 34:
			continue
		}
		sigs = append(sigs, sig)
	}
	return sigs
}()

// ignoredSignals returns the signals that are ignored, before the tool has
// caught any. As a Go program starts, Go's runtime installs its own handler
// for most signals: it keeps an inherited SIG_IGN only for SIGHUP and SIGINT,
// which signal.Ignored then reports, and for the signals it leaves alone,
// among them SIGTSTP and SIGCONT, which only the kernel reports (SigIgn in
// /proc/self/status). That some other signal was ignored is lost before
// the tool starts.
//
// It reads /proc/self/status with bare system calls into a buffer on the
// stack: an os.File would set up Go's network poller and its descriptors
// for a read that never waits, and the allocations cost an init's memory.
func ignoredSignals() (ignored [65]bool) {
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		ignored[sig] = signal.Ignored(sig)
	}
	mask, ok := selfSigIgn()
	if !ok {
		return ignored // no /proc: SIGHUP and SIGINT are known all the same
	}
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		ignored[sig] = ignored[sig] || mask&(1<<(sig-1)) != 0
	}
	return ignored
}

// selfSigIgn reads this process's SigIgn mask from /proc/self/status.
func selfSigIgn() (mask uint64, ok bool) {
	fd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	var buf [4096]byte // the file is some 1.5 kB; SigIgn is in its first half
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			break
		}
		n += m
	}
	_, line, found := bytes.Cut(buf[:n], []byte("\nSigIgn:"))
	if !found {
		return 0, false
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	mask, err = strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 64)
	return mask, err == nil
}
