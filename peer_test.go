//go:build linux

package pidfd

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

func TestFromUnixConn(t *testing.T) {
	leakcheck.Check(t)
	conn, child := acceptChild(t, nil)
	peer, err := FromUnixConn(conn)
	if !KernelFeatures().PeerPidFd {
		if !errors.Is(err, errors.ErrUnsupported) {
			peer.Close()
			t.Fatalf("FromUnixConn without SO_PEERPIDFD = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no SO_PEERPIDFD (Linux 6.5) on this kernel (checked that it says so)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if !peer.Equal(child) {
		t.Error("the peer's PidFd names another process than the child that connected")
	}
	// The peer exits and is reaped: the socket still knows exactly who it
	// was, and says it is gone instead of opening whoever has its PID now.
	child.Kill()
	if _, err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := peer.Signal(nil); err == nil {
		t.Error("Signal(nil) succeeded")
	}
	if _, err := peer.PID(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("PID of the reaped peer = %v; want os.ErrProcessDone", err)
	}
	if again, err := FromUnixConn(conn); !errors.Is(err, os.ErrProcessDone) {
		again.Close()
		t.Errorf("FromUnixConn after the peer was reaped = %v; want os.ErrProcessDone", err)
	}
}

// TestPeerCredFallback follows FromUnixConn's advice for kernels before
// 6.5, on every kernel: the peer's PID by SO_PEERCRED, then Open, names the
// child that connected while it cannot exit. And a nil connection is
// refused.
func TestPeerCredFallback(t *testing.T) {
	leakcheck.Check(t)
	conn, child := acceptChild(t, nil)
	pid, err := peerOption(conn, func(s int) (int, error) {
		cred, err := unix.GetsockoptUcred(s, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return 0, err
		}
		return int(cred.Pid), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if !peer.Equal(child) {
		t.Error("the peer's PidFd names another process than the child that connected")
	}
	if p, err := FromUnixConn(nil); p != nil || !errors.Is(err, os.ErrInvalid) {
		t.Errorf("FromUnixConn(nil) = %v, %v; want os.ErrInvalid", p, err)
	}
}
