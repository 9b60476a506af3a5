//go:build linux

// Command pidfd inspects, signals, waits for and runs processes through
// pidfds, so that it never acts on a process that merely inherited a PID.
//
//	pidfd info [-json] PID|self
//	pidfd wait [--timeout DURATION] [--exited] [--count N] PID...
//	pidfd kill [-s SIGNAL] [--queue VALUE] [--timeout MS SIGNAL]... PID...
//	pidfd run [-v] [-g] [-s] [-t [-k DURATION]] -- COMMAND [ARG...]
//	pidfd help [COMMAND]
//
// run is an init for containers, as tini and dumb-init are: it forwards
// every signal it can catch to the command (or with -g to its process
// group), reaps the orphans that are reparented to it as PID 1 (or as a
// child subreaper with -s), and exits as the command did. With -t it also
// holds the command's whole process tree, in a cgroup of its own where it
// can, and ends it when the command exits or the tool is told to stop,
// daemons that left the command's session included. "pidfd help COMMAND"
// tells more about each command.
//
// Installed with CGO_ENABLED=0 the tool is a static binary, which needs
// nothing but the kernel (an image FROM scratch):
//
//	CGO_ENABLED=0 go install github.com/pidfd-go/pidfd/cmd/pidfd@latest
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/pidfd-go/pidfd"
	"golang.org/x/sys/unix"
)

func main() {
	os.Exit(run(os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
}

// stdio is where a command reads and writes; nothing below main uses
// os.Stdin, os.Stdout or os.Stderr.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// A command is one of the tool's commands.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string // one line, for the list of commands
	doc     string // what "pidfd help NAME" says after the synopsis
	// setup defines the command's flags and returns the function that runs
	// the command once they are parsed. That function returns the exit
	// status, and an error to report (a usageError: with the usage).
	setup func(flags *flag.FlagSet) func(args []string, s stdio) (int, error)
	// rewrite, if set, prepares the arguments for the flag package.
	rewrite func(args []string) []string
}

var commands = []*command{&infoCommand, &waitCommand, &killCommand, &runCommand}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usage is the tool's usage: its commands.
func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pidfd COMMAND [ARG...]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-7s %s\n", "help", "this text, or a command's (also: pidfd COMMAND -h)")
}

// run executes one command line and returns the exit status: usage errors
// are 2, and a request for help is 0.
func run(args []string, s stdio) int {
	if len(args) == 0 {
		usage(s.err)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(s.out)
		return 0
	case "help":
		switch {
		case len(args) == 1:
			usage(s.out)
			return 0
		case len(args) > 2:
			fmt.Fprintln(s.err, "pidfd help: give one command at most")
		case lookup(args[1]) == nil:
			fmt.Fprintf(s.err, "pidfd help: unknown command %q\n", args[1])
		default:
			c := lookup(args[1])
			flags := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.setup(flags)
			c.usage(s.out, flags)
			return 0
		}
		usage(s.err)
		return 2
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(s.err, "pidfd: unknown command %q\n", args[0])
		usage(s.err)
		return 2
	}
	return c.run(args[1:], s)
}

// usage writes the command's synopsis, description and flags to w.
func (c *command) usage(w io.Writer, flags *flag.FlagSet) {
	fmt.Fprintf(w, "usage: pidfd %s %s\n\n%s\n", c.name, c.args, c.doc)
	var hasFlags bool
	flags.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\noptions (-name and --name are one):")
		flags.SetOutput(w)
		flags.PrintDefaults()
		flags.SetOutput(io.Discard)
	}
}

func (c *command) run(args []string, s stdio) int {
	flags := flag.NewFlagSet(c.name, flag.ContinueOnError)
	flags.SetOutput(io.Discard) // errors are reported below, help goes to s.out
	flags.Usage = func() {}
	main := c.setup(flags)
	if c.rewrite != nil {
		args = c.rewrite(args)
	}
	switch err := flags.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		c.usage(s.out, flags)
		return 0
	case err != nil:
		fmt.Fprintf(s.err, "pidfd %s: %v\n", c.name, err)
		c.usage(s.err, flags)
		return 2
	}
	code, err := main(flags.Args(), s)
	var usageErr usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintf(s.err, "pidfd %s: %v\n", c.name, err)
		c.usage(s.err, flags)
		return 2
	case err != nil:
		fmt.Fprintf(s.err, "pidfd %s: %v\n", c.name, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// usageError is a mistake on the command line (exit status 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// parsePIDs reads PID arguments. A word that is no PID is a usage error,
// and so is a number that does not fit a pid_t (a 32-bit int on every Linux
// machine), on 64-bit machines as on 32-bit ones, where it does not fit an
// int. Whether each PID names a process is for the command to find out, PID by
// PID.
func parsePIDs(args []string) ([]int, error) {
	if len(args) == 0 {
		return nil, usageError("no PID given")
	}
	pids := make([]int, len(args))
	for i, arg := range args {
		pid, err := strconv.ParseInt(arg, 10, 32)
		if err != nil || pid <= 0 {
			return nil, usageError(fmt.Sprintf("bad PID %q", arg))
		}
		pids[i] = int(pid)
	}
	return pids, nil
}

// openError says why pidfd.Open(pid) failed, naming the PID: a PID that no
// process has is "no such process" (pidfd_open's ESRCH, which the package
// reports as os.ErrProcessDone since a process that had it has been reaped).
func openError(pid int, err error) error {
	if errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("PID %d: no such process", pid)
	}
	return fmt.Errorf("PID %d: %w", pid, err)
}

// exitCode is a shell's idea of a status: the exit code, or 128 + signal.
func exitCode(status *pidfd.ExitStatus) int {
	if sig, ok := status.Signal().(syscall.Signal); ok {
		return 128 + int(sig)
	}
	return status.ExitCode()
}

// parseSignal reads a signal given by number (0 to 64) or by name, with or
// without SIG, in any case: 15, TERM, SIGTERM, term.
func parseSignal(name string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n <= 64 {
		return syscall.Signal(n), nil
	}
	upper := strings.ToUpper(name)
	if !strings.HasPrefix(upper, "SIG") {
		upper = "SIG" + upper
	}
	if sig := unix.SignalNum(upper); sig != 0 {
		return sig, nil
	}
	return 0, usageError(fmt.Sprintf("unknown signal %q", name))
}
