//go:build linux

package main

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd"
	"golang.org/x/sys/unix"
)

// defaultGrace is how long run -t gives the command's tree between
// SIGTERM and SIGKILL, as docker stop does.
const defaultGrace = 10 * time.Second

// treeEnder ends the command's process tree for run -t: SIGTERM (and
// SIGCONT) to every process of it, then SIGKILL once the grace period is
// over, or at once on a second signal that ends it.
type treeEnder struct {
	tree  *pidfd.Tree
	grace time.Duration
	say   func(string, ...any)

	begun  bool
	killed bool
	timer  *time.Timer // armed when begun, until killed
}

// ending reports whether a signal the tool receives ends the tree:
// SIGTERM, SIGINT and SIGHUP, as they would end the command.
func ending(sig os.Signal) bool {
	return sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGHUP
}

// begin sends sig to every process of the tree, then SIGCONT so that a
// stopped one can act on it, and arms the grace period. A second call
// kills at once.
func (e *treeEnder) begin(sig syscall.Signal, why string) {
	if e.begun {
		e.kill("a second signal to end it came")
		return
	}
	e.begun = true
	err := e.tree.Signal(sig)
	e.tree.Signal(unix.SIGCONT)
	if err != nil {
		e.say("%s: %v to the command's tree: %v", why, sig, err)
	} else {
		e.say("%s: sent %v to the command's tree, SIGKILL after %v", why, sig, e.grace)
	}
	e.timer = time.NewTimer(e.grace)
}

// expired is the channel of the grace period: nil until it is armed, after
// the kill, and without -t (e nil).
func (e *treeEnder) expired() <-chan time.Time {
	if e == nil || e.timer == nil || e.killed {
		return nil
	}
	return e.timer.C
}

func (e *treeEnder) kill(why string) {
	if e.killed {
		return
	}
	e.killed = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if err := e.tree.Kill(); err != nil {
		e.say("%s: SIGKILL to the command's tree: %v", why, err)
		return
	}
	e.say("%s: sent SIGKILL to the command's tree", why)
}

// finish ends what is left of the tree once the command has exited, and
// returns when nothing is. Signals that end the tree kill it at once;
// others go to the whole tree.
func (e *treeEnder) finish(signals <-chan os.Signal) error {
	if !e.begun {
		e.begin(unix.SIGTERM, "the command has exited")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.tree.Wait(ctx) }()
	for {
		select {
		case err := <-done:
			if err == nil {
				e.say("the command's tree has ended")
			}
			return err
		case <-e.expired():
			e.kill("the grace period of " + e.grace.String() + " is over")
		case sig := <-signals:
			if ending(sig) {
				e.kill(sig.String() + " came while the tree was ending")
			} else if err := e.tree.Signal(sig); err != nil {
				e.say("%v not sent to the command's tree: %v", sig, err)
			} else {
				e.say("sent %v to the command's tree", sig)
			}
		}
	}
}
