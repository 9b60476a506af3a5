package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// A fakeBoot is what one boot of a fake machine does.
type fakeBoot int

const (
	passes       fakeBoot = iota // starts init; the tests exit 0
	fails                        // starts init; the tests exit 1
	diesEarly                    // stops before init starts (a boot oops)
	hangsEarly                   // never starts init, never stops by itself
	diesAfter                    // starts init, then stops without a result
	passesSlowly                 // starts init, then takes 3 start timeouts to pass
)

const fakeStartTimeout = 200 * time.Millisecond

// fakeMachine returns a bootFunc that plays boots in turn, and the count of
// boots made.
func fakeMachine(t *testing.T, boots ...fakeBoot) (bootFunc, *int) {
	n := new(int)
	return func(ctx context.Context, started func()) (int, error) {
		if *n == len(boots) {
			t.Fatalf("boot %d: the script has only %d", *n+1, len(boots))
		}
		b := boots[*n]
		*n++
		switch b {
		case passes:
			started()
			return 0, nil
		case fails:
			started()
			return 1, nil
		case diesEarly:
			return 0, errors.New("the machine stopped without a result (exit status 1)")
		case hangsEarly:
			<-ctx.Done()
			return 0, errors.New("the machine stopped without a result (signal: killed)")
		case diesAfter:
			started()
			return 0, errors.New("the machine stopped without a result (exit status 1)")
		case passesSlowly:
			started()
			select {
			case <-ctx.Done():
				return 0, errors.New("stopped while its tests ran")
			case <-time.After(3 * fakeStartTimeout):
				return 0, nil
			}
		}
		panic("unknown fake boot")
	}, n
}

func TestBootUntilStarted(t *testing.T) {
	const retried = "vmtest: Linux 6.12 did not start the tests: "
	for _, tt := range []struct {
		name    string
		boots   []fakeBoot
		code    int
		err     string // "" for none
		retried string // the reason the retry gives, "" if none
	}{
		{"first boot passes", []fakeBoot{passes}, 0, "", ""},
		{"tests fail: no retry", []fakeBoot{fails}, 1, "", ""},
		{"dies before init, then passes", []fakeBoot{diesEarly, passes}, 0, "", "exit status 1"},
		{"dies before init, then the tests fail", []fakeBoot{diesEarly, fails}, 1, "", "exit status 1"},
		{"hangs before init, then passes", []fakeBoot{hangsEarly, passes}, 0, "", "init had not started within 200ms"},
		{"dies before init twice: one retry only", []fakeBoot{diesEarly, diesEarly}, 0, "without a result", "exit status 1"},
		{"hangs, then dies, before init", []fakeBoot{hangsEarly, diesEarly}, 0, "without a result", "init had not started within 200ms"},
		{"dies, then hangs, before init", []fakeBoot{diesEarly, hangsEarly}, 0, "init had not started within 200ms", "exit status 1"},
		{"dies after init: no retry", []fakeBoot{diesAfter}, 0, "without a result", ""},
		{"tests outlast the start timeout", []fakeBoot{passesSlowly}, 0, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			boot, n := fakeMachine(t, tt.boots...)
			var log strings.Builder
			code, err := bootUntilStarted(context.Background(), fakeStartTimeout, &log, "Linux 6.12", boot)
			if *n != len(tt.boots) {
				t.Errorf("%d boots; want %d", *n, len(tt.boots))
			}
			if code != tt.code {
				t.Errorf("code %d; want %d", code, tt.code)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v; want %q", err, tt.err)
			}
			if tt.retried == "" {
				if log.Len() > 0 {
					t.Errorf("said %q; want nothing", log.String())
				}
				return
			}
			if !strings.HasPrefix(log.String(), retried) || !strings.Contains(log.String(), tt.retried) ||
				!strings.Contains(log.String(), "; retrying: booting it once more (boot 2 of 2)\n") || strings.Count(log.String(), "\n") != 1 {
				t.Errorf("said %q; want one line %q…%q…", log.String(), retried, tt.retried)
			}
		})
	}
}

// A run out of time is not a failed boot: no retry.
func TestBootUntilStartedOutOfTime(t *testing.T) {
	boot, n := fakeMachine(t, hangsEarly, passes)
	ctx, cancel := context.WithTimeout(context.Background(), fakeStartTimeout)
	defer cancel()
	var log strings.Builder
	if _, err := bootUntilStarted(ctx, time.Hour, &log, "Linux 6.12", boot); err == nil {
		t.Errorf("no error from a run out of time")
	}
	if *n != 1 || log.Len() > 0 {
		t.Errorf("%d boots, said %q; want 1 boot and nothing said", *n, log.String())
	}
}

// TestWriteInitramfsPrograms unpacks the archive -exec makes and checks
// that it holds the programs under x, executable, beside the runner.
func TestWriteInitramfsPrograms(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	for _, name := range []string{"init", "test", "busybox"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+" bytes"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	archive := filepath.Join(dir, "initrd.cpio")
	programs := map[string][]byte{"selftest_a": []byte("AAA"), "selftest_b": []byte("BB")}
	err := writeInitramfs(archive, filepath.Join(dir, "init"), filepath.Join(dir, "test"),
		filepath.Join(dir, "busybox"), []string{"selftest_b"}, programs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		mode int64
		data string
	}
	entries := make(map[string]entry)
	for len(data) >= 110 && string(data[:6]) == "070701" {
		field := func(i int) int64 {
			n, err := strconv.ParseInt(string(data[6+8*i:14+8*i]), 16, 64)
			if err != nil {
				t.Fatalf("cpio header field %d: %v", i, err)
			}
			return n
		}
		mode, size, nameSize := field(1), int(field(6)), int(field(11))
		pad := func(n int) int { return (n + 3) &^ 3 }
		name := string(data[110 : 110+nameSize-1])
		body := pad(110 + nameSize)
		entries[name] = entry{mode, string(data[body : body+size])}
		data = data[pad(body+size):]
		if name == "TRAILER!!!" {
			break
		}
	}
	if _, ok := entries["TRAILER!!!"]; !ok {
		t.Fatalf("no trailer; entries: %v", entries)
	}
	for name, want := range map[string]entry{
		"x/selftest_a": {0o100755, "AAA"},
		"x/selftest_b": {0o100755, "BB"},
		"pidfd.test":   {0o100755, "test bytes"},
		"args":         {0o100644, "selftest_b\n"},
	} {
		if got, ok := entries[name]; !ok || got != want {
			t.Errorf("%s: got %+v (present %v), want %+v", name, got, ok, want)
		}
	}
	if got := entries["x"].mode; got != 0o40755 {
		t.Errorf("x: mode %o, want a directory", got)
	}
}

// TestProgramRunner runs the -exec runner with sh on this machine, over
// programs that pass and fail: its status counts the failures.
func TestProgramRunner(t *testing.T) {
	leakcheck.Check(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH to run the runner with")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, status := range map[string]int{"passes": 0, "fails": 3} {
		script := "#!/bin/sh\nexit " + strconv.Itoa(status) + "\n"
		if err := os.WriteFile(filepath.Join(dir, "x", name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runner := filepath.Join(dir, "pidfd.test")
	if err := os.WriteFile(runner, []byte(programRunner), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sh, runner, "passes", "fails", "fails").CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("runner: %v, want exit status 2 (two failed)\n%s", err, out)
	}
	for _, line := range []string{"vmtest: passes exited 0", "vmtest: fails exited 3", "vmtest: 2 of 3 programs failed"} {
		if !strings.Contains(string(out), line) {
			t.Errorf("no %q in the runner's output:\n%s", line, out)
		}
	}
}
