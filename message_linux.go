//go:build linux

package pidfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxFdsPerMessage is the kernel's SCM_MAX_FD: the most descriptors one
// message can carry.
const maxFdsPerMessage = 253

// oobSize fits every control message a receive can bring: a full
// SCM_RIGHTS, SCM_PIDFD and SCM_CREDENTIALS, with room to spare for a
// security label (SO_PASSSEC).
var oobSize = unix.CmsgSpace(4*maxFdsPerMessage) + unix.CmsgSpace(4) +
	unix.CmsgSpace(unix.SizeofUcred) + 256

var oobBuffers = sync.Pool{New: func() any {
	b := make([]byte, oobSize)
	return &b
}}

func writeMessage(conn *net.UnixConn, b []byte, addr *net.UnixAddr, pidfds []*PidFd) (int, error) {
	if conn == nil {
		return 0, os.ErrInvalid
	}
	if len(pidfds) > maxFdsPerMessage {
		return 0, fmt.Errorf("pidfd: %d descriptors in one message, the kernel takes at most %d: %w",
			len(pidfds), maxFdsPerMessage, os.NewSyscallError("sendmsg", unix.EINVAL))
	}
	var n int
	err := pinAll(pidfds, make([]int, 0, len(pidfds)), func(fds []int) error {
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		var err error
		n, _, err = conn.WriteMsgUnix(b, oob, addr)
		return err
	})
	return n, err
}

// pinAll runs f with the descriptors of all pidfds held open against
// Close.
func pinAll(pidfds []*PidFd, fds []int, f func(fds []int) error) error {
	for i, p := range pidfds {
		fd, err := p.pin()
		if err != nil {
			for _, pinned := range pidfds[:i] {
				pinned.unpin()
			}
			return err
		}
		fds = append(fds, fd)
	}
	defer func() {
		for _, p := range pidfds {
			p.unpin()
		}
	}()
	return f(fds)
}

func passSender(conn syscall.Conn) error {
	if err := unsupported(); err != nil {
		return err // the senders could not be adopted
	}
	_, err := peerOption(conn, func(fd int) (int, error) {
		return 0, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSPIDFD, 1)
	})
	if err == unix.ENOPROTOOPT {
		return fmt.Errorf("pidfd: SO_PASSPIDFD needs Linux 6.5: %w", errors.ErrUnsupported)
	}
	return wrapErr("setsockopt SO_PASSPIDFD", err)
}

func readMessage(conn *net.UnixConn, b []byte) (n int, m Message, err error) {
	if conn == nil {
		return 0, Message{}, os.ErrInvalid
	}
	oobp := oobBuffers.Get().(*[]byte)
	defer oobBuffers.Put(oobp)
	oob := *oobp
	n, oobn, flags, addr, err := conn.ReadMsgUnix(b, oob)
	n = min(n, len(b)) // for an empty b on a stream socket Go reads one byte
	fds, senderFd, senderErr := parseControl(oob[:oobn])
	switch {
	case err != nil:
	case flags&unix.MSG_CTRUNC != 0:
		err = truncatedErr(conn) // before closing what did arrive: it counts
	case senderErr != nil:
		err = senderErr
	default:
		m, err = adopt(fds, senderFd)
		m.Addr = addr
		if err == nil {
			return n, m, nil
		}
		return n, Message{}, err // adopt closed them all
	}
	closeAll(fds, senderFd)
	return n, Message{}, err
}

// truncatedErr explains control data that the kernel cut short. The
// buffer fits all that a message can carry, so descriptors were lost on the
// way in: the kernel installs a message's descriptors one by one, stops at
// the first it cannot, and sets MSG_CTRUNC. Most often this process had
// every descriptor RLIMIT_NOFILE allows open; asking the kernel for one
// more tells, as long as those that did arrive are still open.
func truncatedErr(conn *net.UnixConn) error {
	if raw, err := conn.SyscallConn(); err == nil {
		full := false
		raw.Control(func(fd uintptr) {
			dup, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			if err == nil {
				unix.Close(dup)
			}
			full = err == unix.EMFILE
		})
		if full {
			var limit unix.Rlimit
			unix.Getrlimit(unix.RLIMIT_NOFILE, &limit)
			return fmt.Errorf("pidfd: descriptors of the message lost: this process has as many open as "+
				"RLIMIT_NOFILE allows (%d): %w", limit.Cur, os.NewSyscallError("recvmsg", unix.EMFILE))
		}
	}
	return fmt.Errorf("pidfd: control data of the message truncated, descriptors lost "+
		"(the kernel could not install them here): %w", os.NewSyscallError("recvmsg", unix.EMSGSIZE))
}

// parseControl finds the descriptors in a message's control data: those
// attached (SCM_RIGHTS) and the sender's (SCM_PIDFD), -1 if none. The kernel
// sends a negative error number instead of the sender's pidfd if it could
// not make one.
func parseControl(oob []byte) (fds []int, sender int, senderErr error) {
	sender = -1
	for {
		level, typ, data, rest, ok := nextControl(oob)
		if !ok {
			return fds, sender, senderErr
		}
		oob = rest
		if level != unix.SOL_SOCKET {
			continue
		}
		switch typ {
		case unix.SCM_RIGHTS:
			for ; len(data) >= 4; data = data[4:] {
				fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
			}
		case unix.SCM_PIDFD:
			if len(data) < 4 {
				continue
			}
			switch v := int32(binary.NativeEndian.Uint32(data)); {
			case v >= 0:
				sender = int(v)
			case unix.Errno(-v) == unix.ESRCH, unix.Errno(-v) == unix.EINVAL:
				// Kernels without pidfs name no reaped process: 6.12
				// answers EINVAL for one, as for SO_PEERPIDFD.
				senderErr = fmt.Errorf("pidfd: the sender: %w", wrapErr("recvmsg SCM_PIDFD", unix.ESRCH))
			default:
				senderErr = fmt.Errorf("pidfd: the sender: %w", os.NewSyscallError("recvmsg SCM_PIDFD", unix.Errno(-v)))
			}
		}
	}
}

// nextControl splits the first control message off oob. It reads the
// header field by field: x/sys's parser casts the bytes to a Cmsghdr, which
// the race detector's pointer checks reject for short or unaligned data.
// The header is a length the size of a pointer, then level and type (the
// kernel uses the 32-bit layout for 32-bit programs).
func nextControl(oob []byte) (level, typ int32, data, rest []byte, ok bool) {
	if len(oob) < unix.SizeofCmsghdr {
		return 0, 0, nil, nil, false
	}
	var length uint64
	if ptrSize == 8 {
		length = binary.NativeEndian.Uint64(oob)
	} else {
		length = uint64(binary.NativeEndian.Uint32(oob))
	}
	if length < unix.SizeofCmsghdr || length > uint64(len(oob)) {
		return 0, 0, nil, nil, false
	}
	level = int32(binary.NativeEndian.Uint32(oob[ptrSize:]))
	typ = int32(binary.NativeEndian.Uint32(oob[ptrSize+4:]))
	next := min((length+uint64(ptrSize)-1)&^uint64(ptrSize-1), uint64(len(oob)))
	return level, typ, oob[unix.SizeofCmsghdr:length], oob[next:], true
}

// adopt makes PidFds of a message's descriptors, or closes them all.
func adopt(fds []int, sender int) (Message, error) {
	var m Message
	for i := range fds {
		fds[i] = setAside(fds[i])
		p, err := NewFile(uintptr(fds[i]))
		if err != nil {
			m.Close()
			closeAll(fds[i:], sender)
			return Message{}, fmt.Errorf("pidfd: descriptor %d of the message: %w", i, err)
		}
		m.PidFds = append(m.PidFds, p)
	}
	if sender >= 0 {
		p, err := adoptPeer(sender)
		if err != nil {
			m.Close()
			return Message{}, fmt.Errorf("pidfd: the sender: %w", err)
		}
		m.Sender = p
	}
	return m, nil
}

func closeAll(fds []int, sender int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
	if sender >= 0 {
		unix.Close(sender)
	}
}
