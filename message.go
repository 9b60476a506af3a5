package pidfd

import (
	"errors"
	"net"
	"syscall"
)

// Message is what arrived with the bytes of one message.
type Message struct {
	// PidFds are the pidfds the sender attached (SCM_RIGHTS), in order.
	PidFds []*PidFd
	// Sender names the process that sent the message, if [PassSender]
	// was called on the receiving socket (SCM_PIDFD); nil otherwise.
	Sender *PidFd
	// Addr is the sender's address on a datagram socket, as
	// [net.UnixConn.ReadMsgUnix] returns it.
	Addr *net.UnixAddr
}

// Close closes every PidFd of the message and joins their errors: one
// that was closed already reports [os.ErrClosed], as [PidFd.Close] does.
func (m *Message) Close() error {
	if m == nil {
		return nil
	}
	var errs []error
	for _, p := range m.PidFds {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if m.Sender != nil {
		errs = append(errs, m.Sender.Close())
	}
	return errors.Join(errs...)
}

// WriteMessage sends b over a unix socket with the given pidfds attached
// (SCM_RIGHTS), in one sendmsg, as [net.UnixConn.WriteMsgUnix] does: addr
// is nil on a connected socket. The receiver gets descriptors of its own for
// the same processes; [ReadMessage] turns them into PidFds. The PidFds stay
// open here, and none can be closed while the message is being sent.
//
// A message carries at most 253 descriptors. On a stream socket descriptors
// travel with data: if b is empty, Go sends one zero byte.
func WriteMessage(conn *net.UnixConn, b []byte, addr *net.UnixAddr, pidfds ...*PidFd) (int, error) {
	return writeMessage(conn, b, addr, pidfds)
}

// ReadMessage reads one message from a unix socket into b, as
// [net.UnixConn.ReadMsgUnix] does (so the connection's deadlines apply),
// and adopts the pidfds that came with it. The caller owns them: close them,
// for example with [Message.Close].
//
// A message is rejected, with every descriptor that came with it closed
// and n still counting the bytes read, if any attached descriptor is not a
// pidfd ([ErrNotPidFd]), if descriptors were lost on the way in, or if the
// sender, asked for by [PassSender], could not be named:
// [os.ErrProcessDone] when it has already been reaped. The kernel drops the
// descriptors it cannot install here, most often because this process has
// all the descriptors RLIMIT_NOFILE allows open: the error is then
// [syscall.EMFILE].
//
// On a stream socket b should not be empty: Go then reads one byte of the
// stream, which is right only for a message that [WriteMessage] sent with
// no bytes (it sends one zero byte then) and is lost otherwise.
func ReadMessage(conn *net.UnixConn, b []byte) (n int, m Message, err error) {
	return readMessage(conn, b)
}

// PassSender asks the kernel to name the sending process of the messages a
// unix socket receives (SO_PASSPIDFD, Linux 6.5+; [errors.ErrUnsupported]
// before): [ReadMessage] then returns it as [Message.Sender]. Unlike a PID
// read from SCM_CREDENTIALS, that pidfd is made by the kernel for the
// process that sent the message, so it cannot name another process that
// took over a recycled PID.
//
// conn is a [*net.UnixConn] or a [*net.UnixListener]. The kernel notes the
// sender when a message is sent, and only if the receiving socket asked for
// it by then: a client may write as soon as it has connected, before the
// server has accepted, so call PassSender on the listener before accepting.
// Accepted connections inherit it.
func PassSender(conn syscall.Conn) error {
	return passSender(conn)
}
