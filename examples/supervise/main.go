//go:build linux

// Command supervise shows the pidfd package at work: it starts a child
// without a race, names it by pidfd, signals it, and waits for it on the
// runtime poller.
//
//	go run ./examples/supervise
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "supervise:", err)
		os.Exit(1)
	}
}

func run() error {
	cmd := exec.Command("sleep", "30")
	child, err := pidfd.Start(cmd)
	if err != nil {
		return err
	}
	defer child.Close()

	pid, err := child.PID()
	if err != nil {
		return err
	}
	fmt.Printf("started %s as PID %d (pidfd %d)\n", cmd.Path, pid, child.Fd())

	// Signal 0 checks that the process exists, without touching it.
	if err := child.Signal(syscall.Signal(0)); err != nil {
		return fmt.Errorf("liveness check: %w", err)
	}
	fmt.Println("alive: signal 0 delivered")

	// A wait with a deadline: the child sleeps for 30 s, so this gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := child.WaitContext(ctx); errors.Is(err, context.DeadlineExceeded) {
		fmt.Println("still running after 100ms: wait gave up, as asked")
	}

	if err := child.Kill(); err != nil {
		return err
	}
	status, err := child.Wait()
	if err != nil {
		return err
	}
	fmt.Printf("PID %d ended: %v (cmd.ProcessState: %v)\n", status.Pid(), status, cmd.ProcessState)

	// The PID may now name a stranger; the pidfd never will.
	if err := child.Signal(syscall.SIGTERM); errors.Is(err, os.ErrProcessDone) {
		fmt.Println("SIGTERM after exit:", err)
	}
	return nil
}
