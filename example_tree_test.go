//go:build linux

package pidfd_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"time"

	"github.com/pidfd-go/pidfd"
)

// Run a command and, once it has exited, end whatever it left behind: a
// daemon that called setsid and forked twice, one that ignores SIGTERM.
// Each gets SIGTERM, then SIGKILL if it is still there ten seconds later.
func ExampleTree() {
	tree, err := pidfd.NewTree()
	if err != nil {
		log.Fatal(err)
	}
	defer tree.Close() // kills what is left, and removes the cgroup
	log.Printf("holding the tree: %v", tree)

	cmd := exec.Command("sh", "-c", `setsid sh -c 'trap "" TERM; sleep 1000' & exit 3`)
	child, err := tree.Start(cmd)
	if err != nil {
		log.Fatal(err)
	}
	status, err := child.Wait()
	child.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the command:", status) // its daemon runs on

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tree.Terminate(ctx, 10*time.Second); err != nil {
		log.Fatal(err)
	}
	fmt.Println("the tree has ended")
}
