//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd"
)

var killCommand = command{
	name:    "kill",
	args:    "[-s SIGNAL] [--queue VALUE] [--timeout MS SIGNAL]... PID...",
	summary: "signal processes",
	doc: `Send a signal (TERM unless -s says otherwise) to each process through its
pidfd. With --timeout, wait MS milliseconds for the process to exit and send
the follow-up signal if it has not: through the pidfd, the follow-up never
reaches another process that got the PID since. --timeout may be repeated,
for signals sent one after the other. A PID that names no process is
reported on stderr, and the others are signalled all the same. The options
are those of util-linux's kill.

Exit status: 0 if every signal was sent; 1 if one was not; 2 for a usage
error.`,
	setup: func(flags *flag.FlagSet) func([]string, stdio) (int, error) {
		var o killOptions
		flags.StringVar(&o.signal, "s", "TERM", "`SIGNAL` to send, by name (TERM, SIGTERM) or number")
		flags.StringVar(&o.signal, "signal", "TERM", "the same as -s")
		flags.Var(&o.queue, "queue", "send the signal with this integer `VALUE`, as sigqueue(3) does")
		flags.Var(&o.timeouts, "timeout", "after `MS SIGNAL` (two words): wait MS milliseconds, then send SIGNAL if the process has not exited")
		return func(args []string, s stdio) (int, error) { return kill(args, o, s) }
	},
	rewrite: mergeTimeouts,
}

type killOptions struct {
	signal   string
	queue    queueValue
	timeouts followUps
}

// queueValue is the value of --queue, if given.
type queueValue struct {
	set bool
	v   int
}

func (q *queueValue) String() string {
	if q == nil || !q.set {
		return ""
	}
	return strconv.Itoa(q.v)
}

func (q *queueValue) Set(s string) error {
	v, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	q.set, q.v = true, int(v)
	return nil
}

// followUp is one --timeout: a signal to send if the process has not exited
// after a delay.
type followUp struct {
	after  time.Duration
	signal syscall.Signal
}

type followUps []followUp

func (f *followUps) String() string { return "" }

// Set takes "MS SIGNAL": mergeTimeouts joins the two words of each
// --timeout before the flags are parsed.
func (f *followUps) Set(s string) error {
	ms, name, ok := strings.Cut(s, " ")
	if !ok {
		return errors.New("takes two words: MS SIGNAL")
	}
	n, err := strconv.ParseUint(ms, 10, 31)
	if err != nil {
		return fmt.Errorf("not a number of milliseconds: %q", ms)
	}
	sig, err := parseSignal(name)
	if err != nil {
		return err
	}
	*f = append(*f, followUp{time.Duration(n) * time.Millisecond, sig})
	return nil
}

// mergeTimeouts joins each "--timeout MS SIGNAL" of the arguments (before
// "--") into one argument, "--timeout=MS SIGNAL", for the flag package,
// which gives a flag one word.
func mergeTimeouts(args []string) []string {
	var merged []string
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "--":
			return append(merged, args[i:]...)
		case (arg == "-timeout" || arg == "--timeout") && i+2 < len(args):
			merged = append(merged, arg+"="+args[i+1]+" "+args[i+2])
			i += 2
		default:
			merged = append(merged, arg)
		}
	}
	return merged
}

func kill(args []string, o killOptions, s stdio) (int, error) {
	sig, err := parseSignal(o.signal)
	if err != nil {
		return 2, err
	}
	pids, err := parsePIDs(args)
	if err != nil {
		return 2, err
	}
	var opts []pidfd.SignalOption
	if o.queue.set {
		opts = append(opts, pidfd.WithValue(o.queue.v))
	}
	var mu sync.Mutex // the follow-ups report concurrently
	code := 0
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(s.err, "pidfd kill: %v\n", err)
		code = 1
	}
	var followers sync.WaitGroup
	defer followers.Wait()
	for _, pid := range pids {
		p, err := pidfd.Open(pid)
		if err != nil {
			fail(openError(pid, err))
			continue
		}
		if err := p.Signal(sig, opts...); err != nil {
			fail(signalError(pid, sig, err))
			p.Close()
			continue
		}
		if len(o.timeouts) == 0 {
			p.Close()
			continue
		}
		followers.Go(func() {
			defer p.Close()
			for _, f := range o.timeouts {
				if exited(p, f.after) {
					return
				}
				if err := p.Signal(f.signal, opts...); err != nil {
					fail(signalError(pid, f.signal, err))
					return
				}
			}
		})
	}
	followers.Wait()
	return code, nil
}

// exited waits up to d for the process to exit and reports whether it did.
func exited(p *pidfd.PidFd, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := p.WaitContext(ctx)
	return !errors.Is(err, context.DeadlineExceeded)
}

// signalError says why a signal could not be sent.
func signalError(pid int, sig syscall.Signal, err error) error {
	if errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("PID %d: %v not sent: the process has exited", pid, sig)
	}
	return fmt.Errorf("PID %d: %v not sent: %w", pid, sig, err)
}
