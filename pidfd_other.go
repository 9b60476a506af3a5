//go:build !linux

package pidfd

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Only Linux has pidfds. Elsewhere the package compiles so that portable
// programs can import it, and every constructor reports errors.ErrUnsupported.

var errUnsupported = errors.ErrUnsupported

// handle is what a PidFd holds: nothing, where no PidFd can be made.
type handle struct{}

func open(pid int) (*PidFd, error)                          { return nil, errUnsupported }
func newFile(fd uintptr) (*PidFd, error)                    { return nil, errUnsupported }
func openIdentity(id Identity) (*PidFd, error)              { return nil, errUnsupported }
func openThread(tid int) (*PidFd, error)                    { return nil, errUnsupported }
func selfThread() (*PidFd, error)                           { return nil, errUnsupported }
func kernelFeatures() (Features, error)                     { return Features{}, nil }
func (p *PidFd) fd() uintptr                                { return ^uintptr(0) }
func (p *PidFd) syscallConn() (syscall.RawConn, error)      { return nil, errUnsupported }
func (p *PidFd) queryPID() (int, error)                     { return 0, errUnsupported }
func (p *PidFd) isThread() bool                             { return false }
func (p *PidFd) creds() (Creds, error)                      { return Creds{}, errUnsupported }
func (p *PidFd) ppid() (int, error)                         { return 0, errUnsupported }
func (p *PidFd) cgroupID() (uint64, error)                  { return 0, errUnsupported }
func (p *PidFd) id() (uint64, error)                        { return 0, errUnsupported }
func (p *PidFd) alive() bool                                { return false }
func (p *PidFd) identity() (Identity, error)                { return Identity{}, errUnsupported }
func (p *PidFd) withProcDir(func(dir *os.Root) error) error { return errUnsupported }

// The per-system halves of the portable declarations.

func (p *PidFd) close() error                                    { return os.ErrInvalid }
func (p *PidFd) getFd(fd int) (*os.File, error)                  { return nil, errUnsupported }
func (p *PidFd) openNamespace(ns Namespace) (*os.File, error)    { return nil, errUnsupported }
func (p *PidFd) setns(kinds []Namespace) error                   { return errUnsupported }
func (p *PidFd) signal(sig os.Signal, opts []SignalOption) error { return errUnsupported }
func (p *PidFd) killAndRelease() error                           { return errUnsupported }
func fromUnixConn(conn *net.UnixConn) (*PidFd, error)            { return nil, errUnsupported }
func passSender(conn syscall.Conn) error                         { return errUnsupported }

func writeMessage(conn *net.UnixConn, b []byte, addr *net.UnixAddr, pidfds []*PidFd) (int, error) {
	return 0, errUnsupported
}

func readMessage(conn *net.UnixConn, b []byte) (int, Message, error) {
	return 0, Message{}, errUnsupported
}

func start(cmd *exec.Cmd) (*PidFd, error)       { return nil, errUnsupported }
func fromProcess(p *os.Process) (*PidFd, error) { return nil, errUnsupported }
func startProcess(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	return nil, errUnsupported
}
func startProcessAutoKill(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	return nil, errUnsupported
}
func (p *PidFd) wait(ctx context.Context) (*ExitStatus, error)   { return nil, errUnsupported }
func (p *PidFd) tryWait() (*ExitStatus, error)                   { return nil, errUnsupported }
func (p *PidFd) waitExited(context.Context) (*ExitStatus, error) { return nil, errUnsupported }
func (p *PidFd) terminate(context.Context, time.Duration, []SignalOption) (*ExitStatus, error) {
	return nil, errUnsupported
}

type watcher struct{}

func newWatcher() (*Watcher, error)                   { return nil, errUnsupported }
func (w *watcher) add(p *PidFd, exited bool) error    { return os.ErrInvalid }
func (w *watcher) exitsChan() <-chan Exit             { return closedExits() }
func (w *watcher) remove(p *PidFd) error              { return os.ErrInvalid }
func (w *watcher) next(context.Context) (Exit, error) { return Exit{}, os.ErrInvalid }
func (w *watcher) len() int                           { return 0 }
func (w *watcher) close() error                       { return os.ErrInvalid }
