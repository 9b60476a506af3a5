//go:build linux

// Command supervisor keeps services running, with the pidfd package's
// calls for each part of a supervisor's job:
//
//   - every service runs in a Tree of its own (a cgroup, or the process
//     as a child subreaper), so nothing it forks escapes, daemons that
//     call setsid included;
//   - its exit is seen before the reaping (Watcher.AddExited), while it
//     still holds its PID, and what it left behind in its tree is ended
//     with grace (Tree.Terminate) before it is reaped and restarted, with
//     a backoff, up to a number of times;
//   - one select loop takes the exits (Watcher.Exits), the signals that
//     stop the supervisor (os/signal) and a timer;
//   - a companion that must never outlive the supervisor is started with
//     StartProcessAutoKill where Features.AutoKill says the kernel can,
//     else with StartProcess and ended with PidFd.Terminate;
//   - SIGTERM or SIGINT stops every service with grace and returns.
//
// Usage:
//
//	supervisor [-grace 2s] [-restarts 3] NAME=COMMAND...
//
// Each COMMAND runs under sh -c.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd"
)

func main() {
	grace := flag.Duration("grace", 2*time.Second, "how long a service has to end after SIGTERM")
	restarts := flag.Int("restarts", 3, "how many times a service is restarted")
	flag.Parse()
	var specs []spec
	for _, arg := range flag.Args() {
		name, command, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			fmt.Fprintf(os.Stderr, "supervisor: %q is not NAME=COMMAND\n", arg)
			os.Exit(2)
		}
		specs = append(specs, spec{name, command})
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := supervise(specs, *grace, *restarts, stop, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		os.Exit(1)
	}
}

type spec struct{ name, command string }

type service struct {
	spec
	tree     *pidfd.Tree
	p        *pidfd.PidFd // while it runs
	restarts int
}

// supervise runs the services until stop delivers a signal, then ends
// them all with grace. It says what happens on log.
func supervise(specs []spec, grace time.Duration, maxRestarts int, stop <-chan os.Signal, log io.Writer) error {
	w, err := pidfd.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	running := map[*pidfd.PidFd]*service{}
	start := func(s *service) error {
		if s.tree == nil {
			if s.tree, err = pidfd.NewTree(); err != nil {
				return err
			}
		}
		p, err := s.tree.Start(exec.Command("sh", "-c", s.command))
		if err != nil {
			return err
		}
		if err := w.AddExited(p); err != nil {
			p.Kill()
			p.Wait()
			p.Close()
			return err
		}
		s.p = p
		running[p] = s
		return nil
	}
	var services []*service
	defer func() {
		for _, s := range services {
			if s.tree != nil {
				s.tree.Close() // kills what is left, removes the cgroup
			}
		}
	}()
	for _, sp := range specs {
		s := &service{spec: sp}
		services = append(services, s)
		if err := start(s); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(log, "%s: started, held by %v\n", s.name, s.tree)
	}
	companion, err := startCompanion(log)
	if err != nil {
		return err
	}
	defer func() {
		// An AutoKill companion dies with the Close; another one is
		// ended here, and would outlive a supervisor that crashed.
		if !pidfd.KernelFeatures().AutoKill {
			companion.Terminate(context.Background(), grace)
		}
		companion.Close()
	}()

	restart := make(chan *service)
	health := time.NewTicker(time.Second)
	defer health.Stop()
	for {
		select {
		case exit := <-w.Exits():
			s := running[exit.PidFd]
			delete(running, exit.PidFd)
			// Exited, not reaped: what it left behind is ended first.
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), grace+10*time.Second)
			err := s.tree.Terminate(ctx, grace)
			cancel()
			took := time.Since(began)
			status, _ := exit.PidFd.Wait() // reaps
			exit.PidFd.Close()
			s.p = nil
			fmt.Fprintf(log, "%s: ended: %v; its tree ended: %v, in %v\n", s.name, status, errText(err), took.Round(time.Millisecond))
			if s.restarts == maxRestarts {
				fmt.Fprintf(log, "%s: gave up after %d restarts\n", s.name, s.restarts)
				continue
			}
			s.restarts++
			backoff := time.Duration(s.restarts) * 50 * time.Millisecond
			time.AfterFunc(backoff, func() { restart <- s })
		case s := <-restart:
			if err := start(s); err != nil {
				fmt.Fprintf(log, "%s: cannot restart: %v\n", s.name, err)
				continue
			}
			fmt.Fprintf(log, "%s: restarted (%d)\n", s.name, s.restarts)
		case sig := <-stop:
			fmt.Fprintf(log, "got %v: stopping\n", sig)
			for p, s := range running {
				ctx, cancel := context.WithTimeout(context.Background(), grace+10*time.Second)
				err := s.tree.Terminate(ctx, grace)
				cancel()
				status, _ := p.Wait()
				p.Close()
				fmt.Fprintf(log, "%s: stopped: %v; its tree ended: %v\n", s.name, status, errText(err))
			}
			return nil
		case <-health.C:
			// A real supervisor checks its services' health here.
		}
	}
}

// startCompanion starts a process that must not outlive the supervisor.
func startCompanion(log io.Writer) (*pidfd.PidFd, error) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return nil, err
	}
	argv := []string{"sleep", "86400"}
	attr := &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}}
	if pidfd.KernelFeatures().AutoKill {
		fmt.Fprintln(log, "companion: AutoKill, it dies with the supervisor")
		return pidfd.StartProcessAutoKill(sleep, argv, attr)
	}
	fmt.Fprintln(log, "companion: no AutoKill here, the supervisor ends it")
	return pidfd.StartProcess(sleep, argv, attr)
}

func errText(err error) string {
	if err == nil {
		return "yes"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no, it outlasted the grace and the kill"
	}
	return err.Error()
}
