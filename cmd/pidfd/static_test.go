//go:build linux

package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
	"golang.org/x/sys/unix"
)

// goBuild builds the command for GOARCH arch into out as the README
// installs it: CGO_ENABLED=0, so that the binary is static. With cgo, the
// net package (which the pidfd package imports for *net.UnixConn) links
// its resolver against the C library, and the binary needs the dynamic
// loader and libc, which an image FROM scratch does not have.
func goBuild(goTool, arch, out string) ([]byte, error) {
	cmd := exec.Command(goTool, "build", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	return cmd.CombinedOutput()
}

// staticELF returns nil if the ELF file at path is for machine and needs
// nothing to run but the kernel: no interpreter (PT_INTERP), no dynamic
// section (PT_DYNAMIC), no shared library.
func staticELF(path string, machine elf.Machine) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var problems []error
	if f.Machine != machine {
		problems = append(problems, fmt.Errorf("built for %v, not %v", f.Machine, machine))
	}
	for _, prog := range f.Progs {
		switch prog.Type {
		case elf.PT_INTERP:
			name, _ := io.ReadAll(prog.Open())
			problems = append(problems, fmt.Errorf("has an interpreter (PT_INTERP %q)", bytes.TrimRight(name, "\x00")))
		case elf.PT_DYNAMIC:
			problems = append(problems, errors.New("has a dynamic section (PT_DYNAMIC)"))
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		problems = append(problems, fmt.Errorf("needs shared libraries %q", libs))
	}
	return errors.Join(problems...)
}

// TestStaticBinary builds the command as the README installs it
// (CGO_ENABLED=0 go install), for amd64, arm64 and 386, and checks that
// each binary is static: no interpreter, no dynamic section, no shared
// library. A container's init runs in images that hold nothing else
// (FROM scratch, distroless). The check itself must see a dynamic binary
// for one: the host's sh, where it is one.
func TestStaticBinary(t *testing.T) {
	leakcheck.Check(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the command with (inside the test VMs)")
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		if sh, err = filepath.EvalSymlinks(sh); err == nil {
			if f, err := elf.Open(sh); err == nil {
				dynamic := false
				for _, prog := range f.Progs {
					dynamic = dynamic || prog.Type == elf.PT_INTERP
				}
				f.Close()
				if dynamic && staticELF(sh, f.Machine) == nil {
					t.Errorf("the check takes %s, which has an interpreter, for static", sh)
				}
			}
		}
	}
	dir := t.TempDir()
	for _, target := range []struct {
		arch    string
		machine elf.Machine
	}{
		{"amd64", elf.EM_X86_64},
		{"arm64", elf.EM_AARCH64},
		{"386", elf.EM_386},
	} {
		t.Run(target.arch, func(t *testing.T) {
			bin := filepath.Join(dir, "pidfd-"+target.arch)
			if out, err := goBuild(goTool, target.arch, bin); err != nil {
				t.Fatalf("CGO_ENABLED=0 GOARCH=%s go build: %v\n%s", target.arch, err, out)
			}
			if err := staticELF(bin, target.machine); err != nil {
				t.Errorf("CGO_ENABLED=0 GOARCH=%s go build: not a static binary: %v", target.arch, err)
			}
		})
	}
}

// bareInitRole is the role of a process started in new PID and mount
// namespaces that makes a bare root file system its own and becomes the
// tool there, as a container runtime starts a container's init: its
// arguments are the root's directory, the tool's environment, "--" and the
// tool's arguments (the tool's path in the root first).
const bareInitRole = "bare-init"

// bareInit plays bareInitRole: it mounts a proc of its PID namespace at
// ROOT/proc and binds /dev/null to ROOT/dev/null, as container runtimes
// do (mounts made here stay in its mount namespace; a shell's background
// job reads /dev/null), changes its root to ROOT and executes the tool
// there, keeping its PID: 1.
func bareInit(args []string) int {
	dash := slices.Index(args, "--")
	if len(args) < 3 || dash < 1 || dash == len(args)-1 {
		fmt.Fprintf(os.Stderr, "bare-init: want ROOT ENV... -- TOOL ARG..., got %q\n", args)
		return 100
	}
	root, env, argv := args[0], args[1:dash], args[dash+1:]
	for _, step := range []struct {
		what string
		err  func() error
	}{
		{"make / private", func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") }},
		{"mount proc", func() error { return unix.Mount("proc", filepath.Join(root, "proc"), "proc", 0, "") }},
		{"bind /dev/null", func() error { return unix.Mount("/dev/null", filepath.Join(root, "dev", "null"), "", unix.MS_BIND, "") }},
		{"chroot", func() error { return unix.Chroot(root) }},
		{"chdir /", func() error { return unix.Chdir("/") }},
		{"exec " + argv[0], func() error { return unix.Exec(argv[0], argv, env) }},
	} {
		if err := step.err(); err != nil {
			fmt.Fprintf(os.Stderr, "bare-init: %s: %v\n", step.what, err)
			return 101
		}
	}
	return 102 // not reached: Exec returns only on failure
}

// copyFile copies the file at from to to, executable.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// bareRoot makes a root file system that holds the tool (/pidfd), a static
// busybox (/bin/busybox, with /bin/sh and /bin/sleep), an empty /proc and
// /dev/null (mount points), and nothing else: no C library, no dynamic loader, as an image FROM
// scratch with the tool and the command copied in. It returns the root and
// the environment the tool needs there. It skips the test where the tool
// or busybox is not static, or where there is no busybox.
func bareRoot(t *testing.T) (root string, env []string) {
	t.Helper()
	run := tool(t)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on PATH for the bare root's shell (apt-get install busybox-static)")
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386}[runtime.GOARCH]
	if machine == 0 {
		t.Skipf("no ELF machine known here for %s", runtime.GOARCH)
	}
	if err := staticELF(run.Path, machine); err != nil {
		t.Skipf("the tool %s is not static (the test binary, with no go tool to build the tool): %v", run.Path, err)
	}
	if err := staticELF(busybox, machine); err != nil {
		t.Skipf("%s is not static: %v", busybox, err)
	}
	root = t.TempDir()
	for _, dir := range []string{"bin", "proc", "dev"} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "dev", "null"), nil, 0o666); err != nil { // where /dev/null is bound
		t.Fatal(err)
	}
	copyFile(t, run.Path, filepath.Join(root, "pidfd"))
	copyFile(t, busybox, filepath.Join(root, "bin", "busybox"))
	for _, applet := range []string{"sh", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	env = []string{"PATH=/bin"}
	if run.Env != nil { // the test binary, re-executed to play the tool
		env = append(env, asCommandEnv+"=1")
	}
	return root, env
}

// TestRunAsInitOfBareRoot runs the tool as a container runtime runs a
// container's init: PID 1 of new PID and mount namespaces, in a root file
// system that holds only the tool, as the README installs it, and the
// command (a static busybox), with a proc of its own. The command leaves
// two orphans, which the tool must reap (the test sees it say so, and no
// zombie among its children); a SIGUSR1 sent to the tool must reach the
// command, which exits 5 on it, and the tool exit 5.
func TestRunAsInitOfBareRoot(t *testing.T) {
	leakcheck.Check(t)
	newPIDNamespace(t)
	root, env := bareRoot(t)
	script := `(sleep 0.1 &); (sleep 0.1 &); sleep 600 & trap 'echo got USR1; kill $!; exit 5' USR1; echo ready; wait $!; echo wait returned; exit 9`
	args := append(append([]string{root}, env...), "--", "/pidfd", "run", "-v", "--", "/bin/sh", "-c", script)
	cmd := testchild.Command(bareInitRole, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	stdout, stderr := startReading(t, cmd)
	var pid int
	started := stderr.expect("pidfd: started /bin/sh as PID ")[0]
	if _, err := fmt.Sscanf(started, "pidfd: started /bin/sh as PID %d", &pid); err != nil {
		t.Fatalf("run -v said %q: %v", started, err)
	}
	stdout.expect("ready")
	if ns := nsPIDs(t, cmd.Process.Pid); len(ns) != 2 || ns[1] != 1 {
		t.Errorf("the tool's PIDs, outermost namespace first: %v; want PID 1 in the second", ns)
	}
	if dir, err := os.Readlink(fmt.Sprintf("/proc/%d/root", cmd.Process.Pid)); err != nil || dir != root {
		t.Errorf("the tool's root is %q (%v); want %q", dir, err, root)
	}
	for _, line := range stderr.expect("pidfd: reaped orphan PID ", "pidfd: reaped orphan PID ") {
		if !strings.HasSuffix(line, ": exit status 0") {
			t.Errorf("run -v said %q; want an orphan's exit status 0", line)
		}
	}
	for kid, state := range childrenOf(t, cmd.Process.Pid) {
		if state == "Z" {
			t.Errorf("the tool's child %d is a zombie", kid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	stdout.expect("got USR1")
	stderr.expect(fmt.Sprintf("pidfd: forwarded %v to PID %d", syscall.SIGUSR1, pid))
	if code := exitStatus(t, cmd); code != 5 {
		t.Errorf("the tool as PID 1 of a bare root: exit status %d; want 5, the command's", code)
	}
	if said := stderr.rest(); len(said) == 0 || said[len(said)-1] != fmt.Sprintf("pidfd: PID %d ended: exit status 5", pid) {
		t.Errorf("run -v said at the end %q", said)
	}
}
