//go:build linux

package pidfd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkExitToReturn compares one Watcher with a Wait per child over
// the same N children (StartProcess), in alternating rounds within one
// process, so that the load of a shared machine falls on both alike; the
// rows of BenchmarkWaitMany run minutes apart. Each sample kills one child
// while all the others stay watched, and takes the time from the kernel's
// stamp of the exit (exitClock) to the return.
func BenchmarkExitToReturn(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			for b.Loop() {
				exitToReturn(b, n)
			}
		})
	}
}

func exitToReturn(b *testing.B, n int) {
	const rounds, perRound = 10, 25
	ps := make([]*PidFd, n)
	pids := make([]int, n)
	defer func() {
		for _, p := range ps {
			if p != nil {
				p.Kill()
				p.Wait()
				p.Close()
			}
		}
	}()
	for i := range ps {
		cmd := exec.Command("sleep", "3600")
		p, err := StartProcess(cmd.Path, cmd.Args, &os.ProcAttr{Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}})
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = p
		if pids[i], err = p.PID(); err != nil {
			b.Fatal(err)
		}
	}
	clock, err := newExitClock()
	if err != nil {
		b.Skip("no exit stamps from the kernel:", err)
	}
	defer clock.close()
	next := 0
	took := map[string][]time.Duration{}
	sample := func(method string, returned map[*PidFd]chan time.Time) {
		for range perRound {
			p, pid := ps[next], pids[next]
			next++
			if _, _, err := clock.exitOf(0, 0); err != nil {
				b.Fatal(err)
			}
			p.Kill()
			end := <-returned[p]
			at, ok, err := clock.exitOf(pid, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				took[method] = append(took[method], end.Sub(at))
			}
		}
	}
	for round := range rounds {
		for _, method := range [][]string{{"Watcher", "Wait"}, {"Wait", "Watcher"}}[round%2] {
			live := ps[next:]
			returned := make(map[*PidFd]chan time.Time, len(live))
			for _, p := range live {
				returned[p] = make(chan time.Time, 1)
			}
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			var w *Watcher
			if method == "Watcher" {
				if w, err = NewWatcher(); err != nil {
					b.Fatal(err)
				}
				defer w.Close() // again after the round, for a failure's sake
				for _, p := range live {
					if err := w.Add(p); err != nil {
						b.Fatal(err)
					}
				}
				wg.Go(func() {
					for {
						x, err := w.Next(ctx)
						if err != nil {
							return
						}
						returned[x.PidFd] <- time.Now()
					}
				})
			} else {
				for _, p := range live {
					wg.Go(func() {
						if _, err := p.WaitContext(ctx); err == nil {
							returned[p] <- time.Now()
						}
					})
				}
			}
			time.Sleep(300 * time.Millisecond) // let every wait park
			sample(method, returned)
			cancel()
			wg.Wait()
			if w != nil {
				w.Close() // the PidFds it watches are the next round's
			}
		}
	}
	for _, method := range []string{"Watcher", "Wait"} {
		d := took[method]
		if len(d) < rounds*perRound/2 {
			b.Fatalf("%s: exit stamps for only %d of %d children", method, len(d), rounds*perRound)
		}
		slices.Sort(d)
		b.ReportMetric(d[len(d)/2].Seconds()*1e6, "µs-"+method+"-p50")
		b.ReportMetric(d[len(d)*9/10].Seconds()*1e6, "µs-"+method+"-p90")
	}
}
