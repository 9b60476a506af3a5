package pidfd

import (
	"context"
	"os"
)

// Exit is the end of a process that a [Watcher] watched, as [Watcher.Next]
// delivers it. Status and Err are what [PidFd.Wait] returns for the PidFd,
// and what it will return from then on: a status, a [*WaitError] with a
// status, [ErrNoExitStatus], or [os.ErrClosed] if the PidFd was closed
// while it was watched.
type Exit struct {
	PidFd  *PidFd      // the PidFd given to Add; the caller's, as before
	Status *ExitStatus // how the process ended; nil if Err says why not
	Err    error       // as Wait returns it; nil for any status, success or not
}

// Watcher waits for the exits of any number of processes at once, and
// delivers them one at a time to a loop that calls [Watcher.Next]:
//
//	w, err := pidfd.NewWatcher()
//	...
//	defer w.Close()
//	w.Add(child) // for each PidFd, at any time
//	for {
//		exit, err := w.Next(ctx)
//		if err != nil {
//			return err // ctx is done, or w was closed
//		}
//		log.Printf("%v: %v, %v", exit.PidFd, exit.Status, exit.Err)
//	}
//
// A Watcher has an epoll set of its own, itself registered with Go's
// runtime poller, so a Watcher costs one goroutine, the caller's, parked in
// Next without an OS thread, however many processes it watches, where a
// [PidFd.Wait] for each costs a goroutine each. (While os/exec copies the
// output of an exited child from [Start], one goroutine waits for that
// child.) Only Linux has pidfds:
// elsewhere [NewWatcher] returns [errors.ErrUnsupported].
//
// Each exit is delivered once, with the status [PidFd.Wait] returns for
// that PidFd: a child is reaped as Wait reaps it (through os/exec for a
// PidFd from [Start], through os for one from [FromProcess]), any other
// process or thread is reported with the kernel's record of its exit
// (Linux 6.15+; before, [ErrNoExitStatus]). So Wait on a watched PidFd
// works, and it and the Watcher agree. As Wait does, the Watcher delivers
// the exit of a process that is not the caller's child once its parent has
// reaped it, and that of a child from Start once os/exec has copied its
// output.
//
// The PidFds stay the caller's: a Watcher neither closes them nor keeps
// them from closing. Add, Remove, Len and Close may be called from any
// goroutine at any time, also while another goroutine waits in Next. Next
// is meant for one loop; calls from several goroutines take turns.
type Watcher struct {
	watcher // what the system holds
}

// NewWatcher returns a Watcher that watches nothing yet. Close it to
// release its descriptors.
func NewWatcher() (*Watcher, error) { return newWatcher() }

// Add watches p until its exit is delivered by [Watcher.Next], or until
// [Watcher.Remove]. A process that has already exited is delivered at once.
//
// A PidFd is watched by at most one Watcher at a time: Add of a PidFd that
// is watched already, by w or another, returns an error for which
// errors.Is(err, [os.ErrExist]) holds. Add of a closed PidFd returns
// [os.ErrClosed], and of a nil one [os.ErrInvalid].
//
// Closing a watched PidFd ends the watch: Next then delivers it with
// [os.ErrClosed] (or with its status, if the exit was known by then).
func (w *Watcher) Add(p *PidFd) error {
	if w == nil {
		return os.ErrInvalid
	}
	return w.add(p, false)
}

// AddExited is [Watcher.Add] for an exit seen before the reaping: Next
// delivers p as soon as its process has exited, with what
// [PidFd.WaitExited] returns then, and reaps nothing. A child of the
// caller stays a zombie, holding its PID and process group, until the
// caller reaps it (by [PidFd.Wait], say, which then returns at once); a
// process that is not the caller's child is delivered at its exit, not at
// its parent's reaping, with [ErrNoExitStatus].
func (w *Watcher) AddExited(p *PidFd) error {
	if w == nil {
		return os.ErrInvalid
	}
	return w.add(p, true)
}

// Remove stops watching p. If it returns nil, Next will not deliver p. It
// returns an error for which errors.Is(err, [os.ErrNotExist]) holds if p is
// not watched by w: it was never added, or Next has delivered it already.
// Removing affects neither the process nor the PidFd.
func (w *Watcher) Remove(p *PidFd) error {
	if w == nil {
		return os.ErrInvalid
	}
	return w.remove(p)
}

// Next waits until a watched process has exited and returns its [Exit]; the
// PidFd is then no longer watched. It returns ctx.Err() once ctx is done,
// and [os.ErrClosed] once the Watcher is closed: a loop that calls Next
// ends with its context. Exits found meanwhile stay for a later Next.
//
// While nothing is watched, Next waits for an Add (from another goroutine)
// and the exit after it. Next holds no OS thread while it waits.
func (w *Watcher) Next(ctx context.Context) (Exit, error) {
	if w == nil {
		return Exit{}, os.ErrInvalid
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return w.next(ctx)
}

// Exits returns a channel on which the Watcher delivers each exit, as
// [Watcher.Next] does, for a loop that waits for other things too:
//
//	sigs := make(chan os.Signal, 1)
//	signal.Notify(sigs, syscall.SIGTERM)
//	for {
//		select {
//		case exit := <-w.Exits():
//			restart(exit.PidFd)
//		case <-sigs:
//			return
//		case <-tick.C:
//			report()
//		}
//	}
//
// Every call returns the same channel. From the first call on, a goroutine
// of the Watcher's own waits in Next for it, parked without an OS thread;
// a Next called as well takes turns with it. Close closes the channel, ends
// that goroutine, and drops an exit it held but nobody received (Wait on
// that PidFd still returns its status). Exits of a nil or zero Watcher is a
// closed channel.
func (w *Watcher) Exits() <-chan Exit {
	if w == nil {
		return closedExits()
	}
	return w.exitsChan()
}

func closedExits() <-chan Exit {
	c := make(chan Exit)
	close(c)
	return c
}

// Len returns the number of PidFds watched: added, and neither delivered by
// Next nor removed.
func (w *Watcher) Len() int {
	if w == nil {
		return 0
	}
	return w.len()
}

// Close stops watching everything and releases the Watcher's descriptors;
// a Next that waits returns [os.ErrClosed]. The PidFds stay open, the
// caller's, and their processes are left as they are: Wait on a PidFd
// returns its status, also one the Watcher found but did not deliver.
// Close returns os.ErrClosed if called again.
func (w *Watcher) Close() error {
	if w == nil {
		return os.ErrInvalid
	}
	return w.close()
}
