package pidfd

import "net"

// FromUnixConn returns a PidFd for the process at the other end of a
// connected unix socket: the one that connected, or that was listening. The
// kernel names that process itself (SO_PEERPIDFD, Linux 6.5+), so the answer
// cannot be a process that merely inherited a PID: this is how a server
// authenticates a client safely. It fails with [os.ErrProcessDone] once the
// peer has been reaped.
//
// Before Linux 6.5 it fails with [errors.ErrUnsupported]: the kernel knows
// the peer only by the PID it had when it connected (SO_PEERCRED). A caller
// who accepts the race can read that PID, with
// [golang.org/x/sys/unix.GetsockoptUcred], and [Open] it; but the peer may
// have exited and its PID gone to another process in between, and the
// PidFd then names that other process. That is safe only where the peer
// cannot exit meanwhile (it waits for an answer on the socket and is known
// not to be killed).
func FromUnixConn(conn *net.UnixConn) (*PidFd, error) {
	return fromUnixConn(conn)
}
