//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// floorSource is the smallest Go init there is: it runs the command with
// os/exec, waits, and exits as it did. It is what `pidfd run` is measured
// against (issue 21): the cost of Go's runtime and os/exec, which no Go
// init can avoid.
const floorSource = `package main

import (
	"errors"
	"os"
	"os/exec"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		os.Exit(exitErr.ExitCode())
	}
	if err != nil {
		os.Exit(127)
	}
}
`

// floorSignalsSource is the floor with signal forwarding: it catches the
// signals run forwards (inits puts their numbers in place of the %s)
// before it starts the command, and sends each it gets to the command, as
// any init must. Go's os/signal costs a round trip to the runtime's
// signal-mask thread for each signal a program first catches, and two
// threads; this floor shows how much of the tool's extra over the plain
// floor is that.
const floorSignalsSource = `package main

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	var caught []os.Signal
	for _, n := range []int{%s} {
		caught = append(caught, syscall.Signal(n))
	}
	signals := make(chan os.Signal, 32)
	signal.Notify(signals, caught...)
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		os.Exit(127)
	}
	go func() {
		for sig := range signals {
			cmd.Process.Signal(sig)
		}
	}()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		os.Exit(exitErr.ExitCode())
	}
	if err != nil {
		os.Exit(1)
	}
}
`

// anInit is a program that runs a command as its init: the floor, or the
// tool's run command.
type anInit struct {
	name string
	argv []string // the init's command line, before the command's
}

// buildGoProgram builds the one-file program text, a floor, into
// dir+"-init", with CGO_ENABLED=0.
func buildGoProgram(b *testing.B, goTool, dir, text string) {
	b.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, text := range map[string]string{"main.go": text, "go.mod": "module floor\n\ngo 1.26\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	build := exec.Command(goTool, "build", "-o", dir+"-init", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build of %s: %v\n%s", filepath.Base(dir), err, out)
	}
}

// inits builds the floors and the tool with the same go tool and
// CGO_ENABLED=0, into b's temporary directory, and adds tini and dumb-init
// where they are installed. The floor comes first, the tool second, the
// floor with signal forwarding third.
func inits(b *testing.B) []anInit {
	b.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("no go tool on PATH to build the floor and the tool with (inside the test VMs)")
	}
	dir := b.TempDir()
	var numbers []string
	for _, sig := range forwardedSignals {
		numbers = append(numbers, strconv.Itoa(int(sig.(syscall.Signal))))
	}
	for _, floor := range []struct{ name, text string }{
		{"floor", floorSource},
		{"floor-signals", strings.ReplaceAll(floorSignalsSource, "%s", strings.Join(numbers, ", "))},
	} {
		buildGoProgram(b, goTool, filepath.Join(dir, floor.name), floor.text)
	}
	if out, err := goBuild(goTool, runtime.GOARCH, filepath.Join(dir, "pidfd")); err != nil {
		b.Fatalf("go build of the tool: %v\n%s", err, out)
	}
	all := []anInit{
		{"floor", []string{filepath.Join(dir, "floor-init")}},
		{"pidfd-run", []string{filepath.Join(dir, "pidfd"), "run", "--"}},
		{"floor-signals", []string{filepath.Join(dir, "floor-signals-init")}},
	}
	// The inits written in C, where installed, for comparison (Debian:
	// apt-get install tini dumb-init).
	for _, c := range []anInit{{"tini-static", []string{"tini-static", "--"}}, {"dumb-init", []string{"dumb-init"}}} {
		if path, err := exec.LookPath(c.argv[0]); err == nil {
			c.argv[0] = path
			all = append(all, c)
		}
	}
	return all
}

// startInit starts init with the command, in a process group of its own,
// its standard streams on /dev/null.
func startInit(b *testing.B, init anInit, devNull *os.File, command ...string) *os.Process {
	b.Helper()
	argv := append(append([]string(nil), init.argv...), command...)
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{
		Files: []*os.File{devNull, devNull, devNull},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkInitStartToExit times `INIT /bin/true` from the start of INIT
// to its reaping, for the floor, for `pidfd run --`, and for tini and
// dumb-init where installed. Each iteration runs each once, in reverse
// order every other time, so that a busy machine's moods favour none; it
// reports each one's mean time (µs-floor, µs-pidfd-run...) and the ratio of
// the tool's to the floor's (pidfd-run/floor). Run with -count 10 and read
// with benchstat.
func BenchmarkInitStartToExit(b *testing.B) {
	leakcheck.Check(b)
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	all := inits(b)
	took := make([]time.Duration, len(all))
	for i := 0; b.Loop(); i++ {
		for j := range all {
			if i%2 == 1 {
				j = len(all) - 1 - j
			}
			start := time.Now()
			p := startInit(b, all[j], devNull, "/bin/true")
			state, err := p.Wait()
			took[j] += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if !state.Success() {
				b.Fatalf("%s /bin/true: %v", all[j].name, state)
			}
		}
	}
	b.ReportMetric(0, "ns/op") // both inits' time: see below
	for j, init := range all {
		b.ReportMetric(float64(took[j].Microseconds())/float64(b.N), "µs-"+init.name)
	}
	b.ReportMetric(float64(took[1])/float64(took[0]), "pidfd-run/floor")
	b.ReportMetric(float64(took[1])/float64(took[2]), "pidfd-run/floor-signals")
}

// settle is how long an init is left idle, its command sleeping, before
// its memory is read: its start-up is over by then (Go's runtime starts
// its background workers within milliseconds).
const settle = 300 * time.Millisecond

// BenchmarkInitIdleRSS reports the memory of an idle init whose command
// sleeps, from /proc/PID/smaps_rollup, for the floor, for `pidfd run --`,
// and for tini and dumb-init where installed: kB-rss-NAME, the resident
// set, kB-pss-NAME, the same with pages shared with other processes divided
// among them, and the ratio of the tool's resident set to the floor's,
// rss-pidfd-run/floor. Each iteration starts one fresh init of each kind:
// run with -benchtime 5x or so.
func BenchmarkInitIdleRSS(b *testing.B) {
	leakcheck.Check(b)
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		b.Skipf("no /proc/PID/smaps_rollup (Linux 4.14+) to read memory from: %v", err)
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	all := inits(b)
	rss := make([]float64, len(all))
	pss := make([]float64, len(all))
	for b.Loop() {
		for j, init := range all {
			r, p := idleMemory(b, init, devNull)
			rss[j] += r
			pss[j] += p
		}
	}
	b.ReportMetric(0, "ns/op") // the time is the settling's
	for j, init := range all {
		b.ReportMetric(rss[j]/float64(b.N), "kB-rss-"+init.name)
		b.ReportMetric(pss[j]/float64(b.N), "kB-pss-"+init.name)
	}
	b.ReportMetric(rss[1]/rss[0], "rss-pidfd-run/floor")
	b.ReportMetric(rss[1]/rss[2], "rss-pidfd-run/floor-signals")
}

// idleMemory starts init with a sleeping command, waits until the command
// runs and the init has settled, and returns the init's Rss and Pss in kB.
// It kills the init's process group (init and command) after.
func idleMemory(b *testing.B, init anInit, devNull *os.File) (rss, pss float64) {
	b.Helper()
	p := startInit(b, init, devNull, "sleep", "60")
	var sleep int
	defer func() {
		if sleep > 0 { // alive until its parent dies: nobody reaps it before
			syscall.Kill(sleep, syscall.SIGKILL) // dumb-init gives it a session of its own
		}
		syscall.Kill(-p.Pid, syscall.SIGKILL) // the group is init's: Setpgid
		p.Wait()
	}()
	for deadline := time.Now().Add(10 * time.Second); sleep == 0; sleep = sleepingChild(p.Pid) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: its command has not started in 10 s", init.name)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(settle)
	rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p.Pid))
	if err != nil {
		b.Fatal(err)
	}
	rss, pss = -1, -1
	for _, line := range bytes.Split(rollup, []byte("\n")) {
		fields := strings.Fields(string(line))
		if len(fields) != 3 || fields[2] != "kB" {
			continue
		}
		n, err := strconv.ParseFloat(fields[1], 64)
		switch {
		case err != nil:
		case fields[0] == "Rss:":
			rss = n
		case fields[0] == "Pss:":
			pss = n
		}
	}
	if rss < 0 || pss < 0 {
		b.Fatalf("no Rss and Pss in %s's smaps_rollup:\n%s", init.name, rollup)
	}
	return rss, pss
}

// sleepingChild returns the PID of the child of process pid that is
// sleep, its command forked and execed, or 0. Children are listed per
// thread, and Go forks from any thread.
func sleepingChild(pid int) int {
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, list := range lists {
		kids, _ := os.ReadFile(list)
		for _, kid := range strings.Fields(string(kids)) {
			if comm, _ := os.ReadFile("/proc/" + kid + "/comm"); string(comm) == "sleep\n" {
				n, _ := strconv.Atoi(kid)
				return n
			}
		}
	}
	return 0
}
