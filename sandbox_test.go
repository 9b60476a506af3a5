//go:build linux

package pidfd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/seccomp"
)

// TestStartAfterLateSandbox starts a program, then sandboxes the process
// (a seccomp filter installed at run time, as programs do once
// initialised): the next Start must refuse before it starts anything,
// leaving cmd as it was.
func TestStartAfterLateSandbox(t *testing.T) {
	leakcheck.Check(t)
	runUnder(t, "none", "^TestLateSandbox$", "TestLateSandbox")
}

func TestLateSandbox(t *testing.T) {
	leakcheck.Check(t)
	if os.Getenv(oldKernelEnv) != "none" {
		t.Skip("runs only inside TestStartAfterLateSandbox: it installs a seccomp filter for good")
	}
	p, err := Start(exec.Command("/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	p.Close()
	if err := seccomp.Install(seccompProfiles["open-eperm"]); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(t.TempDir(), "ran")
	cmd := exec.Command("sh", "-c", "echo ran > "+mark)
	p, err = Start(cmd)
	if p != nil {
		p.Close()
	}
	if !errors.Is(err, errors.ErrUnsupported) || cmd.Process != nil {
		data, _ := os.ReadFile(mark)
		t.Errorf("Start after the sandbox = %v; cmd.Process = %v (the program's mark: %q); want ErrUnsupported before anything starts",
			err, cmd.Process, data)
	}
}
