// Command vmtest runs the package's tests inside a virtual machine booting a
// real Debian kernel, so that old kernels, and 32-bit programs, are tested
// for real:
//
//	go run ./internal/vmtest -kernel 6.1 [-arch 386|arm64] [-- test binary flags]
//
// It builds the test binary statically, packs it with a small init
// (./internal/vmtest/vminit) and busybox (for sh and sleep) into an
// initramfs, boots it with qemu-system-x86_64 (or, for arm64, with
// qemu-system-aarch64 emulating a whole arm64 machine), streams the serial
// console, and exits with the test binary's status. A machine that stops
// or hangs before init starts is booted once more (see bootAttempts).
//
// With -exec DIR it runs programs instead of a package's tests: every file
// in DIR, static binaries such as the kernel's selftests built with
// "gcc -static", goes into the initramfs under /x, and the arguments after
// -- name the ones to run, one after the other, in /x; the exit status is
// the number that failed:
//
//	go run ./internal/vmtest -kernel 7.3 -exec /tmp/kst -- pidfd_test clone3
//
// With -selftests those programs are the kernel's own selftests of the
// calls the package makes, built from Debian's linux-source package of the
// kernel booted (see kernelSelftests).
//
// It needs qemu-system-x86 (qemu-system-arm for arm64) and busybox-static
// from Debian, and fetches the kernel package with apt-get into
// .cache/kernels (see .ci/run): 6.1 and 6.12 from the machine's own apt
// sources (bookworm), 5.10 and 7.3 from bullseye and trixie-backports through
// a private apt list and state under .cache/apt, on the mirror the machine's
// sources name. The arm64 kernel and busybox come through such a private list
// too, for the arm64 architecture. The machine's apt configuration is never
// changed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A kernel is a Debian package (or a metapackage naming it) in a suite.
type kernelSource struct {
	suite string // "" for the machine's own apt sources
	pkg   string
}

// kernels maps a kernel version to where Debian ships it; ARCH stands for
// the Debian architecture.
var kernels = map[string]kernelSource{
	"5.10": {"bullseye", "linux-image-cloud-ARCH"},
	"6.1":  {"", "linux-image-cloud-ARCH"},
	"6.12": {"", "linux-image-6.12-cloud-ARCH"},
	"7.3":  {"trixie-backports", "linux-image-cloud-ARCH"},
}

// A machine is what qemu emulates for a GOARCH.
type machine struct {
	debArch  string // the Debian architecture of its kernel and busybox
	goArch   string // of its init
	qemu     string
	qemuPkg  string
	args     []string
	console  string
	nativeOK bool // the host's own busybox and hardware acceleration serve it
}

var machines = map[string]machine{
	"amd64": {"amd64", "amd64", "qemu-system-x86_64", "qemu-system-x86", []string{"-cpu", "max", "-M", "q35"}, "ttyS0", true},
	// A 32-bit program on the 64-bit kernel, as the kernel's compat layer
	// runs it.
	"386":   {"amd64", "amd64", "qemu-system-x86_64", "qemu-system-x86", []string{"-cpu", "max", "-M", "q35"}, "ttyS0", true},
	"arm64": {"arm64", "arm64", "qemu-system-aarch64", "qemu-system-arm", []string{"-cpu", "max", "-M", "virt"}, "ttyAMA0", false},
}

const kernelList = "5.10, 6.1, 6.12, 7.3"

// As vminit prints them.
const (
	exitMarker  = "VMTEST-EXIT:"
	startMarker = "VMTEST-START"
)

// bootAttempts bounds the boots of one run. Under TCG a Debian kernel
// sometimes dies during boot (seen: an int3 oops in sched_clock_cpu while the
// kernel patches its own code, before init runs; and on 6.12.118 under
// -cpu max an int3 oops before the tests started, the next boot fine); that
// says nothing about the tests, so a machine that stops, or hangs, before
// init prints its start marker is booted once more. A machine that printed
// it and then stopped is never booted again: the tests had started, and
// their failure is a failure.
const bootAttempts = 2

func main() {
	kernel := flag.String("kernel", "6.1", "kernel version to boot: "+kernelList)
	arch := flag.String("arch", "amd64", "GOARCH of the test binary: amd64, 386 or arm64")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	startTimeout := flag.Duration("start-timeout", 5*time.Minute, "boot again if init has not started within this long")
	pkgDir := flag.String("pkg", ".", "package whose tests to run")
	selftests := flag.Bool("selftests", false, "run the kernel's own selftests of the calls the package makes, built from Debian's linux-source of that kernel (amd64 only)")
	execDir := flag.String("exec", "", "run the programs of this directory named after -- (static binaries), not a package's tests")
	flag.IntVar(&memoryMB, "mem", memoryMB, "the machine's memory in MB (10,000 sleeping children need about 2048)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./internal/vmtest [-kernel 5.10|6.1|6.12|7.3] [-arch amd64|386|arm64] [-pkg DIR | -exec DIR | -selftests] [-mem MB] [-timeout D] [-start-timeout D] [-- test flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	memorySet := false
	flag.Visit(func(f *flag.Flag) { memorySet = memorySet || f.Name == "mem" })
	if *selftests && !memorySet {
		// The coredump tests crash a process of 128 threads, whose core,
		// some 1 GB, a helper writes into a tmpfs (half the memory).
		memoryMB = selftestMemoryMB
	}
	testArgs := flag.Args()
	switch {
	case len(testArgs) > 0:
	case *selftests:
		testArgs = selftestPrograms()
	default:
		testArgs = []string{"-test.v"}
	}
	if *execDir != "" && *selftests {
		fmt.Fprintln(os.Stderr, "vmtest: -exec and -selftests each name the programs to run: give one")
		os.Exit(2)
	}
	if *execDir != "" && len(flag.Args()) == 0 {
		fmt.Fprintln(os.Stderr, "vmtest: -exec needs the names of the programs to run, after --")
		os.Exit(2)
	}
	code, err := run(*kernel, *arch, *pkgDir, *execDir, *selftests, *timeout, *startTimeout, testArgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		os.Exit(125)
	}
	os.Exit(code)
}

func run(kernel, arch, pkgDir, execDir string, selftests bool, timeout, startTimeout time.Duration, testArgs []string) (int, error) {
	src, ok := kernels[kernel]
	if !ok {
		return 0, fmt.Errorf("unknown kernel %q (have %s)", kernel, kernelList)
	}
	m, ok := machines[arch]
	if !ok {
		return 0, fmt.Errorf("unknown arch %q (have amd64, 386, arm64)", arch)
	}
	src.pkg = strings.ReplaceAll(src.pkg, "ARCH", m.debArch)
	qemu, err := exec.LookPath(m.qemu)
	if err != nil {
		return 0, fmt.Errorf("%w (apt-get install --no-install-recommends %s)", err, m.qemuPkg)
	}
	if selftests {
		if arch != "amd64" {
			return 0, errors.New("-selftests builds with this machine's gcc, for amd64 only")
		}
		if kernel != selftestKernel {
			return 0, fmt.Errorf("-selftests lists the selftests of Linux %s; older sources lack some of them", selftestKernel)
		}
		if execDir, err = buildSelftests(kernel, src); err != nil {
			return 0, err
		}
	}
	busybox, err := fetchBusybox(m)
	if err != nil {
		return 0, err
	}
	vmlinuz, err := fetchKernel(kernel, m.debArch, src)
	if err != nil {
		return 0, err
	}
	work, err := os.MkdirTemp("", "vmtest")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)

	testBin := filepath.Join(work, "pidfd.test")
	initBin := filepath.Join(work, "init")
	var programs map[string][]byte
	if execDir != "" {
		if programs, err = readPrograms(execDir); err != nil {
			return 0, err
		}
		if err := os.WriteFile(testBin, []byte(programRunner), 0o755); err != nil {
			return 0, err
		}
	} else if err := goTool(arch, "test", "-c", "-o", testBin, pkgDir); err != nil {
		return 0, err
	}
	if err := goTool(m.goArch, "build", "-o", initBin, "./internal/vmtest/vminit"); err != nil {
		return 0, err
	}
	initrd := filepath.Join(work, "initrd.cpio")
	if err := writeInitramfs(initrd, initBin, testBin, busybox, testArgs, programs); err != nil {
		return 0, err
	}

	accel := "tcg"
	if m.nativeOK && kvmUsable() {
		accel = "kvm"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	what := "a " + arch + " test binary"
	if execDir != "" {
		what = "programs from " + execDir
	}
	fmt.Printf("vmtest: booting Linux %s (%s) with %s under %s: %s\n",
		kernel, filepath.Base(vmlinuz), what, accel, strings.Join(testArgs, " "))
	code, err := bootUntilStarted(ctx, startTimeout, os.Stdout, "Linux "+kernel,
		func(ctx context.Context, started func()) (int, error) {
			return boot(ctx, qemu, m, accel, vmlinuz, initrd, started)
		})
	if ctx.Err() != nil {
		return 0, fmt.Errorf("no result from Linux %s within %v", kernel, timeout)
	}
	if err != nil {
		return 0, fmt.Errorf("booting Linux %s: %w", kernel, err)
	}
	fmt.Printf("vmtest: Linux %s, %s: test binary exited %d\n", kernel, arch, code)
	return code, nil
}

// A bootFunc runs one machine to its end. It calls started when init
// prints its start marker, and returns the test binary's exit code, or an
// error if the machine stopped without one. It stops the machine when ctx
// is done.
type bootFunc func(ctx context.Context, started func()) (code int, err error)

// bootUntilStarted boots a machine, and boots it once more (bootAttempts)
// if the first stopped before init started, or had not started it within
// startTimeout, saying so on log. A machine that started init is never
// booted again, whatever became of it.
func bootUntilStarted(ctx context.Context, startTimeout time.Duration, log io.Writer, name string, boot bootFunc) (int, error) {
	for attempt := 1; ; attempt++ {
		code, started, err := bootOnce(ctx, startTimeout, boot)
		if err == nil || started || ctx.Err() != nil || attempt == bootAttempts {
			return code, err
		}
		fmt.Fprintf(log, "vmtest: %s did not start the tests: %v; retrying: booting it once more (boot %d of %d)\n",
			name, err, attempt+1, bootAttempts)
	}
}

// bootOnce runs boot once, stopping the machine if init has not started
// within startTimeout, and reports whether init started.
func bootOnce(ctx context.Context, startTimeout time.Duration, boot bootFunc) (code int, started bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex // guards started and timedOut: one of them wins
	timedOut := false
	timer := time.AfterFunc(startTimeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			timedOut = true
			cancel()
		}
	})
	defer timer.Stop()
	code, err = boot(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !timedOut {
			started = true
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if timedOut {
		return 0, false, fmt.Errorf("init had not started within %v (-start-timeout)", startTimeout)
	}
	return code, started, err
}

// memoryMB is the machine's memory (-mem); selftestMemoryMB under
// -selftests, unless -mem is given.
var memoryMB = 1024

const selftestMemoryMB = 3072

// boot runs one machine to its end, streaming its console; see bootFunc.
func boot(ctx context.Context, qemu string, m machine, accel, vmlinuz, initrd string, started func()) (code int, err error) {
	args := append([]string{"-accel", accel}, m.args...)
	args = append(args, "-m", strconv.Itoa(memoryMB), "-smp", "2",
		"-no-reboot", "-nographic", "-monitor", "none", "-serial", "stdio",
		"-kernel", vmlinuz, "-initrd", initrd,
		"-append", "console="+m.console+" quiet panic=-1 random.trust_cpu=on")
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdin = nil
	console, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { fmt.Printf("vmtest: the machine ran for %v\n", time.Since(start).Round(time.Second)) }()
	code = -1
	lines := bufio.NewScanner(console)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		line := strings.ReplaceAll(lines.Text(), "\r", "")
		fmt.Println(line)
		// Either marker, anywhere in a line, means init ran: console noise
		// in front of one must not make a run whose tests started look like
		// a failed boot, to be booted again.
		if strings.Contains(line, startMarker) || strings.Contains(line, exitMarker) {
			started()
		}
		if rest, ok := strings.CutPrefix(line, exitMarker); ok {
			code, _ = strconv.Atoi(strings.TrimSpace(rest))
		}
	}
	io.Copy(io.Discard, console)
	waitErr := cmd.Wait()
	if code < 0 {
		return 0, fmt.Errorf("the machine stopped without a result (%v)", waitErr)
	}
	return code, nil
}

func goTool(arch string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// kvmUsable reports whether hardware virtualisation can boot a stock
// kernel here. A /dev/kvm without kvm_intel or kvm_amd loaded (as under some
// nested hypervisors) cannot.
func kvmUsable() bool {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false
	}
	for _, module := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + module); err == nil {
			return true
		}
	}
	return false
}

// programRunner is /pidfd.test under -exec: it runs the programs its
// arguments name from x beside it (/x), in x, and exits with the number that
// failed. An argument may hold a program's options after its name,
// separated by spaces.
const programRunner = `#!/bin/sh
cd "${0%/*}/x" || exit 125
failed=0
for program in "$@"; do
	echo "vmtest: running $program"
	./$program
	status=$?
	echo "vmtest: $program exited $status"
	[ "$status" -eq 0 ] || failed=$((failed + 1))
done
echo "vmtest: $failed of $# programs failed"
exit "$failed"
`

// readPrograms reads the regular files of dir, for /x.
func readPrograms(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	programs := make(map[string][]byte)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		programs[e.Name()] = data
	}
	return programs, nil
}

// writeInitramfs packs init, the test binary (or programRunner), busybox,
// the arguments and the programs of -exec, if any, under /x.
func writeInitramfs(path, initBin, testBin, busybox string, testArgs []string, programs map[string][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := newCpio(f)
	w.dir("bin")
	if programs != nil {
		w.dir("x")
		for _, name := range slices.Sorted(maps.Keys(programs)) {
			w.file("x/"+name, 0o755, programs[name])
		}
	}
	for _, file := range []struct{ name, from string }{
		{"init", initBin}, {"pidfd.test", testBin}, {"bin/busybox", busybox},
	} {
		data, err := os.ReadFile(file.from)
		if err != nil {
			f.Close()
			return err
		}
		w.file(file.name, 0o755, data)
	}
	for _, applet := range []string{"sh", "sleep", "true", "cat"} {
		w.symlink("bin/"+applet, "busybox")
	}
	w.file("args", 0o644, []byte(strings.Join(testArgs, "\n")+"\n"))
	if err := w.close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpioWriter writes the "newc" archive format the kernel unpacks as its
// initramfs.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
	err error
}

func newCpio(w io.Writer) *cpioWriter { return &cpioWriter{w: bufio.NewWriter(w)} }

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
)

func (c *cpioWriter) dir(name string)                         { c.entry(name, modeDir|0o755, nil) }
func (c *cpioWriter) file(name string, perm int, data []byte) { c.entry(name, modeFile|perm, data) }
func (c *cpioWriter) symlink(name, target string)             { c.entry(name, modeSymlink|0o777, []byte(target)) }

func (c *cpioWriter) entry(name string, mode int, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&modeDir != 0 {
		nlink = 2
	}
	// magic, then 13 eight-digit hex fields: ino mode uid gid nlink mtime
	// filesize devmajor devminor rdevmajor rdevminor namesize check.
	fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.w.WriteString(name)
	c.w.WriteByte(0)
	c.pad(110 + len(name) + 1)
	c.w.Write(data)
	_, c.err = c.w.Write(make([]byte, pad4(len(data))))
}

func (c *cpioWriter) pad(n int) { c.w.Write(make([]byte, pad4(n))) }

func pad4(n int) int { return (4 - n%4) % 4 }

func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil)
	if c.err != nil {
		return c.err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return errors.Join(c.err)
}
