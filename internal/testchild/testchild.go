//go:build linux

// Package testchild lets a test binary play the child processes its tests
// need: the test re-executes itself with a role in the environment, and
// RunIfChild, called first thing in TestMain, plays it.
package testchild

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const roleEnv = "PIDFD_TEST_CHILD_ROLE"

// Roles a child can play.
const (
	Sleep  = "sleep"  // sleep until killed
	Exit   = "exit"   // exit with the code in the first argument
	Die    = "die"    // kill itself with the signal number in the first argument (SIGHUP, SIGINT, SIGTERM, SIGKILL)
	Output = "output" // write the first argument's count of bytes to stdout, then exit 0
	// Connect dials the unix socket at the first argument, then sleeps
	// until killed, holding the connection.
	Connect = "connect"
	// Hostname sets the host name to the first argument (in the UTS
	// namespace it was started in), says "ready" on stdout, then sleeps
	// until killed.
	Hostname = "hostname"
)

// Command returns a command that re-executes the test binary in a role.
func Command(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	// A race-enabled child otherwise sleeps a second before exiting.
	race := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, "GORACE="+race)
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
		syscall.Kill(os.Getpid(), syscall.Signal(arg()))
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
	}
	fmt.Fprintf(os.Stderr, "testchild: unknown role %q\n", role)
	return 100
}
