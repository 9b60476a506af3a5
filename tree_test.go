//go:build linux

package pidfd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/procfs"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// treeKindEnv names the kind of Tree that the tests of a re-executed test
// binary make: "subreaper" (see TestTreeSubreaper), or by default cgroup.
const treeKindEnv = "PIDFD_TEST_TREE_KIND"

// treeLimited says that this re-executed test binary runs in a cgroup
// that may have no cgroups below it (cgroup.max.descendants 0), so that
// NewTree finds it cannot make one, as where cgroups are not delegated.
var treeLimited bool

func init() {
	if kind, limit, _ := strings.Cut(os.Getenv(treeKindEnv), ":"); kind == "subreaper" {
		// A subreaper Tree listens to SIGCHLD, and the first signal.Notify
		// of a process starts os/signal's relay goroutine, which lives as
		// long as the process: start it before leakcheck counts.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGCHLD)
		signal.Stop(c)
		if limit != "" {
			err := os.WriteFile(filepath.Join(limit, "cgroup.procs"), []byte("0"), 0)
			treeLimited = err == nil
			if err != nil {
				fmt.Fprintln(os.Stderr, "tree tests: cannot enter the limited cgroup:", err)
			}
		}
	}
	// Inside a vmtest VM, nothing may have mounted cgroup2: mount it at a
	// directory of our own before the package looks for it (it learns the
	// mount once per process).
	if !inVM() {
		return
	}
	if mountinfo, err := os.ReadFile("/proc/self/mountinfo"); err != nil {
		return
	} else if _, ok := procfs.Cgroup2Mount(mountinfo); ok {
		return
	}
	dir, err := os.MkdirTemp("", "cgroup2-")
	if err == nil {
		err = unix.Mount("cgroup2", dir, "cgroup2", 0, "")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tree tests: no cgroup2:", err)
	}
}

// newTestTree makes a Tree of the kind this process's tests make: the
// cgroup kind in the test process itself, since the subreaper kind would
// change the whole process for the tests that follow; in a re-executed
// test binary, the kind treeKindEnv names. In a limited cgroup NewTree
// chooses for itself, and must find that it cannot make a cgroup. It skips
// where a cgroup cannot be had, and closes the Tree at cleanup.
func newTestTree(t *testing.T) *Tree {
	t.Helper()
	kind := TreeCgroup
	if strings.HasPrefix(os.Getenv(treeKindEnv), "subreaper") {
		kind = TreeSubreaper
	}
	if !treeLimited {
		saved := treeKinds
		treeKinds = []TreeKind{kind}
		defer func() { treeKinds = saved }()
	}
	tr, err := NewTree()
	switch {
	case err != nil && kind == TreeCgroup:
		t.Skipf("no cgroup of our own here (a writable cgroup2 hierarchy: root, or a delegated cgroup): %v", err)
	case err != nil:
		t.Fatal(err)
	case tr.Kind() != kind:
		t.Fatalf("NewTree made a %v tree; want %v", tr.Kind(), kind)
	}
	if treeLimited && !strings.Contains(tr.String(), "mkdir") {
		t.Errorf("a tree in a cgroup that may have none below: %v; want the failed mkdir", tr)
	}
	t.Cleanup(func() { tr.Close() })
	t.Logf("tree: %v", tr)
	return tr
}

// ownCgroup returns the directory of this process's cgroup.
func ownCgroup(t *testing.T) string {
	t.Helper()
	root, err := cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own, ok := procfs.CgroupV2Path(self)
	if !ok {
		t.Fatalf("/proc/self/cgroup: %q", self)
	}
	return filepath.Join(root, own)
}

// startDaemon starts the testchild.Daemon role in tr with args, and returns
// the command's PidFd and the daemon's PID, which it read from the
// daemon's output.
func startDaemon(t *testing.T, tr *Tree, args ...string) (p *PidFd, cmd *exec.Cmd, daemon int) {
	t.Helper()
	cmd = testchild.Command(testchild.Daemon, args...)
	if tr.Kind() == TreeCgroup && !cloneIntoCgroupHere() {
		// The documented window of a Tree without CLONE_INTO_CGROUP: the
		// child is moved right after its start, and its own children
		// must come after that for the test to be about the Tree.
		cmd.Env = append(cmd.Env, testchild.DaemonAfterMoveEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err = tr.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
		p.Close()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, scanErr := fmt.Sscanf(line, "daemon %d\n", &daemon); err != nil || scanErr != nil {
		t.Fatalf("the daemon said %q, %v", line, err)
	}
	return p, cmd, daemon
}

// procStat returns the parent, the state and the start time of a process
// from /proc/PID/stat, and false if there is no such process.
func procStat(pid int) (ppid int, state string, start uint64, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", 0, false
	}
	fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	ppid, _ = strconv.Atoi(string(fields[1]))
	start, _ = procfs.StatStartTime(stat)
	return ppid, string(fields[0]), start, true
}

// TestTreeDaemon is the case trees are for: a command that leaves behind
// a daemon that called setsid, was forked twice (its parent exited at
// once) and ignores SIGTERM, where no signal to the command or its group
// reaches it. Terminate must end the whole tree within the grace period
// and a second, by SIGKILL once the grace period is over; no zombie of
// ours, no descriptor and no goroutine may be left, and Close must remove
// the cgroup. The test holds no pidfd of the daemon: for the subreaper
// kind, one would make it the caller's (see NewTree).
func TestTreeDaemon(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	p, _, daemon := startDaemon(t, tr, "3", "deaf")
	if s, err := p.Wait(); err != nil || s.ExitCode() != 3 {
		t.Fatalf("the command: %v, %v; want exit status 3", s, err)
	}
	ppid, state, start, ok := procStat(daemon)
	if !ok || ppid == os.Getpid() && tr.Kind() == TreeCgroup || state == "Z" {
		t.Fatalf("the daemon (PID %d): parent %d, state %q, found %v; want it running, orphaned", daemon, ppid, state, ok)
	}
	if os.Getenv(oldKernelEnv) == "clone3-enosys" && cloneIntoCgroup.state.Load() != capMissing {
		t.Errorf("clone3 is denied, and the package did not learn that CLONE_INTO_CGROUP is missing")
	}
	const grace = time.Second
	begin := time.Now()
	err := tr.Terminate(context.Background(), grace)
	took := time.Since(begin)
	t.Logf("a %v tree whose daemon ignores SIGTERM ended in %v, with a grace period of %v", tr.Kind(), took, grace)
	if tr.Kind() == TreeCgroup {
		t.Logf("cgroup.kill: %v; CLONE_INTO_CGROUP: %v", tr.hasKill, cloneIntoCgroup.state.Load() == capPresent)
	}
	if err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if took < grace || took > grace+endSlack() {
		t.Errorf("Terminate took %v; want the grace period of %v and less than a second more", took, grace)
	}
	// The daemon has exited. For the cgroup kind its parent is init, whose
	// business its reaping is; for the subreaper kind it was ours, and
	// reaped already (leakcheck finds no child of ours).
	if _, state, again, ok := procStat(daemon); ok && again == start && (state != "Z" || tr.Kind() == TreeSubreaper) {
		t.Errorf("the daemon (PID %d) is in state %s after Terminate", daemon, state)
	}
	dir := tr.Cgroup()
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if dir != "" {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the cgroup %s is still there after Close: %v", dir, err)
		}
	}
}

// TestTreeWait checks that Wait waits for every process of the tree, not
// just the one it started: a shell that exits at once, leaving an orphaned
// sleep behind; and that it gives up when its context is done.
func TestTreeWait(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	var nilCtx context.Context // Wait takes nil as Background, as WaitContext does
	if err := tr.Wait(nilCtx); err != nil {
		t.Fatalf("Wait on a tree that started nothing: %v", err)
	}
	begin := time.Now()
	cmd := exec.Command("sh", "-c", "(sleep 0.5 &); exit 4")
	p, err := tr.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if s, err := p.Wait(); err != nil || s.ExitCode() != 4 {
		t.Fatalf("the shell: %v, %v; want exit status 4", s, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := tr.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while the orphaned sleep runs: %v; want the context's deadline", err)
	}
	if err := tr.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if took := time.Since(begin); took < 400*time.Millisecond {
		t.Errorf("Wait returned %v after the start, before the orphaned sleep (0.5 s) could end", took)
	}
}

// TestTreeSignal checks that Signal reaches the command and its daemon,
// in a session of its own and orphaned, and that Kill ends what ignores
// it; each is a member the kernel must find.
func TestTreeSignal(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	p, _, _ := startDaemon(t, tr, "sleep")
	if err := tr.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Wait(ctx); err != nil {
		t.Fatalf("Wait after SIGTERM to the tree: %v", err)
	}
	if s, err := p.Wait(); err != nil || s.Signal() != syscall.SIGTERM {
		t.Errorf("the command: %v, %v; want killed by SIGTERM", s, err)
	}

	q, _, _ := startDaemon(t, tr, "sleep", "deaf")
	if err := tr.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := tr.Wait(ctx); err != nil {
		t.Fatalf("Wait after Kill: %v", err)
	}
	if s, err := q.Wait(); err != nil || s.Signal() != syscall.SIGKILL {
		t.Errorf("the command: %v, %v; want killed by SIGKILL", s, err)
	}
}

// TestTreeSparesOthers checks that a Tree touches only its own: children
// this process started outside it, through os/exec and through
// StartProcess, outlive its Terminate and Close, and are reaped by their
// owners, not by the tree (for the subreaper kind, they are this process's
// children among the orphans it adopts).
func TestTreeSparesOthers(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	_, byExec := startChild(t, testchild.Sleep)
	byStart, err := StartProcess(os.Args[0], []string{os.Args[0]}, &os.ProcAttr{Env: testchild.Command(testchild.Sleep).Env})
	if err != nil {
		t.Fatal(err)
	}
	defer byStart.Close()
	startDaemon(t, tr, "0", "deaf")
	if err := tr.Terminate(context.Background(), 100*time.Millisecond); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, p := range map[string]*PidFd{"os/exec": byExec, "StartProcess": byStart} {
		if err := p.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("the child started by %s outside the tree: %v", name, err)
		}
		if s, err := p.TryWait(); s != nil || err != nil {
			t.Errorf("the child started by %s outside the tree: TryWait = %v, %v; want it running", name, s, err)
		}
		p.Kill()
		if s, err := p.Wait(); err != nil || s.Signal() != syscall.SIGKILL {
			t.Errorf("the child started by %s outside the tree: %v, %v; want its own SIGKILL, reaped by its owner", name, s, err)
		}
	}
}

// TestTreeBadInput checks what a Tree does with what it cannot use: a nil
// Tree, nil commands and signals, a command that asks for a cgroup of its
// own, and every method after Close. Nothing may panic.
func TestTreeBadInput(t *testing.T) {
	leakcheck.Check(t)
	var none *Tree
	for name, err := range map[string]error{
		"Start":     second(none.Start(exec.Command("true"))),
		"Signal":    none.Signal(syscall.SIGTERM),
		"Kill":      none.Kill(),
		"Wait":      none.Wait(context.Background()),
		"Terminate": none.Terminate(context.Background(), 0),
		"Close":     none.Close(),
	} {
		if !errors.Is(err, os.ErrInvalid) {
			t.Errorf("%s on a nil Tree: %v; want os.ErrInvalid", name, err)
		}
	}
	if none.Kind() != 0 || none.Cgroup() != "" || none.String() != "<nil>" {
		t.Errorf("a nil Tree: %v, %q, %q", none.Kind(), none.Cgroup(), none.String())
	}
	tr := newTestTree(t)
	if _, err := tr.Start(nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("Start(nil): %v; want os.ErrInvalid", err)
	}
	for _, sig := range []os.Signal{nil, syscall.Signal(-1), fakeSignal{}} {
		if err := tr.Signal(sig); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Signal(%v): %v; want EINVAL", sig, err)
		}
	}
	if tr.Kind() == TreeCgroup {
		cmd := exec.Command("true")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: 0}
		if p, err := tr.Start(cmd); !errors.Is(err, os.ErrInvalid) {
			p.Close()
			t.Errorf("Start of a command with its own UseCgroupFD: %v; want os.ErrInvalid", err)
		}
		if p, err := tr.StartProcess("/bin/true", nil, &os.ProcAttr{Sys: cmd.SysProcAttr}); !errors.Is(err, os.ErrInvalid) {
			p.Close()
			t.Errorf("StartProcess with its own UseCgroupFD: %v; want os.ErrInvalid", err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, err := range map[string]error{
		"Start":        second(tr.Start(exec.Command("true"))),
		"StartProcess": second(tr.StartProcess("/bin/true", nil, nil)),
		"Signal":       tr.Signal(syscall.SIGTERM),
		"Kill":         tr.Kill(),
		"Wait":         tr.Wait(context.Background()),
		"Terminate":    tr.Terminate(context.Background(), time.Second),
		"Close":        tr.Close(),
	} {
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after Close: %v; want os.ErrClosed", name, err)
		}
	}
}

// TestTreeCloseWhileWaiting closes a Tree whose daemon ignores SIGTERM
// while another goroutine waits for it: Close kills the daemon and returns
// once the tree is empty, and the wait ends with it, either way it may.
func TestTreeCloseWhileWaiting(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	startDaemon(t, tr, "sleep", "deaf")
	waited := make(chan error, 1)
	go func() { waited <- tr.Wait(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // let it wait
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-waited:
		if err != nil && !errors.Is(err, os.ErrClosed) {
			t.Errorf("Wait across Close: %v; want nil or os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
}

// fakeSignal is an os.Signal that is not a syscall.Signal.
type fakeSignal struct{}

func (fakeSignal) String() string { return "fake" }
func (fakeSignal) Signal()        {}

func second[T any](_ T, err error) error { return err }

// TestTreeCgroupPlace checks where a cgroup Tree puts its cgroup: in the
// caller's own, under the cgroup2 mount /proc/self/mountinfo names, and
// that its children run in it. (The child reads its cgroup once told to,
// so that where clone3 cannot start it in the cgroup, the move after the
// start has happened: see TestTreeWithoutCloneIntoCgroup.)
func TestTreeCgroupPlace(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	if tr.Kind() != TreeCgroup {
		t.Skip("a subreaper Tree has no cgroup")
	}
	root, err := cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(ownCgroup(t), fmt.Sprintf("pidfd-%d-", os.Getpid()))
	if dir := tr.Cgroup(); filepath.Dir(dir) != filepath.Dir(want) || len(dir) <= len(want) || dir[:len(want)] != want {
		t.Errorf("the cgroup is %s; want %sN", dir, want)
	}
	if tr.String() != "cgroup "+tr.Cgroup() {
		t.Errorf("String() = %q", tr.String())
	}
	cmd := exec.Command("sh", "-c", "read line; cat /proc/self/cgroup")
	var out bytes.Buffer
	cmd.Stdout = &out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in.Write([]byte("go\n"))
	in.Close()
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got, _ := procfs.CgroupV2Path(out.Bytes()); filepath.Join(root, got) != tr.Cgroup() {
		t.Errorf("the child ran in %s; want %s", got, tr.Cgroup())
	}
}

// TestTreeSubreaper runs the tree tests again with Trees of the subreaper
// kind, in a re-executed test binary, since a subreaper is a setting of
// the whole process: there, the orphans of the daemon's command come back
// to the test process, the tree finds them, signals them and reaps them.
// Where this process can make cgroups, the binary runs in one that may
// have none below it, so that NewTree's own choice falls to the subreaper.
func TestTreeSubreaper(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(treeKindEnv) != "" {
		t.Skip("already running the subreaper kind")
	}
	kind := "subreaper"
	saved := treeKinds
	treeKinds = []TreeKind{TreeCgroup}
	probe, err := NewTree()
	treeKinds = saved
	if err == nil {
		probe.Close()
		limit := filepath.Join(ownCgroup(t), fmt.Sprintf("pidfd-test-limit-%d", os.Getpid()))
		if err := os.Mkdir(limit, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(limit)
		if err := os.WriteFile(filepath.Join(limit, "cgroup.max.descendants"), []byte("0"), 0); err != nil {
			t.Fatal(err)
		}
		kind += ":" + limit
	}
	t.Setenv(treeKindEnv, kind)
	runUnder(t, "none", "^TestTree(Daemon|Wait|Signal|SparesOthers|BadInput|CloseWhileWaiting|Reaps)$", "TestTreeDaemon")
}

// TestTreeReaps checks, for the subreaper kind, that the orphans the
// process adopts are reaped as they exit, without a wait: their command
// has exited and been reaped, and no Tree method is called while they
// end.
func TestTreeReaps(t *testing.T) {
	leakcheck.Check(t)
	if !strings.HasPrefix(os.Getenv(treeKindEnv), "subreaper") {
		t.Skip("the subreaper kind's (see TestTreeSubreaper)")
	}
	tr := newTestTree(t)
	p, err := tr.Start(exec.Command("sh", "-c", "(sleep 0.2 &); (sleep 0.2 &); exit 0"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids, err := leakcheck.Children()
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children left, zombies or not: %v", kids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTreeWithoutCloneIntoCgroup runs tree tests where clone3 fails
// (ENOSYS, as container runtimes' filters answer), as on kernels before
// 5.7: the child is moved into the cgroup after it starts. Only those
// whose child forks late: one that forks at once (TestTreeWait's shell)
// can leave the tree before the move, as the documentation says.
func TestTreeWithoutCloneIntoCgroup(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "clone3-enosys" || os.Getenv(treeKindEnv) != "" {
		t.Skip("already running under the clone3-enosys profile")
	}
	if err := newTestTree(t).Close(); err != nil {
		t.Fatal(err)
	}
	runUnder(t, "clone3-enosys", "^TestTree(Daemon|CgroupPlace)$", "TestTreeDaemon")
}

// TestTreeTerminateCancelled ends a Terminate by its context: the tree is
// killed at once, as PidFd.Terminate kills its process.
func TestTreeTerminateCancelled(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	p, _, _ := startDaemon(t, tr, "sleep", "deaf")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tr.Terminate(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Terminate with a context that ends: %v; want context.DeadlineExceeded", err)
	}
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelWait()
	// An hour's grace: only the kill can have emptied the tree (the
	// daemon ignores SIGTERM).
	if err := tr.Wait(waitCtx); err != nil {
		t.Fatalf("Wait after the cancelled Terminate: %v; want the tree killed", err)
	}
	if _, err := p.Wait(); err != nil {
		t.Errorf("the command: %v", err)
	}
}

// TestTreeRestartAfterKill starts a child in a Tree that was killed
// before, as a supervisor restarts a service in its Tree: the child must
// run, where some kernels (6.18) kill at birth a child cloned into a cgroup
// that cgroup.kill ever killed.
func TestTreeRestartAfterKill(t *testing.T) {
	leakcheck.Check(t)
	tr := newTestTree(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := range 3 {
		p, err := tr.Start(exec.Command("sh", "-c", "sleep 0.1; exit 4"))
		if err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		status, err := p.Wait()
		p.Close()
		if err != nil || status.ExitCode() != 4 {
			t.Errorf("round %d: the child ended with %v, %v; want exit status 4", round, status, err)
		}
		q, err := tr.Start(exec.Command("sleep", "3600"))
		if err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		if err := tr.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := tr.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		q.Wait()
		q.Close()
	}
}

// cloneIntoCgroupHere reports whether a Tree here starts its children in
// its cgroup with CLONE_INTO_CGROUP.
func cloneIntoCgroupHere() bool {
	into, err := cloneIntoCgroup.has()
	return err == nil && into
}
