//go:build linux

package pidfd

import (
	"context"
	"encoding/binary"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Watcher works like this. Its epoll set holds each watched pidfd
// (one-shot, keyed by descriptor number) and an eventfd that wakes it. The
// epoll descriptor is itself on the runtime poller: Next parks in
// RawConn.Read on it, which takes events with epoll_wait(0) and parks while
// there are none. An event runs a step of the wait family on the PidFd
// (watchStep, outside the Watcher's lock; watch_step_linux.go), and its
// outcome moves the entry on:
//
//	armed (EPOLLIN) ──exit known──────────────────────────> queued ──Next──> gone
//	  ├─ exited, not ours, parent has not reaped it ──> hangup (EPOLLHUP only) ─┘
//	  ├─ os/exec still copying output ──> reaping (a goroutine awaits p.done) ──┘
//	  └─ exited, and the next step cannot be learned now ──> armed again after a pause
//
// Remove, the PidFd's Close (unwatch) and the Watcher's Close move any entry
// to gone, or, for Close of the PidFd, to queued with os.ErrClosed. A
// registered entry (armed, hangup) holds a pin on the PidFd, so that its
// descriptor number names it while it is in the set. An entry whose event
// has fired is disabled in the set (EPOLLONESHOT) and just gives up the pin,
// which keeps EPOLL_CTL_DEL off the way to delivery: the disabled
// registration goes when the file does (or with the set, if a dup elsewhere
// keeps the file) and never reports again. One still armed leaves the set
// before the pin goes, since a dup could keep it reporting under a number
// that names another PidFd by then.

type watchState int8

const (
	watchArmed   watchState = iota // in the set for EPOLLIN: the exit
	watchHangup                    // in the set for EPOLLHUP alone: the parent's reaping
	watchReaping                   // out of the set: a goroutine awaits p.done
	watchQueued                    // out of the set: exit found, waiting for Next
	watchGone                      // delivered, removed, or the Watcher closed
)

type watchEntry struct {
	w     *watcher
	p     *PidFd
	fd    int           // p's descriptor, pinned while in the set
	state watchState    // guarded by w.mu
	fired bool          // the one-shot registration reported: disabled; guarded by w.mu
	tag   int32         // in the events with fd: which registration of that number
	stop  chan struct{} // closed to end the reaping goroutine
	exit  Exit          // once queued
	pause time.Duration // before asking again after stepLater; guarded by w.mu
	// exited: delivered at the exit, unreaped, as WaitExited returns it
	// (AddExited), not as Wait does.
	exited bool
}

type watcher struct {
	file    *os.File // the epoll set, on the runtime poller
	conn    syscall.RawConn
	epfd    int           // file's descriptor, for epoll_ctl under mu while !closed
	eventfd int           // readable to wake Next; used under mu while !closed
	closing chan struct{} // closed by Close
	token   chan struct{} // held by the one Next that parks on the poller
	events  []unix.EpollEvent
	wg      sync.WaitGroup // reaping goroutines, and forward
	exits   chan Exit      // made by the first Exits, fed by forward
	lastTag int32          // under mu

	mu     sync.Mutex
	closed bool
	fed    bool                     // forward runs
	live   map[*watchEntry]struct{} // every entry not gone
	byFd   map[int32]*watchEntry    // entries in the set
	queue  []*watchEntry            // queued, in order
}

// watchBatch is how many events one epoll_wait takes.
const watchBatch = 128

func newWatcher() (*Watcher, error) {
	if err := unsupported(); err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)})
	if err == nil {
		err = unix.SetNonblock(epfd, true)
	}
	if err != nil {
		unix.Close(efd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	file := os.NewFile(uintptr(epfd), "epoll") // non-blocking: on the runtime poller
	conn, err := file.SyscallConn()
	if err != nil {
		unix.Close(efd)
		file.Close()
		return nil, err
	}
	return &Watcher{watcher{
		file:    file,
		conn:    conn,
		epfd:    epfd,
		eventfd: efd,
		closing: make(chan struct{}),
		token:   make(chan struct{}, 1),
		exits:   make(chan Exit),
		events:  make([]unix.EpollEvent, watchBatch),
		live:    make(map[*watchEntry]struct{}),
		byFd:    make(map[int32]*watchEntry),
	}}, nil
}

var (
	errWatched    = wrapping("pidfd: PidFd is watched already: ", os.ErrExist)
	errNotWatched = wrapping("pidfd: PidFd is not watched here (its exit delivered, or never added): ", os.ErrNotExist)
)

func (w *watcher) add(p *PidFd, exited bool) error {
	if w.file == nil || p == nil || p.file == nil {
		return os.ErrInvalid
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	fd, err := p.pin()
	if err != nil {
		return err
	}
	w.lastTag++
	e := &watchEntry{w: w, p: p, fd: fd, state: watchGone, tag: w.lastTag, exited: exited}
	if !p.watch.CompareAndSwap(nil, e) {
		p.unpin()
		return errWatched
	}
	// A Close since the pin saw no entry to end (or waits for mu, and
	// will find it gone): the PidFd must not be watched then.
	if p.isClosed() {
		p.watch.CompareAndSwap(e, nil)
		p.unpin()
		return os.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd), Pad: e.tag}
	err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if err == unix.EEXIST {
		// A delivered entry's disabled registration, of this PidFd's file
		// under this number: take it over.
		err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if err != nil {
		p.watch.CompareAndSwap(e, nil)
		p.unpin()
		return os.NewSyscallError("epoll_ctl", err)
	}
	e.state = watchArmed
	w.live[e] = struct{}{}
	w.byFd[int32(fd)] = e
	return nil
}

func (w *watcher) remove(p *PidFd) error {
	if w.file == nil || p == nil || p.file == nil {
		return os.ErrInvalid
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	e := p.watch.Load()
	if e == nil || e.w != w || e.state == watchGone {
		return errNotWatched
	}
	w.release(e)
	return nil
}

func (w *watcher) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.live)
}

// leaveSet takes a registered entry out of the epoll set, unless it is
// disabled there already, and then unpins its PidFd. Under w.mu.
func (w *watcher) leaveSet(e *watchEntry) {
	if !e.fired {
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, e.fd, nil) // the pinned descriptor is in the set
	}
	delete(w.byFd, int32(e.fd))
	e.p.unpin()
}

// release ends e's watch, whatever its state, delivering nothing. Under
// w.mu.
func (w *watcher) release(e *watchEntry) {
	switch e.state {
	case watchArmed, watchHangup:
		w.leaveSet(e)
	case watchReaping:
		close(e.stop)
	case watchQueued:
		for i, q := range w.queue {
			if q == e {
				w.queue = slices.Delete(w.queue, i, i+1)
				break
			}
		}
	}
	e.state = watchGone
	delete(w.live, e)
	e.p.watch.CompareAndSwap(e, nil)
}

// enqueue queues x for Next, taking e out of the set or ending its reaping
// goroutine first. Under w.mu. Callers outside Next wake it; check runs in
// Next, which finds the queue (no eventfd round trip for every exit).
func (w *watcher) enqueue(e *watchEntry, x Exit) {
	switch e.state {
	case watchArmed, watchHangup:
		w.leaveSet(e)
	case watchReaping:
		close(e.stop)
	}
	e.state = watchQueued
	e.exit = x
	w.queue = append(w.queue, e)
}

// wakeLocked makes a parked Next return from the poller. Under w.mu.
func (w *watcher) wakeLocked() {
	if !w.closed {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1) // the eventfd's counter
		unix.Write(w.eventfd, one[:])
	}
}

func (w *watcher) wake() {
	w.mu.Lock()
	w.wakeLocked()
	w.mu.Unlock()
}

// unwatch is the Watcher's part of p's Close: a watched PidFd's entry leaves
// the set and gives up its pin at once, so that the descriptor closes now
// rather than at the process's exit, and Next delivers it.
func (p *PidFd) unwatch() {
	if e := p.watch.Load(); e != nil {
		e.w.queueSettled(e)
	}
}

// queueSettled queues what p's wait knows by now for an entry still
// watched, and wakes Next: after p's Close, or once os/exec has reaped it.
func (w *watcher) queueSettled(e *watchEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e.state {
	case watchArmed, watchHangup, watchReaping:
		w.enqueue(e, exitAfterClose(e.p))
		w.wakeLocked()
	}
}

// exitAfterClose is what Next delivers for a PidFd closed while watched:
// its status if a wait learned it before, else os.ErrClosed.
func exitAfterClose(p *PidFd) Exit {
	select {
	case <-p.done:
		return Exit{PidFd: p, Status: p.status, Err: p.statusErr}
	default:
		return Exit{PidFd: p, Err: os.ErrClosed}
	}
}

func (w *watcher) next(ctx context.Context) (Exit, error) {
	if w.file == nil {
		return Exit{}, os.ErrInvalid
	}
	select {
	case w.token <- struct{}{}:
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	case <-w.closing:
		return Exit{}, os.ErrClosed
	}
	defer func() { <-w.token }()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, w.wake)
		defer stop()
	}
	for {
		if err := ctx.Err(); err != nil {
			return Exit{}, err
		}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Exit{}, os.ErrClosed
		}
		if len(w.queue) > 0 {
			e := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			x := e.exit
			e.exit = Exit{}
			e.state = watchGone
			delete(w.live, e)
			e.p.watch.CompareAndSwap(e, nil)
			w.mu.Unlock()
			return x, nil
		}
		w.mu.Unlock()
		n, err := w.wait()
		if err != nil {
			w.mu.Lock()
			closed := w.closed
			w.mu.Unlock()
			if closed {
				return Exit{}, os.ErrClosed
			}
			return Exit{}, err
		}
		for _, ev := range w.events[:n] {
			w.check(ev)
		}
	}
}

// wait parks on the runtime poller until the set has events, and returns
// how many it took into w.events.
func (w *watcher) wait() (int, error) {
	var n int
	var waitErr error
	err := w.conn.Read(func(fd uintptr) bool {
		for {
			n, waitErr = unix.EpollWait(int(fd), w.events, 0)
			if waitErr != unix.EINTR {
				return n > 0 || waitErr != nil
			}
		}
	})
	if err == nil && waitErr != nil {
		err = os.NewSyscallError("epoll_wait", waitErr)
	}
	return n, err
}

// exitsChan is Exits: the first call starts forward, which feeds the
// channel from Next until the Watcher closes.
func (w *watcher) exitsChan() <-chan Exit {
	if w.file == nil {
		return closedExits() // a zero Watcher
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fed && !w.closed {
		w.fed = true
		w.wg.Add(1)
		go w.forward()
	}
	return w.exits
}

// forward delivers each exit that Next finds to w.exits, and closes it
// once the Watcher is closed; an exit taken but not received then is
// dropped, as Close drops the queue.
func (w *watcher) forward() {
	defer w.wg.Done()
	defer close(w.exits)
	for {
		x, err := w.next(context.Background())
		if err != nil {
			return // closed
		}
		select {
		case w.exits <- x:
		case <-w.closing:
			return
		}
	}
}

func (w *watcher) close() error {
	if w.file == nil {
		return os.ErrInvalid
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return os.ErrClosed
	}
	for e := range w.live {
		w.release(e)
	}
	w.closed = true
	close(w.closing)
	if !w.fed {
		close(w.exits) // no forward to close it
	}
	unix.Close(w.eventfd)
	w.mu.Unlock()
	err := w.file.Close() // wakes a parked Next; closes once it has left
	w.wg.Wait()
	return err
}
