//go:build linux

// Command authserver is a unix socket server that decides whom it serves by
// the client's pidfd rather than its PID: it checks the client's user and
// cgroup through a pidfd the kernel made for the process that connected,
// and checks that the client's first message comes from that same process.
// A client that exits, and whose PID goes to another process, can only be
// refused: every answer about it comes through its pidfd, which then says
// os.ErrProcessDone. (Before Linux 6.5 the kernel makes no such pidfd; the
// server then falls back to the PID the client had when it connected, which
// is racy, as pidfd.FromUnixConn explains.)
//
//	go run ./examples/authserver
//
// The program plays both sides: it starts a few clients (itself, re-executed)
// and reports what it decided about each.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd"
)

// clientEnv makes the program a client: "stay" waits for the server's
// answer, "leave" writes and exits at once, "stranger" becomes user 65534
// (nobody) first and then stays.
const clientEnv = "AUTHSERVER_CLIENT"

func main() {
	if how := os.Getenv(clientEnv); how != "" {
		os.Exit(client(how, os.Args[1]))
	}
	if err := serve(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "authserver:", err)
		os.Exit(1)
	}
}

// policy is who may use the server.
type policy struct {
	uid    uint32 // effective user ID
	cgroup uint64 // cgroup v2 ID
}

// authenticate names the process at the other end of conn and the process
// that sent its first message, and checks both against the policy. It
// returns the client's pidfd: whatever the server does for the client
// later, it does through that, never through a PID.
func (p policy) authenticate(conn *net.UnixConn) (*pidfd.PidFd, string, error) {
	peer, err := pidfd.FromUnixConn(conn)
	if errors.Is(err, errors.ErrUnsupported) {
		// Before Linux 6.5 only the PID is known, and the process that
		// holds it now may not be the one that connected.
		peer, err = openPeerByPID(conn)
	}
	if err != nil {
		return nil, "", err
	}
	// A client that connects and says nothing must not hold the server.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, msg, err := pidfd.ReadMessage(conn, buf)
	if err != nil {
		peer.Close()
		return nil, "", err
	}
	defer msg.Close()
	// A connected socket can be handed to another process; the sender
	// (named only where the kernel can) must be the one that connected.
	if msg.Sender != nil && !msg.Sender.Equal(peer) {
		peer.Close()
		return nil, "", errors.New("message written by another process than the one that connected")
	}
	creds, err := peer.Creds()
	if err == nil {
		var cgroup uint64
		cgroup, err = peer.CgroupID()
		switch {
		case err != nil:
		case creds.EUID != p.uid:
			err = fmt.Errorf("user %d is not allowed", creds.EUID)
		case cgroup != p.cgroup:
			err = fmt.Errorf("cgroup %d is not allowed", cgroup)
		}
	}
	if err != nil {
		peer.Close()
		return nil, "", err
	}
	return peer, string(buf[:n]), nil
}

// openPeerByPID opens the PID that the peer of conn had when it connected
// (SO_PEERCRED). The peer may have exited since and its PID gone to another
// process, which the PidFd then names.
func openPeerByPID(conn *net.UnixConn) (*pidfd.PidFd, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if credErr != nil {
		return nil, os.NewSyscallError("getsockopt SO_PEERCRED", credErr)
	}
	if cred.Pid == 0 {
		return nil, errors.New("the client is in a PID namespace this server cannot see")
	}
	return pidfd.Open(int(cred.Pid))
}

func serve(out io.Writer) error {
	self, err := pidfd.Self()
	if err != nil {
		return err
	}
	defer self.Close()
	creds, err := self.Creds()
	if err != nil {
		return err
	}
	cgroup, err := self.CgroupID()
	if err != nil {
		return err
	}
	allow := policy{uid: creds.EUID, cgroup: cgroup}

	dir, err := os.MkdirTemp("", "authserver")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sock")
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return err
	}
	defer listener.Close()
	// Before accepting: the kernel names a message's sender only if the
	// receiving socket asked before the message was sent.
	if err := pidfd.PassSender(listener); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}

	fmt.Fprintln(out, "serving user", allow.uid, "in this cgroup")
	// The socket is open to every user: the server decides.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o777); err != nil {
		return err
	}

	visitors := []struct{ name, how string }{
		{"a client of ours", "stay"},
		{"a client that exits before it is checked", "leave"},
		{"a client running as another user", "stranger"},
	}
	for _, v := range visitors {
		if v.how == "stranger" && os.Geteuid() != 0 {
			fmt.Fprintf(out, "%s: not shown (only root can start one)\n", v.name)
			continue
		}
		verdict, err := visit(listener, path, v.how, allow)
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		fmt.Fprintf(out, "%s: %s\n", v.name, verdict)
	}
	return nil
}

// visit starts one client, authenticates it, and says what was decided.
func visit(listener *net.UnixListener, path, how string, allow policy) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(self, path)
	cmd.Env = append(os.Environ(), clientEnv+"="+how)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	client, err := pidfd.Start(cmd)
	if err != nil {
		return "", err
	}
	defer client.Close()
	defer client.Wait()
	defer client.Kill()

	conn, err := listener.AcceptUnix()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if how == "leave" {
		// Let the client exit and be reaped before looking at it: its
		// PID is free for any new process now.
		if _, err := client.Wait(); err != nil {
			return "", err
		}
	}
	peer, said, err := allow.authenticate(conn)
	switch {
	case errors.Is(err, os.ErrProcessDone):
		return "refused: it has exited", nil
	case err != nil:
		return "refused: " + err.Error(), nil
	}
	defer peer.Close()
	if _, err := conn.Write([]byte("welcome")); err != nil {
		return "", err
	}
	return fmt.Sprintf("accepted (it said %q)", said), nil
}

// client connects, says hello, and either waits for the answer or leaves.
func client(how, path string) int {
	if how == "stranger" {
		if err := syscall.Setgid(65534); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			return 1
		}
		if err := syscall.Setuid(65534); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			return 1
		}
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello")); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	if how == "leave" {
		return 0
	}
	io.Copy(io.Discard, conn) // until the server answers and hangs up
	return 0
}
