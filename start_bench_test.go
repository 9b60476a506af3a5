//go:build linux

package pidfd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

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
func BenchmarkStartAmong(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 10100 {
		b.Skipf("RLIMIT_NOFILE %d (%v): 10,000 descriptors do not fit", lim.Cur, err)
	}
	for _, kind := range []string{"pidfds", "files"} {
		for _, n := range []int{0, 1000, 10000} {
			release, err := holdDescriptors(kind, n)
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range starters {
				b.Run(fmt.Sprintf("%s=%d/%s", kind, n, s.name), func(b *testing.B) {
					for b.Loop() {
						end, err := s.start(truePath, []string{"true"}, nil)
						if errors.Is(err, errors.ErrUnsupported) {
							b.Skip(err)
						}
						if err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						end()
						b.StartTimer()
					}
				})
			}
			release()
		}
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
// and reports how long that took: each start pays for the descriptors that
// the children started before it left open (one per child: os.Process's
// pidfd, or the PidFd). Ending them is not timed. Run it with -benchtime
// 1x.
func BenchmarkStartMany(b *testing.B) {
	const n = 10000
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < n+100 {
		b.Skipf("RLIMIT_NOFILE %d (%v): %d children's descriptors do not fit", lim.Cur, err, n)
	}
	for _, s := range starters {
		b.Run(fmt.Sprintf("%s/N=%d", s.name, n), func(b *testing.B) {
			for b.Loop() {
				ends := make([]func(), 0, n)
				for i := range n {
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
				b.StopTimer()
				for _, end := range ends {
					end()
				}
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s-to-start-all")
		})
	}
}
