//go:build linux

package pidfd

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

// exitClock learns when processes exit from the kernel's process events
// connector (netlink, CONFIG_PROC_EVENTS). The exiting task stamps its
// event with CLOCK_MONOTONIC right after it has woken its pidfds' waiters,
// so the stamp is the moment every waiting method learns of the exit, and
// no thread of ours has to wake to take it: BenchmarkWaitMany reads the
// events only after each sample, leaving the exit to wake the measured
// method alone. (Where the exiting task is preempted between the two, the
// stamp is late: a thread polling a pidfd of its own woke before the stamp
// in about one exit in a hundred, by up to 80 µs, on the machine of
// bench/README.md.)
type exitClock struct {
	fd    int // blocking and off the runtime poller: nothing wakes for it
	base  time.Time
	mono0 int64 // CLOCK_MONOTONIC at base
	buf   []byte
}

// From linux/connector.h and linux/cn_proc.h.
const (
	cnIdxProc         = 1
	procCnMcastListen = 1
	procEventExit     = 0x80000000
	nlmsgHdrLen       = 16
	cnMsgLen          = 20 // struct cn_msg, before its data
)

// newExitClock listens for process events and checks, with a child of its
// own, that the exits it reports are this PID namespace's.
func newExitClock() (*exitClock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c := &exitClock{fd: fd, buf: make([]byte, 64<<10)}
	// Every process on the machine is reported: room for a busy one
	// between two reads.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc})
	if err != nil {
		c.close()
		return nil, os.NewSyscallError("bind", err)
	}
	// The four-byte request that every kernel since 2.6.15 takes.
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(msg[12:], uint32(os.Getpid()))
	binary.NativeEndian.PutUint32(msg[16:], cnIdxProc) // cb_id.idx
	binary.NativeEndian.PutUint32(msg[20:], 1)         // cb_id.val: CN_VAL_PROC
	binary.NativeEndian.PutUint16(msg[32:], 4)         // len of the data
	binary.NativeEndian.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		c.close()
		return nil, os.NewSyscallError("sendto", err)
	}
	var ts unix.Timespec
	c.base = time.Now()
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	c.mono0 = ts.Nano()
	// The kernel serves privileged listeners in its initial namespaces and
	// ignores others without an error, and it reports PIDs of the initial
	// PID namespace: only a child's own exit proves the clock.
	probe := exec.Command("true")
	if err := probe.Run(); err != nil {
		c.close()
		return nil, err
	}
	if _, ok, err := c.exitOf(probe.Process.Pid, time.Second); err != nil || !ok {
		c.close()
		return nil, errors.Join(errors.New("no exit events from the process events connector"), err)
	}
	return c, nil
}

func (c *exitClock) close() { unix.Close(c.fd) }

// exitOf returns when pid exited, reading events until one says so or
// none has come for wait. The events it passes over are gone: exitOf(0, 0)
// drops the stale ones before a sample.
func (c *exitClock) exitOf(pid int, wait time.Duration) (time.Time, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		when, found, err := c.read(pid)
		if found || err != nil {
			return when, found, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return time.Time{}, false, nil
		}
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return time.Time{}, false, os.NewSyscallError("poll", err)
		}
	}
}

// read reads the events queued, looking for pid's exit.
func (c *exitClock) read(pid int) (time.Time, bool, error) {
	var when time.Time
	found := false
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, unix.MSG_DONTWAIT)
		switch {
		case err == unix.EINTR || err == unix.ENOBUFS: // ENOBUFS: events were dropped
			continue
		case err == unix.EAGAIN:
			return when, found, nil
		case err != nil:
			return when, found, os.NewSyscallError("recvfrom", err)
		}
		for b := c.buf[:n]; len(b) >= nlmsgHdrLen; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < nlmsgHdrLen || l > len(b) {
				break
			}
			m := b[:l]
			b = b[min((l+3)&^3, len(b)):]
			// struct proc_event: what, cpu, timestamp_ns, then for an
			// exit the process's PID and its thread group's.
			if l < nlmsgHdrLen+cnMsgLen+24 {
				continue
			}
			ev := m[nlmsgHdrLen+cnMsgLen:]
			if binary.NativeEndian.Uint32(ev) != procEventExit {
				continue
			}
			p := int(int32(binary.NativeEndian.Uint32(ev[16:])))
			tgid := int(int32(binary.NativeEndian.Uint32(ev[20:])))
			if p == pid && tgid == pid {
				when = c.base.Add(time.Duration(int64(binary.NativeEndian.Uint64(ev[8:])) - c.mono0))
				found = true
			}
		}
	}
}
