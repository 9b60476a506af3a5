//go:build linux

package pidfd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/testchild"
)

// BenchmarkPID compares PID by ioctl (where the kernel has PIDFD_GET_INFO),
// by the /proc fallback, and the bare ioctl with no PidFd around it.
func BenchmarkPID(b *testing.B) {
	p, err := Self()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.Run("raw-ioctl", func(b *testing.B) {
		fd := int(p.Fd())
		var info unix.PidfdInfo
		if err := unix.IoctlPidfdInfo(fd, &info); err != nil {
			b.Skipf("kernel has no PIDFD_GET_INFO: %v", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			info = unix.PidfdInfo{Mask: unix.PIDFD_INFO_PID}
			if err := unix.IoctlPidfdInfo(fd, &info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PID", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.PID(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fdinfo-fallback", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pidByFdinfo(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWaitMany waits for N children at once, with PidFd.Wait (a
// goroutine each), with one Watcher (one goroutine for all) and with
// exec.Cmd.Wait. Each run happens in a fresh re-executed process, since the
// Go runtime never gives back the threads a run made. It reports the peak OS
// threads and RSS of that process, and the latency of one child's Wait while
// all the others stay parked: from the kill, and from the exit itself, so
// that the kernel's own cost of tearing the process down is left out. The
// exit's moment is the kernel's own stamp (see exitClock); where the kernel
// gives none, it is when a thread blocked in poll(2) on a pidfd of its own
// wakes, a thread that races the measured one for the CPUs, and the metrics
// say "polled-exit".
func BenchmarkWaitMany(b *testing.B) {
	runs := []struct {
		method string
		n      int
	}{
		{"PidFd.Wait", 1000}, {"Watcher", 1000}, {"exec.Cmd.Wait", 1000},
		{"PidFd.Wait", 5000}, {"Watcher", 5000}, {"exec.Cmd.Wait", 5000},
		// One descriptor per child: 10,000 children fit in RLIMIT_NOFILE
		// 20,000, where Start (two each) would not. exec.Cmd.Wait dies here
		// of Go's 10,000-thread limit, so it is not run.
		{"StartProcess+Wait", 10000}, {"StartProcess+Watcher", 10000},
	}
	for _, run := range runs {
		method, n := run.method, run.n
		{
			b.Run(fmt.Sprintf("%s/N=%d", method, n), func(b *testing.B) {
				var result waitManyResult
				for b.Loop() {
					result = runWaitMany(b, method, n)
				}
				b.ReportMetric(float64(result.threads), "threads-peak")
				b.ReportMetric(float64(result.rssKB)/1024, "MB-rss-peak")
				exit := "exit"
				if result.clock != "kernel" {
					exit = "polled-exit" // not to be compared with the kernel's
				}
				b.ReportMetric(result.exitP50.Seconds()*1e6, "µs-"+exit+"-to-return-p50")
				b.ReportMetric(result.exitP90.Seconds()*1e6, "µs-"+exit+"-to-return-p90")
				b.ReportMetric(result.killP50.Seconds()*1e6, "µs-kill-to-return-p50")
			})
		}
	}
}

const waitManyRole = "wait-many"

type waitManyResult struct {
	threads, rssKB            int
	exitP50, exitP90, killP50 time.Duration
	clock                     string // where exit times came from: "kernel" or "poll"
}

func runWaitMany(b *testing.B, method string, n int) waitManyResult {
	b.Helper()
	cmd := testchild.Command(waitManyRole, method, strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s N=%d: %v", method, n, err)
	}
	var r waitManyResult
	if _, err := fmt.Sscanf(string(out), "threads=%d rss_kb=%d exit_p50=%d exit_p90=%d kill_p50=%d clock=%s",
		&r.threads, &r.rssKB, &r.exitP50, &r.exitP90, &r.killP50, &r.clock); err != nil {
		b.Fatalf("%s N=%d printed %q: %v", method, n, out, err)
	}
	return r
}

// waitMany is the re-executed side of BenchmarkWaitMany: args are the
// method and N. It prints one line of results.
func waitMany(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "wait-many: want METHOD N")
		return 2
	}
	method := args[0]
	n, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wait-many:", err)
		return 2
	}
	pids := make([]int, n)
	kill := make([]func() error, n)
	wait := make([]func(), n) // each in a goroutine of its own, or:
	var watcher *Watcher      // all in one goroutine
	var index map[*PidFd]int  // the watched, by position
	if strings.HasSuffix(method, "Watcher") {
		index = make(map[*PidFd]int, n)
		if watcher, err = NewWatcher(); err != nil {
			fmt.Fprintln(os.Stderr, "wait-many:", err)
			return 1
		}
		defer watcher.Close()
	}
	for i := range n {
		// The smallest child there is; it dies with us if we crash.
		cmd := exec.Command("sleep", "3600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		switch method {
		case "PidFd.Wait", "Watcher":
			p, err := Start(cmd)
			if err != nil {
				fmt.Fprintf(os.Stderr, "wait-many: child %d: %v\n", i, err)
				return 1
			}
			pids[i] = cmd.Process.Pid
			kill[i] = p.Kill
			if watcher != nil {
				index[p] = i
			} else {
				wait[i] = func() { p.Wait() }
			}
			defer p.Close()
		case "StartProcess+Wait", "StartProcess+Watcher":
			p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Sys: cmd.SysProcAttr})
			if err != nil {
				fmt.Fprintf(os.Stderr, "wait-many: child %d: %v\n", i, err)
				return 1
			}
			pid, _ := p.PID()
			pids[i] = pid
			kill[i] = p.Kill
			if watcher != nil {
				index[p] = i
			} else {
				wait[i] = func() { p.Wait() }
			}
			defer p.Close()
		case "exec.Cmd.Wait":
			if err := cmd.Start(); err != nil {
				fmt.Fprintf(os.Stderr, "wait-many: child %d: %v\n", i, err)
				return 1
			}
			pids[i] = cmd.Process.Pid
			kill[i] = cmd.Process.Kill
			wait[i] = func() { cmd.Wait() }
		default:
			fmt.Fprintln(os.Stderr, "wait-many: unknown method", method)
			return 2
		}
	}
	returned := make([]chan time.Time, n)
	for i := range n {
		returned[i] = make(chan time.Time, 1)
	}
	if watcher != nil {
		for p := range index {
			if err := watcher.Add(p); err != nil {
				fmt.Fprintln(os.Stderr, "wait-many: Add:", err)
				return 1
			}
		}
		go func() {
			for range n {
				x, err := watcher.Next(context.Background())
				if err != nil || x.Err != nil {
					fmt.Fprintln(os.Stderr, "wait-many: Next:", err, x.Err)
					os.Exit(1)
				}
				returned[index[x.PidFd]] <- time.Now()
			}
		}()
	} else {
		for i := range n {
			go func() {
				wait[i]()
				returned[i] <- time.Now()
			}()
		}
	}
	threads := settledThreads() // before any exit watcher adds its own
	clockName := "kernel"
	clock, err := newExitClock()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wait-many: exit times from a polling thread:", err)
		clockName = "poll"
	} else {
		defer clock.close()
	}
	// A sample costs a couple of milliseconds, and the p50 of 50 moved by
	// tens of microseconds between runs of the same code.
	const samples = 200
	var fromExit, fromKill []time.Duration
	next := 0 // the first child not yet killed
	for ; len(fromExit) < samples && next < n; next++ {
		i := next
		var exited <-chan time.Time
		if clock != nil {
			_, _, err = clock.exitOf(0, 0) // drops earlier events
		} else {
			exited, err = watchExit(pids[i])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wait-many:", err)
			return 1
		}
		start := time.Now()
		if err := kill[i](); err != nil {
			fmt.Fprintln(os.Stderr, "wait-many: kill:", err)
			return 1
		}
		end := <-returned[i]
		var exitAt time.Time
		if clock != nil {
			// The event can come after the return, if the exiting task
			// was preempted before it stamped it.
			at, ok, err := clock.exitOf(pids[i], time.Second)
			if err != nil {
				fmt.Fprintln(os.Stderr, "wait-many:", err)
				return 1
			}
			if !ok {
				continue // its event was dropped: the socket's buffer was full
			}
			exitAt = at
		} else {
			exitAt = <-exited
		}
		fromExit = append(fromExit, end.Sub(exitAt))
		fromKill = append(fromKill, end.Sub(start))
	}
	if len(fromExit) < min(samples, n)/2 {
		fmt.Fprintf(os.Stderr, "wait-many: exit times of only %d of %d children\n", len(fromExit), next)
		return 1
	}
	rssKB := statusField("VmHWM:")
	for i := next; i < n; i++ {
		kill[i]()
	}
	for i := next; i < n; i++ {
		<-returned[i]
	}
	slices.Sort(fromExit)
	slices.Sort(fromKill)
	fmt.Printf("threads=%d rss_kb=%d exit_p50=%d exit_p90=%d kill_p50=%d clock=%s\n", threads, rssKB,
		fromExit[len(fromExit)/2], fromExit[len(fromExit)*9/10], fromKill[len(fromKill)/2], clockName)
	return 0
}

// watchExit reports when process pid exits, seen by a thread of its own
// blocked in poll(2) on a separate pidfd: the nearest user space gets to the
// moment of exit where the kernel stamps no exits for us. The thread wakes
// with the measured method, on the same CPUs: it comes first in some
// samples and last in others, and its own work delays the method when it
// comes first.
func watchExit(pid int) (<-chan time.Time, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	exited := make(chan time.Time, 1)
	ready := make(chan struct{})
	// A blocking poll holds this goroutine's thread in the kernel, woken by
	// the exit itself. (No LockOSThread: a locked goroutine that ends takes
	// its thread with it, and Pdeathsig then kills that thread's children.)
	go func() {
		defer unix.Close(fd)
		close(ready)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		exited <- time.Now()
	}()
	<-ready
	return exited, nil
}

// settledThreads lets every wait park and returns the most OS threads seen
// meanwhile: it counts every 10 ms for at least 500 ms, until the count has
// not grown for 250 ms (a blocked wait4 takes a thread, and 5000 of them
// take longer than 500 ms to start).
func settledThreads() int {
	start := time.Now()
	most, grew := 0, start
	for {
		if n := statusField("Threads:"); n > most {
			most, grew = n, time.Now()
		}
		settled := time.Since(start) >= 500*time.Millisecond && time.Since(grew) >= 250*time.Millisecond
		if settled || time.Since(start) >= 10*time.Second {
			return most
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// statusField reads a number from /proc/self/status, or -1.
func statusField(name string) int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, name); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// BenchmarkNamespace opens (and closes) a child's network namespace by ioctl
// (Linux 6.11+) and through /proc/PID/ns, verified.
func BenchmarkNamespace(b *testing.B) {
	p := startCmd(b, exec.Command("sleep", "3600"))
	run := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := p.OpenNamespace(NamespaceNet)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	b.Run("ioctl", func(b *testing.B) {
		if has, _ := namespaceIoctls.has(); !has {
			b.Skip("no PIDFD_GET_*_NAMESPACE ioctls on this kernel")
		}
		run(b)
	})
	b.Run("proc", func(b *testing.B) {
		saved := namespaceIoctls.state.Swap(capMissing)
		defer namespaceIoctls.state.Store(saved)
		run(b)
	})
}

// BenchmarkMessage passes one pidfd through a socket pair and closes it at
// the receiver: with the package (the receiver checks the descriptor is a
// pidfd and adopts it), and with bare x/sys calls that check nothing.
func BenchmarkMessage(b *testing.B) {
	self, err := Self()
	if err != nil {
		b.Fatal(err)
	}
	defer self.Close()
	sender, receiver := unixPair(b, unix.SOCK_SEQPACKET)
	buf := make([]byte, 16)
	b.Run("raw", func(b *testing.B) {
		oob := make([]byte, oobSize)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := sender.WriteMsgUnix([]byte("x"), unix.UnixRights(int(self.Fd())), nil); err != nil {
				b.Fatal(err)
			}
			_, oobn, _, _, err := receiver.ReadMsgUnix(buf, oob)
			if err != nil {
				b.Fatal(err)
			}
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil || len(msgs) != 1 {
				b.Fatal(err)
			}
			fds, err := unix.ParseUnixRights(&msgs[0])
			if err != nil || len(fds) != 1 {
				b.Fatal(err)
			}
			unix.Close(fds[0])
		}
	})
	b.Run("WriteMessage+ReadMessage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := WriteMessage(sender, []byte("x"), nil, self); err != nil {
				b.Fatal(err)
			}
			_, m, err := ReadMessage(receiver, buf)
			if err != nil || len(m.PidFds) != 1 {
				b.Fatal(err)
			}
			m.Close()
		}
	})
}

// BenchmarkStart measures how long a start of sleep(1) takes until it
// returns (the child has execed: all three wait for that) with exec.Cmd.Start,
// StartProcess and StartProcessAutoKill, with an empty heap and with 256 MB
// of it in use, which a start that copied the parent's memory would feel.
// Ending the child is not timed.
func BenchmarkStart(b *testing.B) {
	starts := []struct {
		name  string
		start func(cmd *exec.Cmd) (end func(), err error)
	}{
		{"exec.Cmd.Start", func(cmd *exec.Cmd) (func(), error) {
			err := cmd.Start()
			return func() { cmd.Process.Kill(); cmd.Wait() }, err
		}},
		{"StartProcess", func(cmd *exec.Cmd) (func(), error) {
			p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
			return func() { p.Kill(); p.Wait(); p.Close() }, err
		}},
		{"StartProcessAutoKill", func(cmd *exec.Cmd) (func(), error) {
			p, err := StartProcessAutoKill(cmd.Path, cmd.Args, &os.ProcAttr{Env: cmd.Env})
			return func() { waitGone(p) }, err
		}},
	}
	// A small program, so that the start, not the loading of a large
	// binary, is measured.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	for _, heapMB := range []int{0, 256} {
		heap := make([][]byte, heapMB)
		for i := range heap {
			heap[i] = make([]byte, 1<<20)
			for j := 0; j < len(heap[i]); j += 4096 {
				heap[i][j] = 1 // touched: resident
			}
		}
		for _, s := range starts {
			b.Run(fmt.Sprintf("heap=%dMB/%s", heapMB, s.name), func(b *testing.B) {
				for b.Loop() {
					cmd := exec.Command(sleep, "60")
					end, err := s.start(cmd)
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
		runtime.KeepAlive(heap)
	}
}

// waitGone closes p, the PidFd of a StartProcessAutoKill child, and waits
// until the kernel has reaped the child.
func waitGone(p *PidFd) {
	if pid, err := p.PID(); err == nil {
		if watch, err := Open(pid); err == nil {
			defer watch.Close()
			defer watch.Wait()
		}
	}
	p.Close()
}
