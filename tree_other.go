//go:build !linux

package pidfd

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// tree is what a Tree holds: nothing, where no Tree can be made.
type tree struct{}

func newTree() (*Tree, error)                                  { return nil, errUnsupported }
func (t *tree) kind() TreeKind                                 { return 0 }
func (t *tree) cgroup() string                                 { return "" }
func (t *tree) describe() string                               { return "unsupported" }
func (t *tree) start(cmd *exec.Cmd) (*PidFd, error)            { return nil, errUnsupported }
func (t *tree) signal(sig os.Signal) error                     { return errUnsupported }
func (t *tree) kill() error                                    { return errUnsupported }
func (t *tree) wait(ctx context.Context) error                 { return errUnsupported }
func (t *tree) terminate(context.Context, time.Duration) error { return errUnsupported }
func (t *tree) close() error                                   { return os.ErrInvalid }

func (t *tree) startProcess(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	return nil, errUnsupported
}
