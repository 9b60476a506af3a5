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

// PidFd names a process by file descriptor. Only Linux has them.
type PidFd struct{}

func Open(pid int) (*PidFd, error)              { return nil, errUnsupported }
func Self() (*PidFd, error)                     { return nil, errUnsupported }
func FromProcess(p *os.Process) (*PidFd, error) { return nil, errUnsupported }
func Start(cmd *exec.Cmd) (*PidFd, error)       { return nil, errUnsupported }
func NewFile(fd uintptr) (*PidFd, error)        { return nil, errUnsupported }

func OpenIdentity(id Identity) (*PidFd, error) { return nil, errUnsupported }
func OpenThread(tid int) (*PidFd, error)       { return nil, errUnsupported }
func SelfThread() (*PidFd, error)              { return nil, errUnsupported }

func StartProcess(name string, argv []string, attr *os.ProcAttr) (*PidFd, error) {
	return nil, errUnsupported
}

func (p *PidFd) Fd() uintptr                                          { return ^uintptr(0) }
func (p *PidFd) SyscallConn() (syscall.RawConn, error)                { return nil, errUnsupported }
func (p *PidFd) PID() (int, error)                                    { return 0, errUnsupported }
func (p *PidFd) IsThread() bool                                       { return false }
func (p *PidFd) Wait() (*ExitStatus, error)                           { return nil, errUnsupported }
func (p *PidFd) WaitContext(ctx context.Context) (*ExitStatus, error) { return nil, errUnsupported }
func (p *PidFd) TryWait() (*ExitStatus, error)                        { return nil, errUnsupported }
func (p *PidFd) WaitExit(ctx context.Context) (*ExitStatus, error)    { return nil, errUnsupported }
func (p *PidFd) Creds() (Creds, error)                                { return Creds{}, errUnsupported }
func (p *PidFd) PPID() (int, error)                                   { return 0, errUnsupported }
func (p *PidFd) CgroupID() (uint64, error)                            { return 0, errUnsupported }
func (p *PidFd) ID() (uint64, error)                                  { return 0, errUnsupported }
func (p *PidFd) Equal(other *PidFd) bool                              { return false }
func (p *PidFd) Identity() (Identity, error)                          { return Identity{}, errUnsupported }
func (p *PidFd) WithProcDir(fn func(dir *os.Root) error) error        { return errUnsupported }

// KernelFeatures reports no pidfd facilities: only Linux has them.
func KernelFeatures() Features { return Features{} }

// ExitStatus describes how a process ended. Only Linux produces them.
type ExitStatus struct{}

func (s *ExitStatus) Pid() int                { return -1 }
func (s *ExitStatus) Exited() bool            { return false }
func (s *ExitStatus) ExitCode() int           { return -1 }
func (s *ExitStatus) Success() bool           { return false }
func (s *ExitStatus) Signaled() bool          { return false }
func (s *ExitStatus) CoreDumped() bool        { return false }
func (s *ExitStatus) Sys() any                { return nil }
func (s *ExitStatus) SysUsage() any           { return nil }
func (s *ExitStatus) UserTime() time.Duration { return 0 }
func (s *ExitStatus) SystemTime() time.Duration {
	return 0
}
func (s *ExitStatus) String() string { return "<nil>" }

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
