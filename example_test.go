//go:build linux

package pidfd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd"
)

// Start a child, wait for it, read how it ended.
func ExampleStart() {
	cmd := exec.Command("sh", "-c", "echo hello from the child; exit 3")
	cmd.Stdout = os.Stdout
	child, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()

	status, err := child.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(status, status.ExitCode(), status.Success())
	// Output:
	// hello from the child
	// exit status 3 3 false
}

// Start a child that cannot outlive this process: if it dies, even by
// SIGKILL, the kernel kills the child too, and closing the PidFd does the
// same. Before Linux 7.1 (Features.AutoKill false) fall back to
// StartProcess, whose child would live on: end it with Terminate.
func ExampleStartProcessAutoKill() {
	sh, err := exec.LookPath("sh")
	if err != nil {
		log.Fatal(err)
	}
	argv := []string{"sh", "-c", "echo hello from the child; exit 3"}
	attr := &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	start := pidfd.StartProcess
	if pidfd.KernelFeatures().AutoKill {
		start = pidfd.StartProcessAutoKill
	}
	child, err := start(sh, argv, attr)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close() // an AutoKill child still running dies with the close

	status, err := child.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(status)
	// Output:
	// hello from the child
	// exit status 3
}

// Signal through the pidfd: once the process is gone, the signal fails
// instead of reaching whoever holds the PID next.
func ExamplePidFd_Signal() {
	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()

	if err := child.Signal(syscall.SIGTERM); err != nil {
		log.Fatal(err)
	}
	status, err := child.Wait()
	if err != nil {
		log.Fatal(err)
	}
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
		log.Fatal(err)
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

// Look without waiting: TryWait returns (nil, nil) while the process runs.
func ExamplePidFd_TryWait() {
	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()

	status, err := child.TryWait()
	fmt.Println(status, err)

	child.Kill()
	status, err = child.Wait()
	fmt.Println(status, err)
	// Output:
	// <nil> <nil>
	// signal: killed <nil>
}

// Wait for a process that is not a child of this one: here a grandchild,
// which its parent, a shell, reaps. Linux 6.15 and later keep its exit
// status for every waiter; before, only its parent learns it, and Wait
// reports that the process has exited with ErrNoExitStatus. So this example
// has no checked output.
func ExamplePidFd_Wait_notChild() {
	shell := exec.Command("sh", "-c", "(sleep 0.1; exit 3) & echo $!; wait")
	out, err := shell.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := shell.Start(); err != nil {
		log.Fatal(err)
	}
	defer shell.Wait()
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		log.Fatal(err)
	}
	// The shell reaps the grandchild only once it has exited: until then the
	// PID is its own.
	grandchild, err := pidfd.Open(pid)
	if err != nil {
		log.Fatal(err)
	}
	defer grandchild.Close()

	status, err := grandchild.Wait()
	switch {
	case errors.Is(err, pidfd.ErrNoExitStatus):
		fmt.Println("exited; the kernel cannot tell how")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(status) // exit status 3
	}
}

// Collect a child that os started: Wait calls the os.Process's Wait, so
// that os knows the process is done with.
func ExampleFromProcess() {
	sh, err := exec.LookPath("sh")
	if err != nil {
		log.Fatal(err)
	}
	proc, err := os.StartProcess(sh, []string{"sh", "-c", "exit 4"}, &os.ProcAttr{})
	if err != nil {
		log.Fatal(err)
	}
	child, err := pidfd.FromProcess(proc)
	if err != nil {
		proc.Kill()
		proc.Wait()
		log.Fatal(err)
	}
	defer child.Close()

	status, err := child.Wait()
	fmt.Println(status, err)
	_, err = proc.Wait()
	fmt.Println("os.Process.Wait again:", err != nil)
	// Output:
	// exit status 4 <nil>
	// os.Process.Wait again: true
}

// A wait that returns a status and an error: the child exits, but a
// process it started keeps the output pipe open, and cmd.WaitDelay gives up
// on copying the output. The status is in the error too.
func ExampleWaitError() {
	var out strings.Builder
	cmd := exec.Command("sh", "-c", "echo started; sleep 5 &") // sleep holds stdout
	cmd.Stdout = &out
	cmd.WaitDelay = 200 * time.Millisecond
	child, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()

	_, err = child.Wait()
	var waitErr *pidfd.WaitError
	if errors.As(err, &waitErr) {
		fmt.Println("status:", waitErr.Status)
		fmt.Println("error:", waitErr.Err)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Print(out.String())
	// Output:
	// status: exit status 0
	// error: exec: WaitDelay expired before I/O complete
	// started
}

// Adopt a pidfd that arrived from elsewhere (here, one opened by hand).
func ExampleNewFile() {
	self, err := pidfd.Self()
	if err != nil {
		log.Fatal(err)
	}
	defer self.Close()
	dup, err := syscall.Dup(int(self.Fd()))
	if err != nil {
		log.Fatal(err)
	}
	adopted, err := pidfd.NewFile(uintptr(dup))
	if err != nil {
		syscall.Close(dup)
		log.Fatal(err)
	}
	defer adopted.Close()
	pid, _ := adopted.PID()
	fmt.Println(pid == os.Getpid())

	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
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
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: dir + "/sock", Net: "unix"})
	if err != nil {
		log.Fatal(err)
	}
	defer listener.Close()

	client, err := net.Dial("unix", dir+"/sock") // here, a client in this very process
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	conn, err := listener.AcceptUnix()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	peer, err := pidfd.FromUnixConn(conn)
	if errors.Is(err, errors.ErrUnsupported) {
		// Before Linux 6.5: open the PID the client had when it
		// connected. Racy (see FromUnixConn), but this client cannot
		// exit meanwhile.
		peer, err = openPeerByPID(conn) // defined at the end of this file
	}
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()
	creds, err := peer.Creds()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client runs as our user:", creds.EUID == uint32(os.Geteuid()))
	// Output: client runs as our user: true
}

// Hand a process to another process over a unix socket. The receiver gets
// a pidfd of its own for the same process, so it can act on it without
// ever trusting a PID. Here both ends are in this program.
func ExampleWriteMessage() {
	conns, err := socketPair(syscall.SOCK_SEQPACKET) // defined at the end of this file
	if err != nil {
		log.Fatal(err)
	}
	defer conns[0].Close()
	defer conns[1].Close()

	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	if _, err := pidfd.WriteMessage(conns[0], []byte("stop this one"), nil, child); err != nil {
		log.Fatal(err)
	}

	buf := make([]byte, 64)
	n, msg, err := pidfd.ReadMessage(conns[1], buf)
	if err != nil {
		log.Fatal(err)
	}
	defer msg.Close()
	fmt.Printf("received %q with %d pidfd\n", buf[:n], len(msg.PidFds))
	msg.PidFds[0].Kill()

	status, err := child.Wait()
	fmt.Println(status, err)
	// Output:
	// received "stop this one" with 1 pidfd
	// signal: killed <nil>
}

// Send a signal that carries a number, as sigqueue(3) does. A receiver that
// reads siginfo (sigwaitinfo, signalfd, an SA_SIGINFO handler) finds it in
// si_value; this shell only sees the signal.
func ExampleWithValue() {
	cmd := exec.Command("sh", "-c", `trap 'echo got SIGUSR1; exit 0' USR1; echo ready; while :; do sleep 0.01; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	child, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	lines := bufio.NewScanner(out)
	lines.Scan() // "ready": the trap is set

	const generation = 42
	if err := child.Signal(syscall.SIGUSR1, pidfd.WithValue(generation)); err != nil {
		log.Fatal(err)
	}
	lines.Scan()
	fmt.Println(lines.Text())
	status, err := child.Wait()
	fmt.Println(status, err)
	// Output:
	// got SIGUSR1
	// exit status 0 <nil>
}

// Wait for one thread of this process to end. Thread pidfds need Linux 6.9,
// so this example has no checked output: on older kernels SelfThread fails
// with errors.ErrUnsupported.
func ExampleSelfThread() {
	var thread *pidfd.PidFd
	var err error
	opened, finish := make(chan struct{}), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		thread, err = pidfd.SelfThread()
		close(opened)
		<-finish
	}()
	<-opened
	if err != nil {
		log.Fatal(err)
	}
	defer thread.Close()
	tid, _ := thread.PID()
	fmt.Println("thread", tid, "is a thread:", thread.IsThread())

	close(finish)
	_, err = thread.Wait() // the thread's exit, while this process runs on
	if err != nil && !errors.Is(err, pidfd.ErrNoExitStatus) {
		log.Fatal(err)
	}
	fmt.Println("thread", tid, "has exited")
}

// Save a process's identity in a state file and find the process again
// later, say after a restart of the supervisor. Once the process is gone,
// OpenIdentity says so, even if its PID now belongs to another process.
func ExampleOpenIdentity() {
	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	id, err := child.Identity()
	if err != nil {
		log.Fatal(err)
	}
	saved, _ := id.MarshalText() // what goes into the state file

	var loaded pidfd.Identity
	if err := loaded.UnmarshalText(saved); err != nil {
		log.Fatal(err)
	}
	again, err := pidfd.OpenIdentity(loaded)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("found it again:", again.Equal(child))
	again.Close()

	child.Kill()
	child.Wait()
	_, err = pidfd.OpenIdentity(loaded)
	fmt.Println("after it exited:", errors.Is(err, os.ErrProcessDone))
	// Output:
	// found it again: true
	// after it exited: true
}

// Signal a whole process group through the pidfd of its leader, so that the
// signal cannot reach a group whose leader's PID was recycled. Before Linux
// 6.9 there are no scopes; kill(-PGID) is safe only while, as here, the
// group's leader is an unreaped child of the caller, which keeps the group
// ID from being reused.
func ExamplePidFd_Signal_processGroup() {
	cmd := exec.Command("sh", "-c", "sleep 60 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // sh leads a group of its own
	leader, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer leader.Close()

	err = leader.Signal(syscall.SIGTERM, pidfd.ToProcessGroup())
	if errors.Is(err, errors.ErrUnsupported) {
		pgid, _ := leader.PID()
		err = syscall.Kill(-pgid, syscall.SIGTERM)
	}
	if err != nil {
		log.Fatal(err)
	}
	status, err := leader.Wait()
	fmt.Println(status, err)
	// Output: signal: terminated <nil>
}

// Kill a process and have the kernel reclaim its memory at once, as an
// out-of-memory killer must, rather than when the process gets round to
// exiting.
func ExamplePidFd_KillAndRelease() {
	child, err := pidfd.Start(exec.Command("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	// Where the kernel cannot release (before Linux 5.15, say), the kill
	// alone is sent, and that is no error.
	if err := child.KillAndRelease(); err != nil {
		log.Fatal(err)
	}
	status, err := child.Wait()
	fmt.Println(status, err)
	// Output: signal: killed <nil>
}

// Read what /proc/PID holds beyond the package's own queries, here a
// process's command line, and know that it was that process's and not
// another's that was given its PID meanwhile: WithProcDir checks
// afterwards that the process still lives.
func ExamplePidFd_WithProcDir() {
	// A shell that says it is ready, then waits for a line on its input,
	// a pipe that os/exec keeps open until the shell is reaped.
	cmd := exec.Command("sh", "-c", "echo ready; read line")
	if _, err := cmd.StdinPipe(); err != nil {
		log.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	child, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	// A process's command line is set during its exec, which may still be
	// under way when Start returns: read it once the shell has spoken.
	bufio.NewScanner(stdout).Scan()

	var cmdline []byte
	readCmdline := func(dir *os.Root) (err error) {
		cmdline, err = dir.ReadFile("cmdline")
		return err
	}
	if err := child.WithProcDir(readCmdline); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"))

	// Once the process is reaped, its PID may name another process, and
	// WithProcDir says so: what readCmdline found must be thrown away.
	child.Kill()
	child.Wait()
	err = child.WithProcDir(readCmdline)
	fmt.Println("once reaped:", errors.Is(err, os.ErrProcessDone))
	// Output:
	// ["sh" "-c" "echo ready; read line"]
	// once reaped: true
}

// Run code in another process's network namespace: here a child's, given
// a network of its own, where only the loopback interface exists.
// Entering a namespace, even one's own, takes CAP_SYS_ADMIN, as making
// one does: so this example has no checked output, and go test does not
// run it.
func ExamplePidFd_Setns() {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	child, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer child.Close()
	defer child.Wait()
	defer child.Kill()

	// Namespaces belong to threads: enter it on a thread of its own.
	var names []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread, now in the child's namespace, ends
		// with this goroutine instead of running others.
		runtime.LockOSThread()
		if err = child.Setns(pidfd.NamespaceNet); err != nil {
			return
		}
		var ifaces []net.Interface
		ifaces, err = net.Interfaces() // through a socket made in that namespace
		for _, iface := range ifaces {
			names = append(names, iface.Name)
		}
	}()
	<-done
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(names)
	// Run as root, it prints: [lo]
}

// Learn which process sent each message on a socket, named by a pidfd the
// kernel made for it. Here the sender is this program.
func ExamplePassSender() {
	conns, err := socketPair(syscall.SOCK_DGRAM) // defined at the end of this file
	if err != nil {
		log.Fatal(err)
	}
	defer conns[0].Close()
	defer conns[1].Close()
	// Before sending: the kernel names the senders of messages sent
	// after the receiver asked.
	passed := pidfd.PassSender(conns[1])
	if passed != nil && !errors.Is(passed, errors.ErrUnsupported) {
		log.Fatal(passed)
	}
	conns[0].Write([]byte("hello"))

	buf := make([]byte, 64)
	n, msg, err := pidfd.ReadMessage(conns[1], buf)
	if err != nil {
		log.Fatal(err)
	}
	defer msg.Close()
	sender := msg.Sender
	if passed != nil {
		// Before Linux 6.5: only the socket's peer, by its PID (racy:
		// see FromUnixConn).
		if sender, err = openPeerByPID(conns[1]); err != nil {
			log.Fatal(err)
		}
		defer sender.Close()
	}
	self, err := pidfd.Self()
	if err != nil {
		log.Fatal(err)
	}
	defer self.Close()
	fmt.Printf("%q came from this process: %v\n", buf[:n], sender.Equal(self))
	// Output: "hello" came from this process: true
}

// socketPair returns both ends of a connected pair of unix sockets of the
// given type as *net.UnixConn.
func socketPair(typ int) ([2]*net.UnixConn, error) {
	var conns [2]*net.UnixConn
	pair, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return conns, err
	}
	for i, fd := range pair {
		f := os.NewFile(uintptr(fd), "socket")
		c, err := net.FileConn(f) // a copy of its own
		f.Close()
		if err != nil {
			if i == 0 {
				syscall.Close(pair[1])
			} else {
				conns[0].Close()
			}
			return [2]*net.UnixConn{}, err
		}
		conns[i] = c.(*net.UnixConn)
	}
	return conns, nil
}

// openPeerByPID opens the PID that the peer of conn had when the connection
// was made (SO_PEERCRED). The peer may have exited and its PID gone to
// another process since: only for a peer that cannot exit meanwhile.
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
	return pidfd.Open(int(cred.Pid))
}

// A supervisor: one loop watches every child, restarts the one that
// crashes (twice at most), and stops at a deadline, terminating what still
// runs and collecting it through the same Watcher.
func ExampleWatcher() {
	w, err := pidfd.NewWatcher()
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	services := map[string][]string{
		"steady": {"sleep", "60"},
		"flaky":  {"sh", "-c", "exit 1"}, // crashes as soon as it starts
	}
	running := make(map[*pidfd.PidFd]string)
	start := func(name string) {
		argv := services[name]
		p, err := pidfd.Start(exec.Command(argv[0], argv[1:]...))
		if err != nil {
			log.Fatal(err)
		}
		if err := w.Add(p); err != nil {
			log.Fatal(err)
		}
		running[p] = name
	}
	start("steady")
	start("flaky")

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	restarts := 0
	for {
		exit, err := w.Next(ctx)
		if err != nil {
			break // the deadline
		}
		name := running[exit.PidFd]
		delete(running, exit.PidFd)
		exit.PidFd.Close()
		fmt.Printf("%s ended: %v\n", name, exit.Status)
		if restarts < 2 {
			restarts++
			fmt.Println("restarting", name)
			start(name)
		}
	}

	for p := range running {
		p.Signal(syscall.SIGTERM)
	}
	for len(running) > 0 {
		exit, err := w.Next(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s stopped: %v\n", running[exit.PidFd], exit.Status)
		delete(running, exit.PidFd)
		exit.PidFd.Close()
	}
	// Output:
	// flaky ended: exit status 1
	// restarting flaky
	// flaky ended: exit status 1
	// restarting flaky
	// flaky ended: exit status 1
	// steady stopped: signal: terminated
}
