//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pidfd-go/pidfd"
)

var waitCommand = command{
	name:    "wait",
	args:    "[--timeout DURATION] [--exited] [--count N] PID...",
	summary: "wait for processes (any, not only children) to exit",
	doc: `Wait for the processes to exit, all at once, and print how each ended
where the kernel can tell (Linux 6.15+ for a process that is not a child).
A PID that names no process is reported on stderr, and the others are
waited for all the same. The options are those of util-linux's waitpid.

Exit status: that of the last PID given among those seen to exit (its exit
code, or 128+N for signal N; 0 where the kernel cannot tell); 1 if a PID
could not be waited for; 3 if the timeout expired; 2 for a usage error.`,
	setup: func(flags *flag.FlagSet) func([]string, stdio) (int, error) {
		var o waitOptions
		flags.Var(&o.timeout, "timeout", "give up after `DURATION` (1.5s, 200ms, or seconds: 1.5)")
		flags.BoolVar(&o.exited, "exited", false, "count a PID that has already exited as exited, not as an error")
		flags.IntVar(&o.count, "count", 0, "return once `N` of the processes have exited (0: all)")
		return func(args []string, s stdio) (int, error) { return wait(args, o, s) }
	},
}

type waitOptions struct {
	timeout durationValue
	exited  bool
	count   int
}

// durationValue is a flag that takes a Go duration or a number of seconds,
// as waitpid's --timeout does.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		seconds, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("not a duration or a number of seconds: %q", s)
		}
		v = time.Duration(seconds * float64(time.Second))
	}
	if v <= 0 {
		return fmt.Errorf("timeout %q is not positive", s)
	}
	*d = durationValue(v)
	return nil
}

// exitTimeout is the exit status when wait's timeout expires (waitpid's).
const exitTimeout = 3

type waitResult struct {
	i      int // index in the PIDs given
	status *pidfd.ExitStatus
	err    error
}

func wait(args []string, o waitOptions, s stdio) (int, error) {
	pids, err := parsePIDs(args)
	if err != nil {
		return 2, err
	}
	if o.count < 0 || o.count > len(pids) {
		return 2, usageError(fmt.Sprintf("--count %d: %d PIDs given", o.count, len(pids)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	if o.timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), time.Duration(o.timeout))
	}
	defer cancel()

	failed := false
	results := make(chan waitResult, len(pids))
	var waiters sync.WaitGroup
	defer waiters.Wait()
	pending := 0
	for i, pid := range pids {
		p, err := pidfd.Open(pid)
		if err != nil {
			if o.exited && errors.Is(err, os.ErrProcessDone) {
				results <- waitResult{i: i} // exited and reaped: no status
				pending++
				continue
			}
			fmt.Fprintf(s.err, "pidfd wait: %v\n", openError(pid, err))
			failed = true
			continue
		}
		pending++
		waiters.Go(func() {
			defer p.Close()
			status, err := p.WaitContext(ctx)
			results <- waitResult{i, status, err}
		})
	}

	want := pending
	if o.count > 0 && o.count < want {
		want = o.count
	}
	code, last := 0, -1 // the status of the last PID given that exited
	timedOut := false
	for exited := 0; exited < want; {
		r := <-results
		pid := pids[r.i]
		var we *pidfd.WaitError
		switch {
		case errors.Is(r.err, context.DeadlineExceeded):
			timedOut = true
			want = 0
			fmt.Fprintf(s.err, "pidfd wait: timed out after %v; PID %d still running\n", time.Duration(o.timeout), pid)
			continue
		case r.status == nil && r.err == nil:
			fmt.Fprintf(s.out, "%d: had already exited\n", pid)
		case errors.Is(r.err, pidfd.ErrNoExitStatus):
			fmt.Fprintf(s.out, "%d: exited (this kernel cannot tell how)\n", pid)
			r.status = nil
		case errors.As(r.err, &we):
			r.status = we.Status
			fmt.Fprintf(s.out, "%d: %v\n", pid, r.status)
		case r.err != nil:
			fmt.Fprintf(s.err, "pidfd wait: PID %d: %v\n", pid, r.err)
			failed = true
			want--
			continue
		default:
			fmt.Fprintf(s.out, "%d: %v\n", pid, r.status)
		}
		exited++
		if r.i > last {
			last = r.i
			code = 0
			if r.status != nil {
				code = exitCode(r.status)
			}
		}
	}
	// Report the other processes that the timeout caught.
	cancel()
	if timedOut {
		go func() { waiters.Wait(); close(results) }()
		for r := range results {
			if errors.Is(r.err, context.DeadlineExceeded) || errors.Is(r.err, context.Canceled) {
				fmt.Fprintf(s.err, "pidfd wait: timed out after %v; PID %d still running\n", time.Duration(o.timeout), pids[r.i])
			}
		}
		return exitTimeout, nil
	}
	if failed {
		return 1, nil
	}
	return code, nil
}
