//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m, nil)) }

// syncBuffer is a log that the test reads while supervise writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSupervise runs a service that crashes, one that leaves a daemon
// (setsid, ignoring SIGTERM) and exits, and a steady one, then stops the
// supervisor: the first two are restarted twice and given up, each exit
// ends the tree it left, the steady one stops with grace, and no process
// of theirs, nor the companion, is left.
func TestSupervise(t *testing.T) {
	leakcheck.Check(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: a cgroup of its own for each service, or the subreaper setting")
	}
	// Another run's leftovers (of a run killed midway, say) are not this
	// run's to answer for.
	before := servicesRunning()
	for f, cmdline := range before {
		t.Logf("already running before the test, not counted: %s (%s)", cmdline, f)
	}
	specs := []spec{
		{"flaky", "exit 1"},
		{"daemonizer", "setsid sh -c 'trap \"\" TERM; exec sleep " + marker + "1' & sleep 0.2; exit 0"},
		{"steady", "exec sleep " + marker + "2"},
	}
	stop := make(chan os.Signal, 1)
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- supervise(specs, 300*time.Millisecond, 2, stop, &log) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "flaky: gave up") || !strings.Contains(log.String(), "daemonizer: gave up") {
		if time.Now().After(deadline) {
			t.Fatalf("the services did not give up in time; the log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("supervise: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("supervise did not return after SIGTERM; the log:\n%s", log.String())
	}
	out := log.String()
	t.Logf("the log:\n%s", out)
	for _, want := range []string{
		"flaky: ended: exit status 1; its tree ended: yes",
		"flaky: restarted (2)",
		"flaky: gave up after 2 restarts",
		"daemonizer: ended: exit status 0; its tree ended: yes",
		"daemonizer: restarted (2)",
		"got terminated: stopping",
		"steady: stopped: signal: terminated; its tree ended: yes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	// Each run of it exits by itself, leaving its daemon, which ignores
	// SIGTERM: its tree ends at the grace's end.
	if n := strings.Count(out, "daemonizer: ended: exit status 0; its tree ended: yes"); n != 3 {
		t.Errorf("the daemonizer ended with its tree %d times; want 3", n)
	}
	// Nothing of theirs is left: no daemon, no steady service, no companion.
	for f, cmdline := range servicesRunning() {
		if _, old := before[f]; !old {
			t.Errorf("left running: %s (%s)", cmdline, f)
		}
	}
}

const marker = "31337" // in the services' command lines

// servicesRunning returns the processes, by /proc/PID/cmdline, that run a
// command of the test's services.
func servicesRunning() map[string]string {
	running := make(map[string]string)
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		data, err := os.ReadFile(f)
		if err == nil && (bytes.Contains(data, []byte(marker)) || bytes.Contains(data, []byte("sleep\x0086400"))) {
			running[f] = string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		}
	}
	return running
}
