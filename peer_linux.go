//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"syscall"

	"golang.org/x/sys/unix"
)

func fromUnixConn(conn *net.UnixConn) (*PidFd, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	fd, err := peerOption(conn, func(s int) (int, error) {
		return unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	})
	switch {
	case err == unix.ENOPROTOOPT:
		return nil, fmt.Errorf("pidfd: SO_PEERPIDFD needs Linux 6.5: %w", errors.ErrUnsupported)
	case err == unix.EINVAL:
		// Before pidfs could name reaped processes, the kernel (6.5 to at
		// least 6.12) answers EINVAL for a peer that has been reaped.
		return nil, wrapErr("getsockopt SO_PEERPIDFD", unix.ESRCH)
	case err != nil:
		return nil, wrapErr("getsockopt SO_PEERPIDFD", err)
	}
	return adoptPeer(fd)
}

// adoptPeer makes a PidFd of a pidfd the kernel made for a socket's peer
// or a message's sender, closing fd on failure. Kernels with pidfs name
// even a peer that has been reaped; older ones cannot, and answer an error:
// a reaped peer is os.ErrProcessDone on all of them.
func adoptPeer(fd int) (*PidFd, error) {
	fd = setAside(fd)
	p, err := NewFile(uintptr(fd))
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if p.pid == -1 {
		p.Close()
		return nil, fmt.Errorf("pidfd: the peer has been reaped: %w", os.ErrProcessDone)
	}
	return p, nil
}

// peerOption runs get on the socket's descriptor, pinned.
func peerOption(conn syscall.Conn, get func(fd int) (int, error)) (int, error) {
	// A typed nil (a nil *net.UnixConn, *net.TCPConn, ...) has methods that
	// dereference it.
	if conn == nil || reflect.ValueOf(conn).Kind() == reflect.Pointer && reflect.ValueOf(conn).IsNil() {
		return 0, os.ErrInvalid
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, os.ErrInvalid // a nil or unusable connection
	}
	var value int
	var getErr error
	if err := raw.Control(func(fd uintptr) { value, getErr = get(int(fd)) }); err != nil {
		return 0, err
	}
	return value, getErr
}
