//go:build linux

package pidfd

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// acceptChild starts a child that connects to a fresh unix socket and
// returns the server's end of the connection and the child's PidFd.
func acceptChild(t *testing.T) (*net.UnixConn, *PidFd) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sock")
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	_, child := startChild(t, testchild.Connect, path)
	conn, err := listener.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, child
}

func TestFromUnixConn(t *testing.T) {
	leakcheck.Check(t)
	conn, child := acceptChild(t)
	peer, err := FromUnixConn(conn)
	if !KernelFeatures().PeerPidfd {
		if !errors.Is(err, errors.ErrUnsupported) {
			peer.Close()
			t.Fatalf("FromUnixConn without SO_PEERPIDFD = %v; want errors.ErrUnsupported", err)
		}
		t.Skip("no SO_PEERPIDFD on this kernel (checked that it says so)")
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
	if again, err := FromUnixConn(conn); err == nil {
		_, pidErr := again.PID()
		again.Close()
		if !errors.Is(pidErr, os.ErrProcessDone) {
			t.Errorf("FromUnixConn after the peer was reaped names a live process (PID: %v)", pidErr)
		}
	} else if !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("FromUnixConn after the peer was reaped = %v; want os.ErrProcessDone", err)
	}
}

func TestFromUnixConnByPID(t *testing.T) {
	leakcheck.Check(t)
	conn, child := acceptChild(t)
	peer, err := FromUnixConnByPID(conn)
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
