//go:build linux

package pidfd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/pidfd-go/pidfd"
)

// A supervisor's loop: exits, signals and a timer in one select. A
// service that crashes is restarted twice; an operator's signal (here the
// program sends it to itself) stops the steady one with grace.
func ExampleWatcher_Exits() {
	w, err := pidfd.NewWatcher()
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1) // a real supervisor: SIGTERM, SIGHUP
	defer signal.Stop(sigs)

	names := map[*pidfd.PidFd]string{}
	start := func(name string, argv ...string) *pidfd.PidFd {
		p, err := pidfd.Start(exec.Command(argv[0], argv[1:]...))
		if err != nil {
			log.Fatal(err)
		}
		if err := w.Add(p); err != nil {
			log.Fatal(err)
		}
		names[p] = name
		return p
	}
	steady := start("steady", "sleep", "60")
	start("flaky", "sh", "-c", "exit 1")
	restarts := 0
	health := time.NewTicker(100 * time.Millisecond) // a supervisor's own timer
	defer health.Stop()
	for len(names) > 0 {
		select {
		case exit := <-w.Exits():
			name := names[exit.PidFd]
			delete(names, exit.PidFd)
			exit.PidFd.Close()
			fmt.Printf("%s ended: %v\n", name, exit.Status)
			if name == "flaky" && restarts < 2 {
				restarts++
				start("flaky", "sh", "-c", "exit 1")
			} else if name == "flaky" {
				syscall.Kill(os.Getpid(), syscall.SIGUSR1) // the operator
			}
		case sig := <-sigs:
			fmt.Println("got", sig)
			// Terminate reaps: the Watcher then delivers the same status.
			if _, err := steady.Terminate(context.Background(), 5*time.Second); err != nil {
				log.Fatal(err)
			}
		case <-health.C:
			// check the services' health, report, reload...
		}
	}
	// Output:
	// flaky ended: exit status 1
	// flaky ended: exit status 1
	// flaky ended: exit status 1
	// got user defined signal 1
	// steady ended: signal: terminated
}

// Stop a service with grace: SIGTERM, up to five seconds, then SIGKILL.
// This one ignores SIGTERM, so the grace runs out.
func ExamplePidFd_Terminate() {
	cmd := exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.01; done")
	out, _ := cmd.StdoutPipe()
	p, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	fmt.Fscan(out, new(string)) // the trap is set
	status, err := p.Terminate(context.Background(), 200*time.Millisecond)
	fmt.Println(status, err)
	// Output: signal: killed <nil>
}

// End what a group leader left behind: its exit is seen before the
// reaping, while its process group is still its own.
func ExamplePidFd_WaitExited() {
	cmd := exec.Command("sh", "-c", "sleep 60 & exit 3") // leaves a member
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	leader, err := pidfd.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	defer leader.Close()
	status, err := leader.WaitExited(context.Background())
	fmt.Println("exited:", status, err)
	err = leader.Signal(syscall.SIGTERM, pidfd.ToProcessGroup())
	if errors.Is(err, errors.ErrUnsupported) { // before Linux 6.9: by number, safe while unreaped
		pgid, _ := leader.PID()
		err = syscall.Kill(-pgid, syscall.SIGTERM)
	}
	fmt.Println("group signalled:", err)
	status, err = leader.Wait() // reaps
	fmt.Println("reaped:", status, err)
	// Output:
	// exited: exit status 3 <nil>
	// group signalled: <nil>
	// reaped: exit status 3 <nil>
}
