//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// starters are the three ways to start a child that the start benchmarks
// compare. Each gives the child the files given (nil: what exec.Cmd gives
// a Cmd with no Stdin, Stdout or Stderr, /dev/null, opened by the start),
// and returns what ends and reaps the child, which is not timed.
var starters = []struct {
	name  string
	start func(path string, args []string, files []*os.File) (end func(), err error)
}{
	{"exec.Cmd.Start", func(path string, args []string, files []*os.File) (func(), error) {
		cmd := &exec.Cmd{Path: path, Args: args}
		if files != nil {
			cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
		}
		err := cmd.Start()
		return func() { cmd.Process.Kill(); cmd.Wait() }, err
	}},
	{"StartProcess", func(path string, args []string, files []*os.File) (func(), error) {
		files, closeFiles, err := devNullIfNil(files)
		if err != nil {
			return nil, err
		}
		p, err := StartProcess(path, args, &os.ProcAttr{Files: files})
		closeFiles()
		return func() { p.Kill(); p.Wait(); p.Close() }, err
	}},
	{"StartProcessAutoKill", func(path string, args []string, files []*os.File) (func(), error) {
		files, closeFiles, err := devNullIfNil(files)
		if err != nil {
			return nil, err
		}
		p, err := StartProcessAutoKill(path, args, &os.ProcAttr{Files: files})
		closeFiles()
		return func() { waitGone(p) }, err
	}},
}

// devNullIfNil returns files, or if it is nil, /dev/null opened for a
// child's standard descriptors, as exec.Cmd.Start opens it, and what closes
// that.
func devNullIfNil(files []*os.File) ([]*os.File, func(), error) {
	if files != nil {
		return files, func() {}, nil
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	return []*os.File{null, null, null}, func() { null.Close() }, nil
}

// BenchmarkStartAmong measures a start of true(1), until the call returns
// (the child has execed: all three wait for that), while this process holds
// 0, 1,000 or 10,000 other descriptors: PidFds (as a supervisor holds one
// per child), or plain files (copies of /dev/null) numbered below the
// child's own. Each start opens /dev/null for the child's standard
// descriptors, as exec.Cmd.Start does for a Cmd that sets none. Ending and
// reaping the child are not timed. StartProcessAutoKill needs Linux 7.1.
//
// Everything is side by side, so that a machine whose speed wanders (the
// emulated VMs' does, by a factor of four) slows all alike: an iteration
// holds each number of descriptors in turn and, with each, starts a child
// with each method in turn, 10 times, the order rotating. The metrics are
// the medians of those starts, by number held and method, in µs; ns/op is
// one whole iteration.
func BenchmarkStartAmong(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip(err)
	}
	enoughDescriptors(b, 10100)
	counts := []int{0, 1000, 10000}
	for _, kind := range []string{"pidfds", "files"} {
		b.Run(kind, func(b *testing.B) {
			samples := map[string][]time.Duration{}
			key := func(n int, method string) string { return fmt.Sprintf("µs/start-%d-%s", n, method) }
			unsupported := map[string]bool{}
			turn := 0
			for b.Loop() {
				for _, n := range counts {
					release, err := holdDescriptors(kind, n)
					if err != nil {
						b.Fatal(err)
					}
					for range 10 {
						for i := range starters {
							s := starters[(i+turn)%len(starters)]
							if unsupported[s.name] {
								continue
							}
							begin := time.Now()
							end, err := s.start(truePath, []string{"true"}, nil)
							took := time.Since(begin)
							if errors.Is(err, errors.ErrUnsupported) {
								unsupported[s.name] = true
								b.Logf("%s: %v", s.name, err)
								continue
							}
							if err != nil {
								release()
								b.Fatal(err)
							}
							b.StopTimer()
							end()
							b.StartTimer()
							samples[key(n, s.name)] = append(samples[key(n, s.name)], took)
						}
						turn++
					}
					release()
				}
			}
			for _, n := range counts {
				for _, s := range starters {
					if d := samples[key(n, s.name)]; len(d) > 0 {
						slices.Sort(d)
						b.ReportMetric(float64(d[len(d)/2].Microseconds()), key(n, s.name))
					}
				}
			}
		})
	}
}

// holdDescriptors opens n descriptors of the kind ("pidfds": PidFds of
// this process; "files": copies of /dev/null, at the lowest free numbers)
// and returns what closes them.
func holdDescriptors(kind string, n int) (release func(), err error) {
	var closers []func() error
	release = func() {
		for _, c := range closers {
			c()
		}
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	for range n {
		switch kind {
		case "pidfds":
			p, err := Open(os.Getpid())
			if err != nil {
				release()
				return nil, err
			}
			closers = append(closers, p.Close)
		case "files":
			fd, err := unix.FcntlInt(null.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				release()
				return nil, os.NewSyscallError("fcntl", err)
			}
			closers = append(closers, func() error { return unix.Close(fd) })
		}
	}
	return release, nil
}

// BenchmarkStartMany starts 10,000 sleeping children, one after the other,
// and reports how long that took, and the mean time of a start among the
// first thousand and among the last: each start pays for the descriptors
// that the children started before it left open (one per child: os.Process's
// pidfd, or the PidFd). On a machine with few CPUs the children's own
// start-up (the dynamic loader of sleep) competes with the starts, and
// takes a large share of the total. Ending them is not timed. Run it with
// -benchtime 1x.
func BenchmarkStartMany(b *testing.B) {
	const n = 10000
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	enoughDescriptors(b, n+100)
	for _, s := range starters {
		b.Run(fmt.Sprintf("%s/N=%d", s.name, n), func(b *testing.B) {
			var first, last time.Duration
			for b.Loop() {
				ends := make([]func(), 0, n)
				mark := time.Now()
				for i := range n {
					if i == 1000 {
						first = time.Since(mark)
					}
					if i == n-1000 {
						mark = time.Now()
					}
					end, err := s.start(sleep, []string{"sleep", "3600"}, nil)
					if errors.Is(err, errors.ErrUnsupported) {
						b.Skip(err)
					}
					if err != nil {
						b.StopTimer()
						for _, end := range ends {
							end()
						}
						b.Fatalf("child %d: %v", i, err)
					}
					ends = append(ends, end)
				}
				last = time.Since(mark)
				b.StopTimer()
				for _, end := range ends {
					end()
				}
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s-to-start-all")
			b.ReportMetric(first.Seconds()*1e3/1000, "ms/start-first-1000")
			b.ReportMetric(last.Seconds()*1e3/1000, "ms/start-last-1000")
		})
	}
}

// enoughDescriptors raises the soft RLIMIT_NOFILE to need, and the hard
// one too where it is lower and this process may (the test VMs' is 4096),
// or skips b. It uses prlimit, not syscall.Setrlimit, which would change
// the limit Go gives its children for the rest of the run.
func enoughDescriptors(b *testing.B, need uint64) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= need {
		return
	}
	raised := unix.Rlimit{Cur: need, Max: max(lim.Max, need)}
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &raised, nil); err != nil {
		b.Skipf("RLIMIT_NOFILE %d/%d, and raising it to %d: %v", lim.Cur, lim.Max, need, err)
	}
}
