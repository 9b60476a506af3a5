package pidfd

import "os"

// WithProcDir calls fn with the process's /proc/PID directory, open as an
// [os.Root], and afterwards proves that the process still lives. A PID is
// only reused after its process is reaped, so if it still lives, everything
// fn read under dir was the process's own. If it does not, WithProcDir
// returns [os.ErrProcessDone], and whatever fn found must be thrown away: it
// may describe another process that was given the PID.
//
// Reading /proc this way is how the package's own fallbacks work on kernels
// that lack the newer pidfd calls.
func (p *PidFd) WithProcDir(fn func(dir *os.Root) error) error { return p.withProcDir(fn) }
