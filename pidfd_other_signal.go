//go:build !linux && !plan9

package pidfd

import "syscall"

// Signal returns 0: only Linux produces exit statuses. (Plan 9 has no
// syscall.Signal, so there ExitStatus has no Signal method.)
func (s *ExitStatus) Signal() syscall.Signal { return 0 }
