//go:build linux

package pidfd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

// fillFdTable lowers RLIMIT_NOFILE and fills every free descriptor number
// below it but spare with duplicates, so that the process's next opens
// fail with EMFILE. The returned function gives everything back (cleanup
// calls it too, if the test did not).
func fillFdTable(t *testing.T, spare int) (free func()) {
	t.Helper()
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	low := saved
	low.Cur = min(saved.Cur, 256) // a small table fills fast
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		unix.Close(null)
		t.Fatal(err)
	}
	dups := []int{null}
	freed := false
	free = func() {
		if freed {
			return
		}
		freed = true
		for _, fd := range dups {
			unix.Close(fd)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(free)
	for {
		fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			free()
			t.Fatal(err)
		}
		dups = append(dups, fd)
	}
	if len(dups) <= spare {
		free()
		t.Fatalf("only %d descriptors below the limit of %d were free", len(dups), low.Cur)
	}
	for range spare {
		unix.Close(dups[len(dups)-1])
		dups = dups[:len(dups)-1]
	}
	return free
}

// cachedRole prints what the package learns once per process, so that a
// test can compare its own process's answers with a fresh one's.
const cachedRole = "cached"

func printCached([]string) int {
	fmt.Print(describeCached())
	return 0
}

// allCapabilities are every capability the package learns from the kernel.
var allCapabilities = []*capability{&nonblockOpen, &setnsPidFd, &peerPidFd, &pidfsIDs, &threadPidFds,
	&namespaceIoctls, &getInfo, &exitInfo, &coredumpInfo, &autoKill}

// describeCached calls everything the package learns once per process.
func describeCached() string {
	var b strings.Builder
	f, err := kernelFeatures()
	fmt.Fprintf(&b, "features %+v %v\n", f, err)
	if public := KernelFeatures(); public != f {
		fmt.Fprintf(&b, "KernelFeatures %+v\n", public)
	}
	boot, err := bootID()
	fmt.Fprintf(&b, "boot %x %v\n", boot, err)
	fmt.Fprintf(&b, "proc ours %v\n", procIsOurs())
	root, err := cgroup2Root()
	fmt.Fprintf(&b, "cgroup2 %q %v\n", root, err)
	for _, c := range allCapabilities {
		has, err := c.has()
		fmt.Fprintf(&b, "%s %v %v\n", c.name, has, err)
	}
	return b.String()
}

// TestTransientFailuresNotCached runs TestOutOfDescriptorsFirst in fresh
// processes, with the kernel as it is and as Linux 6.1 (the /proc
// fallbacks), so that the first call of everything the package learns once
// per process fails for want of descriptors.
func TestTransientFailuresNotCached(t *testing.T) {
	leakcheck.Check(t)
	runUnderEach(t, []string{"none", "6.1"}, "^TestOutOfDescriptorsFirst$", "TestOutOfDescriptorsFirst")
}

// TestOutOfDescriptorsFirst makes the first queries of a fresh process
// while its descriptor table is full: each must fail with EMFILE or answer
// right, and once descriptors are free again each must answer right, as a
// fresh process does.
func TestOutOfDescriptorsFirst(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		t.Skip("runs only inside TestTransientFailuresNotCached, in a fresh process")
	}
	cmd, p := startChild(t, testchild.Sleep)
	pid := cmd.Process.Pid
	fresh, err := testchild.Command(cachedRole).Output()
	if err != nil {
		t.Fatalf("a fresh process: %v", err)
	}

	// Each query answers something comparable, or an error.
	type query struct {
		name string
		ask  func() (any, error)
	}
	var id Identity
	queries := []query{
		{"Identity", func() (any, error) {
			got, err := p.Identity()
			if err == nil {
				id = got
			}
			return got.PID, err
		}},
		{"OpenIdentity", func() (any, error) {
			q, err := OpenIdentity(Identity{Boot: id.Boot, PID: pid, StartTime: id.StartTime, ID: id.ID})
			if err != nil {
				return nil, err
			}
			defer q.Close()
			return q.Equal(p), nil
		}},
		{"WithProcDir", func() (any, error) {
			var stat []byte
			err := p.WithProcDir(func(dir *os.Root) (err error) {
				stat, err = dir.ReadFile("stat")
				return err
			})
			first, _, _ := bytes.Cut(stat, []byte(" "))
			return string(first), err
		}},
		{"PID", func() (any, error) { return p.PID() }},
		{"PPID", func() (any, error) { return p.PPID() }},
		{"Creds", func() (any, error) { return p.Creds() }},
		{"CgroupID", func() (any, error) {
			got, err := p.CgroupID()
			if err == nil && !kernelIs64Bit() || errors.Is(err, errors.ErrUnsupported) {
				return nil, nil // no cgroup2, or the inode number below is not the ID
			}
			return got, err
		}},
		{"OpenNamespace", func() (any, error) {
			f, err := p.OpenNamespace(NamespaceUTS)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				return nil, err
			}
			return st.Ino, nil
		}},
		{"cgroup2Root", func() (any, error) { return cgroup2Root() }},
	}
	type answer struct {
		value any
		err   error
	}
	starved := make([]answer, len(queries))
	free := fillFdTable(t, 0)
	for i, q := range queries {
		starved[i].value, starved[i].err = q.ask()
	}
	// What the package learns once per process, asked first out of
	// descriptors: none can know.
	_, featuresErr := kernelFeatures()
	_, bootErr := bootID()
	_, setnsErr := setnsPidFd.has()
	oursErr := procIsOurs()
	starvedCached := describeCached()
	free()
	for name, err := range map[string]error{"kernelFeatures": featuresErr, "bootID": bootErr,
		"procIsOurs": oursErr, "setnsPidFd": setnsErr} {
		if !errors.Is(err, syscall.EMFILE) {
			t.Errorf("%s out of descriptors: %v; want EMFILE", name, err)
		}
	}

	// What a process with descriptors sees, learned by other means.
	wantPPID, wantCreds := procStatus(t, pid)
	var nsStat unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/uts", &nsStat); err != nil {
		t.Fatal(err)
	}
	wantRoot, wantRootErr := "", error(nil)
	if i := bytes.Index(fresh, []byte("cgroup2 ")); i >= 0 {
		line, _, _ := bytes.Cut(fresh[i:], []byte("\n"))
		root, errText, _ := strings.Cut(string(line[len("cgroup2 "):]), " ")
		wantRoot, _ = strconv.Unquote(root)
		if errText != "<nil>" {
			wantRootErr = errors.New(errText)
		}
	}
	want := map[string]any{
		"Identity":      pid,
		"OpenIdentity":  true,
		"WithProcDir":   strconv.Itoa(pid),
		"PID":           pid,
		"PPID":          wantPPID,
		"Creds":         wantCreds,
		"CgroupID":      any(nil),
		"OpenNamespace": nsStat.Ino,
		"cgroup2Root":   wantRoot,
	}
	if kernelIs64Bit() && wantRootErr == nil {
		// The inode of the cgroup directory under the root a fresh
		// process found.
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if path, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
				var st unix.Stat_t
				if err := unix.Stat(wantRoot+path, &st); err != nil {
					t.Fatal(err)
				}
				want["CgroupID"] = st.Ino
			}
		}
	}
	for i, q := range queries {
		got := starved[i]
		if got.err != nil && !errors.Is(got.err, syscall.EMFILE) {
			t.Errorf("%s out of descriptors: %v; want EMFILE or the answer", q.name, got.err)
		} else if got.err == nil && got.value != want[q.name] {
			t.Errorf("%s out of descriptors = %v; want %v", q.name, got.value, want[q.name])
		}
		value, err := q.ask()
		switch {
		case q.name == "cgroup2Root" && wantRootErr != nil:
			if err == nil || err.Error() != wantRootErr.Error() {
				t.Errorf("cgroup2Root = %q, %v; a fresh process says %v", value, err, wantRootErr)
			}
		case err != nil || value != want[q.name]:
			t.Errorf("%s with descriptors free = %v, %v; want %v", q.name, value, err, want[q.name])
		}
	}
	_, featuresErr = kernelFeatures()
	_, bootErr = bootID()
	_, setnsErr = setnsPidFd.has()
	for name, err := range map[string]error{"kernelFeatures": featuresErr, "bootID": bootErr,
		"procIsOurs": procIsOurs(), "setnsPidFd": setnsErr} {
		if err != nil {
			t.Errorf("%s with descriptors free: %v", name, err)
		}
	}
	if got := describeCached(); got != string(fresh) {
		t.Errorf("after running out of descriptors the process has learned\n%s\na fresh process\n%s", got, fresh)
	}
	t.Logf("what the package could say out of descriptors:\n%s", starvedCached)
}

// TestNewFileOutOfDescriptors adopts pidfds while the descriptor table is
// full, so that where the PID comes from /proc/self/fdinfo (before 6.13, or
// under the 6.1 filter) it cannot be read: NewFile and FromUnixConn must
// fail with EMFILE, or answer for the right process once descriptors are
// free again, never keep a PID they did not learn.
func TestNewFileOutOfDescriptors(t *testing.T) {
	leakcheck.Check(t)
	cmd, child := startChild(t, testchild.Sleep)
	pid := cmd.Process.Pid
	// A /proc read before the table fills, so that what runs short below
	// is the PID lookup itself.
	if _, err := child.PPID(); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, p *PidFd, pid int) {
		t.Helper()
		wantPPID, wantCreds := procStatus(t, pid)
		if got, err := p.PID(); err != nil || got != pid {
			t.Errorf("PID = %d, %v; want %d", got, err, pid)
		}
		if got, err := p.PPID(); err != nil || got != wantPPID {
			t.Errorf("PPID = %d, %v; want %d", got, err, wantPPID)
		}
		if got, err := p.Creds(); err != nil || got != wantCreds {
			t.Errorf("Creds = %+v, %v; want %+v", got, err, wantCreds)
		}
		if id, err := p.Identity(); err != nil || id.PID != pid {
			t.Errorf("Identity = %+v, %v; want PID %d", id, err, pid)
		}
	}

	t.Run("NewFile", func(t *testing.T) {
		fd, err := unix.PidfdOpen(pid, 0) // our unreaped child: no race
		if err != nil {
			t.Fatal(err)
		}
		free := fillFdTable(t, 0)
		p, err := NewFile(uintptr(fd))
		free()
		t.Logf("NewFile out of descriptors: %v", err)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				unix.Close(fd)
				t.Fatalf("NewFile out of descriptors: %v; want EMFILE or a PidFd", err)
			}
			// The descriptor is still the caller's, as it was.
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err != nil || flags&unix.O_NONBLOCK != 0 {
				t.Errorf("after a failed NewFile the descriptor's flags are %#x, %v; want it open and blocking", flags, err)
			}
			if p, err = NewFile(uintptr(fd)); err != nil {
				unix.Close(fd)
				t.Fatalf("NewFile with descriptors free: %v", err)
			}
		}
		defer p.Close()
		check(t, p, pid)
	})

	t.Run("FromUnixConn", func(t *testing.T) {
		if !KernelFeatures().PeerPidFd {
			t.Skip("needs SO_PEERPIDFD (Linux 6.5)")
		}
		a, _ := unixPair(t, unix.SOCK_STREAM)
		// One free number: for the peer's pidfd, none for reading /proc.
		free := fillFdTable(t, 1)
		p, err := FromUnixConn(a)
		free()
		t.Logf("FromUnixConn out of descriptors: %v", err)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("FromUnixConn out of descriptors: %v; want EMFILE or a PidFd", err)
			}
			if p, err = FromUnixConn(a); err != nil {
				t.Fatalf("FromUnixConn with descriptors free: %v", err)
			}
		}
		defer p.Close()
		check(t, p, os.Getpid())
	})
}

// TestWaitOutOfDescriptors runs TestWaitOutOfDescriptorsFirst in fresh
// processes, with the kernel as it is and as Linux 5.10 (no record of
// exits), so that the first wait that needs to know whether the kernel
// records exits runs while the process is out of descriptors.
func TestWaitOutOfDescriptors(t *testing.T) {
	leakcheck.Check(t)
	runUnderEach(t, []string{"none", "5.10"}, "^TestWaitOutOfDescriptorsFirst$", "TestWaitOutOfDescriptorsFirst")
}

// TestWaitOutOfDescriptorsFirst waits for a process that is not its child
// and has exited, unreaped, while the descriptor table is full: nothing may
// be delivered as final then (the kernel cannot be asked what it keeps),
// and once descriptors are free the exit arrives as a fresh process sees it.
func TestWaitOutOfDescriptorsFirst(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) == "" {
		t.Skip("runs only inside TestWaitOutOfDescriptors, in a fresh process")
	}
	pid, reap := startLateReaper(t)
	p, err := Open(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w := newWatcherT(t)
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, p) // exited; its parent has not reaped it

	free := fillFdTable(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	x, nextErr := w.Next(ctx)
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	status, waitErr := p.WaitContext(ctx)
	cancel()
	tried, tryErr := p.TryWait()
	free()
	if !errors.Is(nextErr, context.DeadlineExceeded) {
		t.Errorf("Next out of descriptors = %v, %v, %v; want nothing delivered until it can tell", x.Status, x.Err, nextErr)
	}
	if !errors.Is(waitErr, context.DeadlineExceeded) {
		t.Errorf("WaitContext out of descriptors = %v, %v; want it to go on waiting", status, waitErr)
	}
	if tried != nil || tryErr != nil {
		t.Errorf("TryWait out of descriptors = %v, %v; want nil, nil", tried, tryErr)
	}

	exitInfo := KernelFeatures().ExitInfo
	if exitInfo {
		reap() // the kernel records the exit at the reaping
	}
	checkGrandchild(t, nextT(t, w), "exit status 7", exitInfo)
	if !exitInfo {
		reap()
	}
}
