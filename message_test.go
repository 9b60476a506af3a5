//go:build linux

package pidfd

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestWriteReadMessage(t *testing.T) {
	for name, typ := range map[string]int{"stream": unix.SOCK_STREAM, "seqpacket": unix.SOCK_SEQPACKET, "datagram": unix.SOCK_DGRAM} {
		t.Run(name, func(t *testing.T) {
			leakcheck.Check(t)
			_, first := startChild(t, testchild.Sleep)
			_, second := startChild(t, testchild.Sleep)
			self, err := Self()
			if err != nil {
				t.Fatal(err)
			}
			defer self.Close()
			sender, receiver := unixPair(t, typ)

			sent := []*PidFd{first, second, self}
			if n, err := WriteMessage(sender, []byte("hello"), nil, sent...); err != nil || n != 5 {
				t.Fatalf("WriteMessage = %d, %v; want 5, nil", n, err)
			}
			// No pidfds: the message is plain bytes.
			if _, err := WriteMessage(sender, []byte("plain"), nil); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16)
			n, m, err := ReadMessage(receiver, buf)
			if err != nil || string(buf[:n]) != "hello" || len(m.PidFds) != len(sent) || m.Sender != nil {
				m.Close()
				t.Fatalf("ReadMessage = %q, %d pidfds, sender %v, %v; want hello, %d pidfds, no sender", buf[:n], len(m.PidFds), m.Sender, err, len(sent))
			}
			defer m.Close()
			for i, got := range m.PidFds {
				if got.Fd() == sent[i].Fd() || !got.Equal(sent[i]) {
					t.Errorf("pidfd %d arrived as fd %d naming another process than fd %d", i, got.Fd(), sent[i].Fd())
				}
				if mustPIDOf(t, got) != mustPIDOf(t, sent[i]) {
					t.Errorf("pidfd %d: PID %d; sent %d", i, mustPIDOf(t, got), mustPIDOf(t, sent[i]))
				}
			}
			// A received pidfd acts on the process: kill the first child
			// through it and see the child die.
			if err := m.PidFds[0].Kill(); err != nil {
				t.Fatal(err)
			}
			if status, err := first.Wait(); err != nil || status.Signal() != syscall.SIGKILL {
				t.Errorf("child killed through the received pidfd: %v, %v", status, err)
			}
			if n, m2, err := ReadMessage(receiver, buf); err != nil || string(buf[:n]) != "plain" || len(m2.PidFds) != 0 {
				m2.Close()
				t.Errorf("second ReadMessage = %q, %d pidfds, %v; want plain and none", buf[:n], len(m2.PidFds), err)
			}
		})
	}
}

// TestReadMessageRejects sends a pipe among pidfds: the message is refused
// and every descriptor that came with it closed (leakcheck counts them).
func TestReadMessageRejects(t *testing.T) {
	leakcheck.Check(t)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	sender, receiver := unixPair(t, unix.SOCK_SEQPACKET)
	oob := unix.UnixRights(int(self.Fd()), int(r.Fd()), int(self.Fd()))
	if _, _, err := sender.WriteMsgUnix([]byte("mixed"), oob, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteMessage(sender, []byte("good"), nil, self); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, m, err := ReadMessage(receiver, buf)
	if !errors.Is(err, ErrNotPidFd) || len(m.PidFds) != 0 || string(buf[:n]) != "mixed" {
		m.Close()
		t.Fatalf("ReadMessage with a pipe attached = %q, %d pidfds, %v; want mixed, none, ErrNotPidFd", buf[:n], len(m.PidFds), err)
	}
	n, m, err = ReadMessage(receiver, buf)
	if err != nil || len(m.PidFds) != 1 || string(buf[:n]) != "good" {
		t.Errorf("the next message = %q, %d pidfds, %v; want good, 1", buf[:n], len(m.PidFds), err)
	}
	m.Close()
}

// TestReadMessageOutOfDescriptors receives pidfds while this process has
// no descriptor free, or fewer than the message carries: the kernel installs
// what it can, drops the rest and truncates the control data. ReadMessage
// must say the descriptor table was full (EMFILE), close what did arrive,
// and read the next message once descriptors are free again.
func TestReadMessageOutOfDescriptors(t *testing.T) {
	leakcheck.Check(t)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	sender, receiver := unixPair(t, unix.SOCK_SEQPACKET)
	buf := make([]byte, 16)
	for _, free := range []int{0, 2} {
		for _, words := range []string{"lost", "kept"} {
			if _, err := WriteMessage(sender, []byte(words), nil, self, self, self); err != nil {
				t.Fatal(err)
			}
		}
		withFdsFree(t, int(self.Fd()), free, func(countFree func() int) {
			n, m, err := ReadMessage(receiver, buf)
			if !errors.Is(err, syscall.EMFILE) || len(m.PidFds) != 0 || string(buf[:n]) != "lost" {
				m.Close()
				t.Errorf("ReadMessage with %d descriptors free = %q, %d pidfds, %v; want lost, none, EMFILE", free, buf[:n], len(m.PidFds), err)
			}
			if got := countFree(); got != free {
				t.Errorf("after the refused message %d descriptors are free; want the %d it arrived with", got, free)
			}
		})
		n, m, err := ReadMessage(receiver, buf)
		if err != nil || string(buf[:n]) != "kept" || len(m.PidFds) != 3 || !m.PidFds[2].Equal(self) {
			t.Errorf("the next message, descriptors free again = %q, %d pidfds, %v; want kept, 3 of this process", buf[:n], len(m.PidFds), err)
		}
		m.Close()
	}
}

// withFdsFree runs f while this process can open exactly free more
// descriptors: it lowers RLIMIT_NOFILE to a little above the descriptors
// open now and fills the table with duplicates of fd up to the limit, less
// free. countFree counts the descriptors free, opening and closing them.
// Everything is undone before it returns.
func withFdsFree(t *testing.T, fd, free int, f func(countFree func() int)) {
	t.Helper()
	open, err := leakcheck.OpenFds()
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for n := range open {
		highest = max(highest, n)
	}
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	limit := saved
	limit.Cur = uint64(highest + 1 + 16)
	if limit.Cur > saved.Cur {
		t.Skipf("RLIMIT_NOFILE %d leaves no room to lower it", saved.Cur)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
			t.Error(err)
		}
	}()
	dupAll := func() []int {
		var dups []int
		for {
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err == unix.EMFILE {
				return dups
			}
			if err != nil {
				closeAll(dups, -1)
				t.Fatal(err)
			}
			dups = append(dups, dup)
		}
	}
	dups := dupAll()
	defer func() { closeAll(dups, -1) }()
	if len(dups) < free {
		t.Fatalf("only %d descriptors free under the lowered limit; want %d", len(dups), free)
	}
	closeAll(dups[len(dups)-free:], -1)
	dups = dups[:len(dups)-free]
	f(func() int {
		more := dupAll()
		closeAll(more, -1)
		return len(more)
	})
}

// TestReadMessageEmptyBuffer reads into an empty buffer on a stream
// socket, where Go consumes one byte: n must still fit the buffer.
func TestReadMessageEmptyBuffer(t *testing.T) {
	leakcheck.Check(t)
	sender, receiver := unixPair(t, unix.SOCK_STREAM)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if n, err := WriteMessage(sender, nil, nil, self); err != nil || n != 0 {
		t.Fatalf("WriteMessage with no bytes = %d, %v", n, err)
	}
	n, m, err := ReadMessage(receiver, nil)
	defer m.Close()
	if err != nil || n != 0 || len(m.PidFds) != 1 || !m.PidFds[0].Equal(self) {
		t.Errorf("ReadMessage into nothing = %d, %d pidfds, %v; want 0, 1, nil", n, len(m.PidFds), err)
	}
}

// TestMessageClose checks that Close leaves the caller's slices alone.
func TestMessageClose(t *testing.T) {
	leakcheck.Check(t)
	all := make([]*PidFd, 3, 4)
	for i := range all {
		p, err := Self()
		if err != nil {
			t.Fatal(err)
		}
		all[i] = p
	}
	sender, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	m := Message{PidFds: all[:1], Sender: sender}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if all[1] == sender {
		t.Error("Close wrote the sender into the slice behind PidFds")
	}
	for _, p := range all[1:] {
		if p.Fd() == ^uintptr(0) {
			t.Error("Close closed a PidFd beyond the message's slice")
		}
		p.Close()
	}
	if all[0].Fd() != ^uintptr(0) || sender.Fd() != ^uintptr(0) {
		t.Error("Close left the message's PidFds open")
	}
}

func TestReadMessageDeadline(t *testing.T) {
	leakcheck.Check(t)
	_, receiver := unixPair(t, unix.SOCK_STREAM)
	receiver.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, m, err := ReadMessage(receiver, make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		m.Close()
		t.Errorf("ReadMessage past its deadline = %v; want os.ErrDeadlineExceeded", err)
	}
}

func TestWriteMessageBadInput(t *testing.T) {
	leakcheck.Check(t)
	sender, _ := unixPair(t, unix.SOCK_STREAM)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	closed, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	defer self.Close()
	if _, err := WriteMessage(nil, []byte("x"), nil, self); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("WriteMessage on a nil conn = %v; want os.ErrInvalid", err)
	}
	if _, _, err := ReadMessage(nil, nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("ReadMessage on a nil conn = %v; want os.ErrInvalid", err)
	}
	if _, err := WriteMessage(sender, []byte("x"), nil, self, closed); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteMessage with a closed PidFd = %v; want os.ErrClosed", err)
	}
	if _, err := WriteMessage(sender, []byte("x"), nil, self, nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("WriteMessage with a nil PidFd = %v; want os.ErrInvalid", err)
	}
	many := make([]*PidFd, maxFdsPerMessage+1)
	for i := range many {
		many[i] = self
	}
	if _, err := WriteMessage(sender, []byte("x"), nil, many...); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("WriteMessage with %d pidfds = %v; want EINVAL", len(many), err)
	}
	for _, conn := range []syscall.Conn{nil, (*net.UnixConn)(nil), (*net.UnixListener)(nil), (*net.TCPConn)(nil), (*os.File)(nil)} {
		if err := PassSender(conn); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("PassSender(%#v) = %v; want os.ErrInvalid", conn, err)
		}
	}
}

// passSenderOrSkip skips the test on kernels without SO_PASSPIDFD, after
// checking that PassSender says so.
func passSenderOrSkip(t *testing.T) {
	t.Helper()
	_, b := unixPair(t, unix.SOCK_STREAM)
	err := PassSender(b)
	if !KernelFeatures().PeerPidFd {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("PassSender before 6.5 = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no SO_PASSPIDFD (Linux 6.5) on this kernel (checked that it says so)")
	}
	if err != nil {
		t.Fatal(err)
	}
}

func listenerPassSender(l *net.UnixListener) error { return PassSender(l) }

// waitQueued waits until n bytes wait to be read on conn, without reading
// them.
func waitQueued(t *testing.T, conn *net.UnixConn, n int) {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Read(func(fd uintptr) bool {
		queued, _ := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		return queued == n
	})
}

func TestPassSender(t *testing.T) {
	leakcheck.Check(t)
	passSenderOrSkip(t)
	conn, child := acceptChild(t, listenerPassSender, "from the child")
	buf := make([]byte, 64)
	n, m, err := ReadMessage(conn, buf)
	if err != nil || m.Sender == nil || string(buf[:n]) != "from the child" {
		m.Close()
		t.Fatalf("ReadMessage = %q, sender %v, %v; want the child's words and a sender", buf[:n], m.Sender, err)
	}
	defer m.Close()
	if !m.Sender.Equal(child) {
		t.Error("the sender's PidFd names another process than the child that wrote")
	}

	// Our own message through a pair: the sender is this process.
	a, b := unixPair(t, unix.SOCK_DGRAM)
	if err := PassSender(b); err != nil {
		t.Fatal(err)
	}
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if _, err := WriteMessage(a, []byte("me"), nil, self); err != nil {
		t.Fatal(err)
	}
	_, m2, err := ReadMessage(b, buf)
	if err != nil || m2.Sender == nil || !m2.Sender.Equal(self) || len(m2.PidFds) != 1 {
		t.Errorf("own message: sender %v, %d pidfds, %v; want this process and 1", m2.Sender, len(m2.PidFds), err)
	}
	m2.Close()
}

// TestPassSenderTooLate shows why PassSender belongs on the listener: the
// kernel notes the sender when the message is sent, so a message sent to a
// socket that had not asked yet carries none. (A message sent before the
// server accepted is the exception: the kernel notes the sender of those
// always, which is why the child in TestPassSender cannot show this.)
func TestPassSenderTooLate(t *testing.T) {
	leakcheck.Check(t)
	passSenderOrSkip(t)
	a, b := unixPair(t, unix.SOCK_STREAM)
	if _, err := a.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	if err := PassSender(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, m, err := ReadMessage(b, buf)
	defer m.Close()
	if err != nil || string(buf[:n]) != "early" || m.Sender != nil {
		t.Errorf("ReadMessage = %q, sender %v, %v; want early, no sender", buf[:n], m.Sender, err)
	}
	if _, err := a.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	n, m2, err := ReadMessage(b, buf)
	defer m2.Close()
	if err != nil || string(buf[:n]) != "late" || m2.Sender == nil {
		t.Errorf("ReadMessage = %q, sender %v, %v; want late, from this process", buf[:n], m2.Sender, err)
	}
}

// TestPassSenderReaped reads a message whose sender has been reaped by
// then: the message is refused as os.ErrProcessDone, never attributed to
// another process.
func TestPassSenderReaped(t *testing.T) {
	leakcheck.Check(t)
	passSenderOrSkip(t)
	conn, child := acceptChild(t, listenerPassSender, "last words")
	waitQueued(t, conn, len("last words"))
	child.Kill()
	if _, err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, m, err := ReadMessage(conn, buf)
	if !errors.Is(err, os.ErrProcessDone) || m.Sender != nil {
		m.Close()
		t.Fatalf("ReadMessage from a reaped sender = %q, sender %v, %v; want os.ErrProcessDone", buf[:n], m.Sender, err)
	}
	if string(buf[:n]) != "last words" {
		t.Errorf("the refused message still reports its bytes: got %q", buf[:n])
	}
}

// FuzzParseControl feeds the parser control data that no kernel wrote: it
// must not panic, and must find every descriptor of a well-formed
// SCM_RIGHTS message, whatever follows it.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 4, 0, 0, 0}, []byte{})
	f.Add([]byte{7, 0, 0, 0}, sendersControl(9))
	f.Add([]byte{}, sendersControl(-int32(unix.ESRCH)))
	f.Add([]byte{1, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{}, []byte("1\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00000000000000000000000000000000000"))
	f.Fuzz(func(t *testing.T, fdBytes, tail []byte) {
		var want []int
		for ; len(fdBytes) >= 4 && len(want) < maxFdsPerMessage; fdBytes = fdBytes[4:] {
			want = append(want, int(int32(binary.NativeEndian.Uint32(fdBytes))))
		}
		var oob []byte
		if len(want) > 0 {
			oob = unix.UnixRights(want...)
		}
		fds, sender, _ := parseControl(append(oob, tail...))
		if sender < -1 {
			t.Fatalf("sender descriptor %d", sender)
		}
		if len(fds) < len(want) || !slices.Equal(fds[:len(want)], want) {
			t.Fatalf("parseControl found %v; want %v first", fds, want)
		}
		parseControl(tail)
	})
}

// sendersControl is an SCM_PIDFD control message carrying v.
func sendersControl(v int32) []byte {
	b := unix.UnixRights(int(v))
	binary.NativeEndian.PutUint32(b[ptrSize+4:], unix.SCM_PIDFD)
	return b
}
