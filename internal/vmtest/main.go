// Command vmtest runs the package's tests inside a virtual machine booting a
// real Debian kernel, so that old kernels, and 32-bit programs, are tested
// for real:
//
//	go run ./internal/vmtest -kernel 6.1 [-arch 386] [-- test binary flags]
//
// It builds the test binary statically, packs it with a small init
// (./internal/vmtest/vminit) and busybox (for sh and sleep) into an
// initramfs, boots it with qemu-system-x86_64, streams the serial console,
// and exits with the test binary's status.
//
// It needs qemu-system-x86 and busybox-static from Debian, and fetches the
// kernel package with apt-get into .cache/kernels (see .ci/run).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// kernelPackages maps a kernel version to the Debian package that has it.
var kernelPackages = map[string]string{
	"6.1":  "linux-image-cloud-amd64",
	"6.12": "linux-image-6.12-cloud-amd64",
}

// As vminit prints them.
const (
	exitMarker  = "VMTEST-EXIT:"
	startMarker = "VMTEST-START"
)

// bootAttempts bounds the boots of one run. Under TCG a Debian kernel
// sometimes dies during boot (seen: an int3 oops in sched_clock_cpu while the
// kernel patches its own code, before init runs); that says nothing about the
// tests, so such a boot is tried again. A machine that reached init and then
// stopped is never retried.
const bootAttempts = 3

func main() {
	kernel := flag.String("kernel", "6.1", "kernel version to boot: 6.1 or 6.12")
	arch := flag.String("arch", "amd64", "GOARCH of the test binary: amd64 or 386")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	pkgDir := flag.String("pkg", ".", "package whose tests to run")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./internal/vmtest [-kernel 6.1|6.12] [-arch amd64|386] [-pkg DIR] [-- test flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	testArgs := flag.Args()
	if len(testArgs) == 0 {
		testArgs = []string{"-test.v"}
	}
	code, err := run(*kernel, *arch, *pkgDir, *timeout, testArgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmtest:", err)
		os.Exit(125)
	}
	os.Exit(code)
}

func run(kernel, arch, pkgDir string, timeout time.Duration, testArgs []string) (int, error) {
	pkg, ok := kernelPackages[kernel]
	if !ok {
		return 0, fmt.Errorf("unknown kernel %q (have 6.1, 6.12)", kernel)
	}
	if arch != "amd64" && arch != "386" {
		return 0, fmt.Errorf("unknown arch %q (have amd64, 386)", arch)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return 0, fmt.Errorf("%w (apt-get install --no-install-recommends qemu-system-x86)", err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return 0, fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	vmlinuz, err := fetchKernel(pkg)
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
	if err := goTool(arch, "test", "-c", "-o", testBin, pkgDir); err != nil {
		return 0, err
	}
	if err := goTool("amd64", "build", "-o", initBin, "./internal/vmtest/vminit"); err != nil {
		return 0, err
	}
	initrd := filepath.Join(work, "initrd.cpio")
	if err := writeInitramfs(initrd, initBin, testBin, busybox, testArgs); err != nil {
		return 0, err
	}

	accel := "tcg"
	if kvmUsable() {
		accel = "kvm"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	fmt.Printf("vmtest: booting Linux %s (%s) with a %s test binary under %s: %s\n",
		kernel, filepath.Base(vmlinuz), arch, accel, strings.Join(testArgs, " "))
	for attempt := 1; ; attempt++ {
		code, booted, err := boot(ctx, qemu, accel, vmlinuz, initrd)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("Linux %s: no result within %v", kernel, timeout)
		}
		if !booted && attempt < bootAttempts {
			fmt.Printf("vmtest: Linux %s did not reach init (%v); booting again (attempt %d of %d)\n",
				kernel, err, attempt+1, bootAttempts)
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("Linux %s: %w", kernel, err)
		}
		fmt.Printf("vmtest: Linux %s, %s: test binary exited %d\n", kernel, arch, code)
		return code, nil
	}
}

// boot runs one machine to its end, streaming its console. It reports the
// test binary's exit code, and whether init started at all.
func boot(ctx context.Context, qemu, accel, vmlinuz, initrd string) (code int, booted bool, err error) {
	cmd := exec.CommandContext(ctx, qemu,
		"-accel", accel, "-cpu", "max", "-M", "q35", "-m", "1024", "-smp", "2",
		"-no-reboot", "-nographic", "-monitor", "none", "-serial", "stdio",
		"-kernel", vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 random.trust_cpu=on")
	cmd.Stdin = nil
	console, err := cmd.StdoutPipe()
	if err != nil {
		return 0, false, err
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, false, err
	}
	defer func() { fmt.Printf("vmtest: the machine ran for %v\n", time.Since(start).Round(time.Second)) }()
	code = -1
	lines := bufio.NewScanner(console)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		line := strings.ReplaceAll(lines.Text(), "\r", "")
		fmt.Println(line)
		if strings.TrimSpace(line) == startMarker {
			booted = true
		}
		if rest, ok := strings.CutPrefix(line, exitMarker); ok {
			code, _ = strconv.Atoi(strings.TrimSpace(rest))
		}
	}
	io.Copy(io.Discard, console)
	waitErr := cmd.Wait()
	if code < 0 {
		return 0, booted, fmt.Errorf("the machine stopped without a result (%v)", waitErr)
	}
	return code, booted, nil
}

// fetchKernel returns the path of the vmlinuz of the Debian package pkg (or
// of the package it depends on, for a metapackage), downloading and
// unpacking it into .cache/kernels on first use.
func fetchKernel(pkg string) (string, error) {
	dir, err := filepath.Abs(filepath.Join(".cache", "kernels", pkg))
	if err != nil {
		return "", err
	}
	if found, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*")); len(found) == 1 {
		return found[0], nil
	}
	real, err := imagePackage(pkg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	download := exec.Command("apt-get", "download", real)
	download.Dir = dir
	download.Stderr = os.Stderr
	if err := download.Run(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w (run apt-get update first?)", real, err)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, real+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d packages", real, len(debs))
	}
	unpack := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -x --wildcards './boot/vmlinuz-*'`, "sh", debs[0])
	unpack.Dir = dir
	unpack.Stderr = os.Stderr
	if err := unpack.Run(); err != nil {
		return "", fmt.Errorf("unpack %s: %w", debs[0], err)
	}
	os.Remove(debs[0])
	found, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(found) != 1 {
		return "", fmt.Errorf("%s holds %d kernels", real, len(found))
	}
	return found[0], nil
}

// imagePackage resolves a kernel metapackage to the package with the image.
func imagePackage(pkg string) (string, error) {
	out, err := exec.Command("apt-cache", "depends", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w (run apt-get update first?)", pkg, err)
	}
	for line := range strings.Lines(string(out)) {
		dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
		if ok && strings.HasPrefix(dep, "linux-image-") {
			return dep, nil
		}
	}
	return pkg, nil // not a metapackage
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

func writeInitramfs(path, initBin, testBin, busybox string, testArgs []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := newCpio(f)
	w.dir("bin")
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
