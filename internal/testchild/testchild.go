//go:build linux

// Package testchild lets a test binary play the child processes its tests
// need: the test re-executes itself with a role in the environment, and
// RunIfChild, called first thing in TestMain, plays it.
package testchild

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const roleEnv = "PIDFD_TEST_CHILD_ROLE"

// Roles a child can play.
const (
	Sleep  = "sleep"  // sleep until killed
	Exit   = "exit"   // exit with the code in the first argument
	Die    = "die"    // kill itself with the signal number in the first argument (SIGHUP, SIGINT, SIGTERM, SIGKILL)
	Output = "output" // write the first argument's count of bytes to stdout, then exit 0
	// Connect dials the unix socket at the first argument, writes the
	// second argument to it if there is one, then sleeps until killed,
	// holding the connection.
	Connect = "connect"
	// Hostname sets the host name to the first argument (in the UTS
	// namespace it was started in), says "ready" on stdout, then sleeps
	// until killed.
	Hostname = "hostname"
	// Blocked re-executes itself with SIGUSR1 blocked, which a Go program
	// keeps blocked on all its threads, says "ready", and then obeys lines
	// on stdin:
	// "thread" starts a thread and prints its ID, "end" ends the thread
	// started last, "sigwait" takes one SIGUSR1 by signalfd and prints
	// its signo, code, pid, uid and value, "setpgid PGID" moves it into
	// process group PGID and prints its group's ID. It exits at the end of
	// stdin.
	Blocked = "blocked"
	// Fds checks the descriptors it was given: for each argument N it
	// writes "N" into descriptor N, for each -N it exits 3 if descriptor N
	// is open. It exits 4 if a write fails. An argument "table<N" makes it
	// exit 5 if its descriptor table has room for N or more descriptors
	// (FDSize in /proc/self/status): a table copied whole from a parent
	// that held descriptor N-1 or above has.
	Fds = "fds"
	// Daemon starts a daemon as a classic Unix daemon starts itself, out
	// of its starter's reach: a middle process, in a session of its own
	// (setsid), starts the daemon and exits at once, so that the daemon is
	// orphaned. The daemon writes "daemon PID" on stdout and sleeps until
	// killed; with a second argument "deaf" it ignores SIGTERM, SIGINT and
	// SIGHUP. The role waits for the middle's exit and for the daemon to
	// be up (its PID written, deaf if asked), and then exits with the code
	// in its first argument, or, if that is "sleep", sleeps until killed
	// (SIGTERM kills it).
	Daemon = "daemon"
	// DaemonAfterMoveEnv, set in a Daemon's environment, makes it wait
	// until it is in another cgroup than its parent (for up to ten
	// seconds) before it starts the middle process: a starter that
	// cannot clone into a cgroup moves the child right after its start,
	// and a child that forks before that leaves its child outside.
	DaemonAfterMoveEnv = "PIDFD_TEST_DAEMON_AFTER_MOVE"
)

// The steps of Daemon.
const (
	daemonMiddle = "daemon-middle"
	daemonItself = "daemon-itself"
)

// Command returns a command that re-executes the test binary in a role.
func Command(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	// A race-enabled child otherwise sleeps a second before exiting.
	race := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	// Without our own role, if we play one: a program started by execve
	// alone, not through os/exec, sees the first of two settings.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, roleEnv+"=") || strings.HasPrefix(kv, "GORACE=") || strings.HasPrefix(kv, "GODEBUG=")
	})
	// Go's runtime (1.25+) keeps a file of its cgroup's CPU limit open
	// from its start, where one is found, at a descriptor a child checking
	// what it was given would take for one of those.
	godebug := strings.TrimLeft(os.Getenv("GODEBUG")+",containermaxprocs=0", ",")
	cmd.Env = append(env, roleEnv+"="+role, "GORACE="+race, "GODEBUG="+godebug)
	return cmd
}

// RunIfChild plays the role this process was started in, if any, and exits
// with the role's status. It returns at once in the test process itself.
// extra holds roles that only the calling test package can play.
func RunIfChild(extra map[string]func(args []string) int) {
	role, ok := os.LookupEnv(roleEnv)
	if !ok {
		return
	}
	if play, ok := extra[role]; ok {
		os.Exit(play(os.Args[1:]))
	}
	os.Exit(play(role, os.Args[1:]))
}

func play(role string, args []string) int {
	arg := func() int {
		if len(args) == 0 {
			fmt.Fprintf(os.Stderr, "testchild: role %s needs a number\n", role)
			os.Exit(100)
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			fmt.Fprintf(os.Stderr, "testchild: %v\n", err)
			os.Exit(100)
		}
		return n
	}
	switch role {
	case Sleep:
		time.Sleep(time.Hour)
		return 0
	case Exit:
		return arg()
	case Die:
		// The Go runtime dies by SIGHUP, SIGINT and SIGTERM itself, with
		// the default action, so use those (or SIGKILL).
		sig := syscall.Signal(arg())
		restoreDefaultAction(sig)
		syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Hour)
		return 101
	case Connect:
		if len(args) == 0 {
			return 102
		}
		conn, err := net.Dial("unix", args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "testchild:", err)
			return 102
		}
		defer conn.Close()
		if len(args) > 1 {
			if _, err := io.WriteString(conn, args[1]); err != nil {
				fmt.Fprintln(os.Stderr, "testchild:", err)
				return 102
			}
		}
		time.Sleep(time.Hour)
		return 0
	case Hostname:
		if len(args) == 0 || syscall.Sethostname([]byte(args[0])) != nil {
			return 102
		}
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Hour)
		return 0
	case Output:
		os.Stdout.WriteString(strings.Repeat("x", arg()))
		return 0
	case Blocked:
		return blocked(args)
	case Fds:
		return checkFds(args)
	case Daemon, daemonMiddle, daemonItself:
		return daemon(role, args)
	}
	fmt.Fprintf(os.Stderr, "testchild: unknown role %q\n", role)
	return 100
}

func checkFds(args []string) int {
	for _, a := range args {
		if limit, ok := strings.CutPrefix(a, "table<"); ok {
			if code := checkTableSize(limit); code != 0 {
				return code
			}
			continue
		}
		n, err := strconv.Atoi(a)
		if err != nil {
			return 100
		}
		if n < 0 || a == "-0" {
			if _, err := unix.FcntlInt(uintptr(-n), unix.F_GETFD, 0); err == nil {
				fmt.Fprintf(os.Stderr, "testchild: descriptor %d is open\n", -n)
				return 3
			}
			continue
		}
		if _, err := unix.Write(n, []byte(a)); err != nil {
			fmt.Fprintf(os.Stderr, "testchild: write to descriptor %d: %v\n", n, err)
			return 4
		}
	}
	return 0
}

func daemon(role string, args []string) int {
	deaf := len(args) > 1 && args[1] == "deaf"
	switch role {
	case Daemon:
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "testchild: daemon needs an exit code or sleep")
			return 100
		}
		if os.Getenv(DaemonAfterMoveEnv) != "" {
			waitForMove()
		}
		// The daemon says on descriptor 3 that it is up.
		up, upW, err := os.Pipe()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testchild: daemon:", err)
			return 102
		}
		middle := Command(daemonMiddle, args...)
		middle.Stdout, middle.Stderr = os.Stdout, os.Stderr
		middle.ExtraFiles = []*os.File{upW}
		middle.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = middle.Run()
		upW.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testchild: daemon:", err)
			return 102
		}
		if line, err := bufio.NewReader(up).ReadString('\n'); line != "up\n" {
			fmt.Fprintf(os.Stderr, "testchild: the daemon said %q, %v\n", line, err)
			return 102
		}
		if args[0] == "sleep" {
			time.Sleep(time.Hour)
			return 0
		}
		code, err := strconv.Atoi(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "testchild:", err)
			return 100
		}
		return code
	case daemonMiddle:
		itself := Command(daemonItself, args...)
		itself.Stdout, itself.Stderr = os.Stdout, os.Stderr
		itself.ExtraFiles = []*os.File{os.NewFile(3, "up")}
		if err := itself.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "testchild: daemon:", err)
			return 102
		}
		return 0 // without waiting: the daemon is an orphan now
	}
	if deaf {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	}
	fmt.Printf("daemon %d\n", os.Getpid())
	up := os.NewFile(3, "up")
	up.WriteString("up\n")
	up.Close()
	time.Sleep(time.Hour)
	return 0
}

const blockedEnv = "PIDFD_TEST_CHILD_BLOCKED"

func init() {
	// A goroutine that ends while locked to the first thread does not end
	// that thread (the runtime cannot): keep the threads that "thread"
	// starts off it by holding it for the main goroutine.
	if os.Getenv(blockedEnv) != "" {
		runtime.LockOSThread()
	}
}

// usr1 is a signal set holding SIGUSR1.
func usr1() *unix.Sigset_t {
	var set unix.Sigset_t
	bits := int(unsafe.Sizeof(set.Val[0])) * 8
	n := int(unix.SIGUSR1) - 1
	set.Val[n/bits] |= 1 << (n % bits)
	return &set
}

func blocked(args []string) int {
	if os.Getenv(blockedEnv) == "" {
		// A signal mask survives execve, and a Go program starts every
		// thread with the mask it was started with.
		runtime.LockOSThread()
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, usr1(), nil); err != nil {
			fmt.Fprintln(os.Stderr, "testchild:", err)
			return 102
		}
		os.Setenv(blockedEnv, "1")
		err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
		fmt.Fprintln(os.Stderr, "testchild: exec:", err)
		return 102
	}
	fmt.Println("ready")
	var threads []chan struct{}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		command, arg, _ := strings.Cut(lines.Text(), " ")
		switch command {
		case "thread":
			end, tid := make(chan struct{}), make(chan int)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				tid <- unix.Gettid()
				<-end
			}()
			threads = append(threads, end)
			fmt.Println(<-tid)
		case "end":
			close(threads[len(threads)-1])
			threads = threads[:len(threads)-1]
		case "sigwait":
			fd, err := unix.Signalfd(-1, usr1(), unix.SFD_CLOEXEC)
			if err != nil {
				fmt.Fprintln(os.Stderr, "testchild:", err)
				return 102
			}
			var si unix.SignalfdSiginfo
			buf := (*[unsafe.Sizeof(si)]byte)(unsafe.Pointer(&si))[:]
			if n, err := unix.Read(fd, buf); err != nil || n != len(buf) {
				fmt.Fprintln(os.Stderr, "testchild: signalfd read:", n, err)
				return 102
			}
			unix.Close(fd)
			fmt.Println(si.Signo, si.Code, si.Pid, si.Uid, si.Int, si.Ptr)
		case "setpgid":
			pgid, err := strconv.Atoi(arg)
			if err == nil {
				err = syscall.Setpgid(0, pgid)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "testchild: setpgid:", err)
				return 102
			}
			fmt.Println(syscall.Getpgrp())
		default:
			fmt.Fprintf(os.Stderr, "testchild: unknown command %q\n", lines.Text())
			return 102
		}
	}
	return 0
}

// restoreDefaultAction sets sig's action to the default. A Go program
// started with SIGHUP or SIGINT ignored (under nohup, or as a background job
// of a shell without job control) leaves it ignored, and a child asked to die
// by it would sleep instead. An all-zero kernel sigaction is SIG_DFL with no
// flags and an empty mask whatever the architecture's field order.
func restoreDefaultAction(sig syscall.Signal) {
	var act [8]uint64
	const sigsetSize = 8 // the kernel's sigset_t (16 on MIPS, where the suite does not run)
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, sigsetSize, 0, 0)
}

// checkTableSize exits 5 if this process's descriptor table has room for
// limit descriptors or more.
func checkTableSize(limit string) int {
	n, err := strconv.Atoi(limit)
	if err != nil {
		return 100
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild:", err)
		return 100
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "FDSize:"); ok {
			size, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return 100
			}
			if size >= n {
				fmt.Fprintf(os.Stderr, "testchild: a descriptor table of %d\n", size)
				return 5
			}
			return 0
		}
	}
	return 100
}

// Catchable returns those of sigs that this process did not find ignored
// when it started. A signal ignored then (SIGHUP under nohup, SIGINT and
// SIGQUIT in a shell's background job) stays ignored in every child it
// starts, so a test that expects a child to act on it would fail for a
// reason of the shell's.
func Catchable(sigs ...syscall.Signal) []syscall.Signal {
	return slices.DeleteFunc(sigs, func(sig syscall.Signal) bool { return signal.Ignored(sig) })
}

// waitForMove waits until this process is in another cgroup than its
// parent, for up to ten seconds.
func waitForMove() {
	parent, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", os.Getppid()))
	if err != nil {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if own, err := os.ReadFile("/proc/self/cgroup"); err != nil || string(own) != string(parent) {
			return
		}
	}
}
