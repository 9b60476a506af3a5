//go:build linux

// Command pidfd inspects, signals, waits for and runs processes through
// pidfds, so that it never acts on a process that merely inherited a PID.
//
//	pidfd info [-json] PID|self   PID, parent, credentials, cgroup, ID, namespaces, kernel features
//	pidfd wait PID...             wait for processes (any, not only children) to exit
//	pidfd kill [-s SIGNAL] PID... signal processes
//	pidfd run [-v] -- COMMAND [ARG...]  run a command, forward SIGINT and SIGTERM, exit with its status
//	                                    (-v: say on stderr what happens to it)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pidfd-go/pidfd"
)

const usage = `usage:
  pidfd info [-json] PID|self
  pidfd wait PID...
  pidfd kill [-s SIGNAL] PID...
  pidfd run [-v] -- COMMAND [ARG...]
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func([]string, io.Writer) (int, error){
		"info": info, "wait": wait, "kill": kill,
		"run": func(args []string, stdout io.Writer) (int, error) { return runCommand(args, stdout, stderr) },
	}
	command, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "pidfd: unknown command %q\n%s", args[0], usage)
		return 2
	}
	code, err := command(args[1:], stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "pidfd:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// errUsage marks mistakes on the command line (exit status 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg + "\n" + usage }

func parsePIDs(args []string) ([]int, error) {
	if len(args) == 0 {
		return nil, errUsage{"no PID given"}
	}
	pids := make([]int, len(args))
	for i, arg := range args {
		pid, err := strconv.Atoi(arg)
		if err != nil || pid <= 0 {
			return nil, errUsage{fmt.Sprintf("bad PID %q", arg)}
		}
		pids[i] = pid
	}
	return pids, nil
}

type report struct {
	PID        int               `json:"pid"`
	PPID       int               `json:"ppid"`
	Creds      *pidfd.Creds      `json:"creds,omitempty"`
	CgroupID   uint64            `json:"cgroup_id,omitempty"`
	ID         uint64            `json:"id,omitempty"`
	Namespaces map[string]uint64 `json:"namespaces,omitempty"`
	Features   pidfd.Features    `json:"kernel_features"`
	Errors     map[string]string `json:"errors,omitempty"`
}

func info(args []string, stdout io.Writer) (int, error) {
	flags := flag.NewFlagSet("info", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print JSON")
	if err := flags.Parse(args); err != nil {
		return 2, err
	}
	if flags.NArg() != 1 {
		return 2, errUsage{"info takes one PID or self"}
	}
	var p *pidfd.PidFd
	var err error
	if flags.Arg(0) == "self" {
		p, err = pidfd.Self()
	} else {
		pids, perr := parsePIDs(flags.Args())
		if perr != nil {
			return 2, perr
		}
		p, err = pidfd.Open(pids[0])
	}
	if err != nil {
		return 1, err
	}
	defer p.Close()
	r := report{Features: pidfd.KernelFeatures(), Errors: map[string]string{}, Namespaces: map[string]uint64{}}
	note := func(what string, err error) {
		if err != nil {
			r.Errors[what] = err.Error()
		}
	}
	if r.PID, err = p.PID(); err != nil {
		return 1, err
	}
	r.PPID, err = p.PPID()
	note("ppid", err)
	if creds, err := p.Creds(); err == nil {
		r.Creds = &creds
	} else {
		note("creds", err)
	}
	r.CgroupID, err = p.CgroupID()
	note("cgroup_id", err)
	r.ID, err = p.ID()
	note("id", err)
	for ns := pidfd.NamespaceCgroup; ns <= pidfd.NamespaceUTS; ns++ {
		f, err := p.OpenNamespace(ns)
		if err != nil {
			note("ns/"+ns.String(), err)
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err == nil {
			r.Namespaces[ns.String()] = st.Ino
		}
		f.Close()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return 0, enc.Encode(r)
	}
	fmt.Fprintf(stdout, "pid\t%d\nppid\t%d\n", r.PID, r.PPID)
	if c := r.Creds; c != nil {
		fmt.Fprintf(stdout, "uid\t%d %d %d %d\ngid\t%d %d %d %d\n", c.RUID, c.EUID, c.SUID, c.FSUID, c.RGID, c.EGID, c.SGID, c.FSGID)
	}
	fmt.Fprintf(stdout, "cgroup\t%d\nid\t%d\n", r.CgroupID, r.ID)
	for ns := pidfd.NamespaceCgroup; ns <= pidfd.NamespaceUTS; ns++ {
		if ino, ok := r.Namespaces[ns.String()]; ok {
			fmt.Fprintf(stdout, "ns/%s\t%d\n", ns, ino)
		}
	}
	fmt.Fprintf(stdout, "features\t%+v\n", r.Features)
	for what, msg := range r.Errors {
		fmt.Fprintf(stdout, "unavailable\t%s: %s\n", what, msg)
	}
	return 0, nil
}

func wait(args []string, stdout io.Writer) (int, error) {
	pids, err := parsePIDs(args)
	if err != nil {
		return 2, err
	}
	pidfds := make([]*pidfd.PidFd, len(pids))
	for i, pid := range pids {
		if pidfds[i], err = pidfd.Open(pid); err != nil {
			return 1, fmt.Errorf("PID %d: %w", pid, err)
		}
		defer pidfds[i].Close()
	}
	code := 0
	for i, p := range pidfds {
		status, err := p.Wait()
		switch {
		case errors.Is(err, pidfd.ErrNoExitStatus):
			fmt.Fprintf(stdout, "%d: exited (this kernel cannot tell how)\n", pids[i])
			code = 0
		case err != nil:
			return 1, fmt.Errorf("PID %d: %w", pids[i], err)
		default:
			fmt.Fprintf(stdout, "%d: %v\n", pids[i], status)
			code = exitCode(status)
		}
	}
	return code, nil
}

// exitCode is a shell's idea of a status: the exit code, or 128 + signal.
func exitCode(status *pidfd.ExitStatus) int {
	if sig, ok := status.Signal().(syscall.Signal); ok {
		return 128 + int(sig)
	}
	return status.ExitCode()
}

func kill(args []string, stdout io.Writer) (int, error) {
	flags := flag.NewFlagSet("kill", flag.ContinueOnError)
	name := flags.String("s", "TERM", "signal name or number")
	if err := flags.Parse(args); err != nil {
		return 2, err
	}
	sig, err := parseSignal(*name)
	if err != nil {
		return 2, err
	}
	pids, err := parsePIDs(flags.Args())
	if err != nil {
		return 2, err
	}
	code := 0
	for _, pid := range pids {
		p, err := pidfd.Open(pid)
		if err == nil {
			err = p.Signal(sig)
			p.Close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "pidfd: PID %d: %v\n", pid, err)
			code = 1
		}
	}
	return code, nil
}

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "CONT": syscall.SIGCONT,
	"STOP": syscall.SIGSTOP, "ALRM": syscall.SIGALRM,
}

func parseSignal(name string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n <= 64 {
		return syscall.Signal(n), nil
	}
	if sig, ok := signalNames[strings.TrimPrefix(strings.ToUpper(name), "SIG")]; ok {
		return sig, nil
	}
	return 0, errUsage{fmt.Sprintf("unknown signal %q", name)}
}

func runCommand(args []string, stdout, stderr io.Writer) (int, error) {
	flags := flag.NewFlagSet("run", flag.ContinueOnError)
	flags.SetOutput(stderr)
	verbose := flags.Bool("v", false, "say on stderr what happens to the command")
	if err := flags.Parse(args); err != nil {
		return 2, err
	}
	args = flags.Args()
	if len(args) == 0 {
		return 2, errUsage{"run needs a command"}
	}
	var sayMu sync.Mutex // the signal forwarder says things too
	say := func(format string, a ...any) {
		if *verbose {
			sayMu.Lock()
			fmt.Fprintf(stderr, "pidfd: "+format+"\n", a...)
			sayMu.Unlock()
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	p, err := pidfd.Start(cmd)
	if err != nil {
		return 127, err
	}
	defer p.Close()
	if id, err := p.ID(); err == nil {
		say("started %s as PID %d, process ID %d, held by pidfd %d", args[0], cmd.Process.Pid, id, p.Fd())
	} else {
		say("started %s as PID %d, held by pidfd %d", args[0], cmd.Process.Pid, p.Fd())
	}
	done, forwarderDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(forwarderDone)
		for {
			select {
			case sig := <-signals:
				// Through the pidfd: never a stranger, even if the
				// command has just exited and its PID been reused.
				if err := p.Signal(sig); err != nil {
					say("%v not forwarded: %v", sig, err)
				} else {
					say("forwarded %v", sig)
				}
			case <-done:
				return
			}
		}
	}()
	status, err := p.Wait()
	// A signal forwarded just before the end is reported before it.
	close(done)
	<-forwarderDone
	var waitErr *pidfd.WaitError
	switch {
	case errors.As(err, &waitErr): // it ended, and copying its output failed
		say("PID %d ended: %v", status.Pid(), status)
		return exitCode(status), err
	case err != nil:
		return 1, err
	}
	say("PID %d ended: %v", status.Pid(), status)
	return exitCode(status), nil
}
