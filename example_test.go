//go:build linux

package pidfd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd"
)

// Start a child, wait for it, read how it ended.
func ExampleStart() {
	cmd := exec.Command("sh", "-c", "echo hello from the child; exit 3")
	cmd.Stdout = os.Stdout
	child, err := pidfd.Start(cmd)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer child.Close()

	status, err := child.Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(status, status.ExitCode(), status.Success())
	// Output:
	// hello from the child
	// exit status 3 3 false
}

// Signal through the pidfd: once the process is gone, the signal fails
// instead of reaching whoever holds the PID next.
func ExamplePidFd_Signal() {
	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer child.Close()

	child.Signal(syscall.SIGTERM)
	status, _ := child.Wait()
	fmt.Println(status)

	err = child.Signal(syscall.SIGTERM)
	fmt.Println(errors.Is(err, os.ErrProcessDone))
	// Output:
	// signal: terminated
	// true
}

// Give up waiting after a deadline; the PidFd stays usable.
func ExamplePidFd_WaitContext() {
	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer child.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = child.WaitContext(ctx)
	fmt.Println(err)

	child.Kill()
	status, _ := child.Wait()
	fmt.Println(status)
	// Output:
	// context deadline exceeded
	// signal: killed
}

// Adopt a pidfd that arrived from elsewhere (here, one opened by hand).
func ExampleNewFile() {
	self, err := pidfd.Self()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer self.Close()
	dup, err := syscall.Dup(int(self.Fd()))
	if err != nil {
		fmt.Println(err)
		return
	}
	adopted, err := pidfd.NewFile(uintptr(dup))
	if err != nil {
		syscall.Close(dup)
		fmt.Println(err)
		return
	}
	defer adopted.Close()
	pid, _ := adopted.PID()
	fmt.Println(pid == os.Getpid())

	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	_, err = pidfd.NewFile(r.Fd())
	fmt.Println(errors.Is(err, pidfd.ErrNotPidFd))
	// Output:
	// true
	// true
}

// Authenticate the client of a unix socket by its pidfd: the credentials
// belong to the process that connected, even if it exits meanwhile and its
// PID goes to another.
func ExampleFromUnixConn() {
	dir, err := os.MkdirTemp("", "pidfd-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: dir + "/sock", Net: "unix"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer listener.Close()

	client, err := net.Dial("unix", dir+"/sock") // here, a client in this very process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	conn, err := listener.AcceptUnix()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	peer, err := pidfd.FromUnixConn(conn)
	if errors.Is(err, errors.ErrUnsupported) {
		peer, err = pidfd.FromUnixConnByPID(conn) // before Linux 6.5: racy, see its doc
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer peer.Close()
	creds, err := peer.Creds()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("client runs as our user:", creds.EUID == uint32(os.Geteuid()))
	// Output: client runs as our user: true
}
