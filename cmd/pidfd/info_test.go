//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd"
	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

func TestInfo(t *testing.T) {
	leakcheck.Check(t)
	cmd, _ := sleeper(t)
	out, errOut, code := pidfdCommand(t, "info", "-json", strconv.Itoa(cmd.Process.Pid))
	if code != 0 {
		t.Fatalf("info: exit %d, %s", code, errOut)
	}
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("info -json printed %q: %v", out, err)
	}
	if r.PID != cmd.Process.Pid || r.PPID != os.Getpid() || r.Creds == nil || r.Creds.EUID != uint32(os.Geteuid()) {
		t.Errorf("info -json = %+v; want PID %d, parent %d, our uid", r, cmd.Process.Pid, os.Getpid())
	}
	out, _, code = pidfdCommand(t, "info", "self")
	if code != 0 || !strings.HasPrefix(out, "pid\t") || !strings.Contains(out, "\nppid\t"+strconv.Itoa(os.Getpid())+"\n") {
		t.Errorf("info self: exit %d, %q", code, out)
	}
}

// TestInfoUnavailable runs info on a zombie, whose namespaces are gone,
// and checks that what was unavailable is listed in the order asked, every
// time, naming real ioctls; and that a PID no process has is "no such
// process".
func TestInfoUnavailable(t *testing.T) {
	leakcheck.Check(t)
	cmd := exec.Command("sleep", "3600")
	p, err := pidfd.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	defer p.Wait()
	p.Kill()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if state, _, _ := procState(cmd.Process.Pid); state == "Z" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("PID %d never became a zombie", cmd.Process.Pid)
		}
	}
	var first []string
	for range 3 {
		out, errOut, code := pidfdCommand(t, "info", strconv.Itoa(cmd.Process.Pid))
		if code != 0 {
			t.Fatalf("info of a zombie: exit %d, %q", code, errOut)
		}
		var unavailable []string
		for _, line := range strings.Split(out, "\n") {
			if what, ok := strings.CutPrefix(line, "unavailable\t"); ok {
				unavailable = append(unavailable, what)
			}
		}
		if first == nil {
			first = unavailable
		} else if !slices.Equal(first, unavailable) {
			t.Errorf("info lists the unavailable as %q, then %q", first, unavailable)
		}
	}
	if len(first) == 0 {
		t.Fatal("info of a zombie found nothing unavailable; want its namespaces")
	}
	order := []string{"ppid", "creds", "cgroup_id", "id"}
	for ns := pidfd.NamespaceCgroup; ns <= pidfd.NamespaceUTS; ns++ {
		order = append(order, "ns/"+ns.String())
	}
	last := -1
	for _, what := range first {
		i := slices.Index(order, what[:strings.IndexByte(what, ':')])
		if i <= last {
			t.Errorf("unavailable %q out of order in %q", what, first)
		}
		last = i
		// An ioctl's name is upper case: PIDFD_GET_PID_FOR_CHILDREN_NAMESPACE.
		for _, name := range regexp.MustCompile(`PIDFD_\w+`).FindAllString(what, -1) {
			if name != strings.ToUpper(name) {
				t.Errorf("unavailable %q names no real ioctl: %s", what, name)
			}
		}
		if strings.Contains(what, "already finished") {
			t.Errorf("unavailable %q: the zombie has exited, not finished and been reaped", what)
		}
	}

	bad := unusedPID(t)
	out, errOut, code := pidfdCommand(t, "info", strconv.Itoa(bad))
	if want := fmt.Sprintf("pidfd info: PID %d: no such process\n", bad); code != 1 || out != "" || errOut != want {
		t.Errorf("info of no process: exit %d, %q, %q; want 1 and %q", code, out, errOut, want)
	}
}

// TestInfoJSON checks that info's hand-written JSON is what encoding/json
// writes, byte for byte: with every field and none, every feature on (a
// field added to pidfd.Features and not to appendJSON shows here), and
// error messages that need escaping.
func TestInfoJSON(t *testing.T) {
	leakcheck.Check(t)
	var all pidfd.Features
	features := reflect.ValueOf(&all).Elem()
	for i := range features.NumField() {
		features.Field(i).SetBool(true)
	}
	reports := []report{
		{PID: 1, Features: pidfd.Features{IDs: true}, Namespaces: map[string]uint64{}, Errors: map[string]string{}},
		{
			PID: 4194304, PPID: 2147483647, Creds: &pidfd.Creds{RUID: 1, EUID: 2, SUID: 3, FSUID: 4, RGID: 5, EGID: 6, SGID: 7, FSGID: 4294967295},
			CgroupID: 18446744073709551615, ID: 42, Features: all,
			Namespaces: map[string]uint64{"uts": 2, "cgroup": 1, "pid_for_children": 3},
			Errors: map[string]string{
				"ppid":      `quotes " and \ and <tags> & ampersands`,
				"ns/net":    "controls \b\f\n\r\t\x00\x01\x1f\x7f, unicode é ☃ 😀",
				"cgroup_id": "broken UTF-8 \xff\xfe and \xe2\x82, separators \u2028\u2029",
			},
		},
	}
	for _, r := range reports {
		var want strings.Builder
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		// A byte that is not UTF-8 becomes U+FFFD: Go 1.26's encoding/json
		// writes it escaped, 1.27's as the character itself. Both are the
		// same JSON string; the comparison takes either.
		sameReplacement := strings.NewReplacer(`\ufffd`, "\uFFFD")
		got := string(r.appendJSON(nil))
		if sameReplacement.Replace(got) != sameReplacement.Replace(want.String()) {
			t.Errorf("appendJSON wrote\n%s\nencoding/json writes\n%s", got, want.String())
		}
	}
}
