package pidfd

import (
	"flag"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd/internal/apicheck"
)

// apiFile lists the v1 API, one feature a line; see TestAPI.
const apiFile = "api/v1.txt"

// appendCommand adds the package's new features to apiFile.
const appendCommand = "go test -run '^TestAPI$' -api.append ."

var appendAPI = flag.Bool("api.append", false, "add the package's new exported names to "+apiFile+" (never removes one)")

// TestAPI holds the v1 API to its promise: every feature apiFile lists is
// still there with the same signature, as linux and darwin build the
// package. New features are allowed; the test names them, and
// appendCommand adds them to the file.
func TestAPI(t *testing.T) {
	watchLeaks(t)
	if _, err := os.Stat(apiFile); err != nil {
		t.Skipf("the module's sources are not here (a test binary run elsewhere, as in the kernel VMs): %v", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command to compile the package with: %v", err)
	}
	listed, err := apicheck.Read(apiFile)
	if err != nil {
		t.Fatal(err)
	}
	// The exported API is the same on every system; darwin stands for the
	// systems without pidfds.
	linux, err := apicheck.Features(".", "linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	darwin, err := apicheck.Features(".", "darwin", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if onlyLinux, onlyDarwin := apicheck.Compare(linux, darwin); len(onlyLinux)+len(onlyDarwin) > 0 {
		t.Errorf("the exported API differs between linux and darwin:\nonly on linux:\n\t%s\nonly on darwin:\n\t%s",
			strings.Join(onlyLinux, "\n\t"), strings.Join(onlyDarwin, "\n\t"))
	}

	if *appendAPI {
		added, err := apicheck.Append(apiFile, linux)
		for _, f := range added {
			t.Logf("added to %s: %s", apiFile, f)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if len(listed) < 50 {
		t.Fatalf("%s lists only %d features", apiFile, len(listed))
	}
	missing, added := apicheck.Compare(listed, linux)
	if len(missing) > 0 {
		t.Errorf("%d features of the v1 API (%s) are gone or changed their signature: v1 promises to keep them\n\t%s",
			len(missing), apiFile, strings.Join(missing, "\n\t"))
	}
	if len(added) > 0 {
		t.Logf("%d new features, not yet in %s (%s adds them):\n\t%s",
			len(added), apiFile, appendCommand, strings.Join(added, "\n\t"))
	}
	t.Logf("%d features listed, %d present", len(listed), len(linux))
}
