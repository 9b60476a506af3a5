//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// The tests of -exec's archive and runner; on Linux, where leakcheck
// works (the machines are Linux's).

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
// programs that pass and fail, one given an option: its status counts the
// failures.
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
	for name, script := range map[string]string{"passes": "exit 0", "fails": "exit 3", "exits": `exit "$2"`} {
		if err := os.WriteFile(filepath.Join(dir, "x", name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runner := filepath.Join(dir, "pidfd.test")
	if err := os.WriteFile(runner, []byte(programRunner), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sh, runner, "passes", "fails", "exits -T 0", "exits -T 5").CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
		t.Fatalf("runner: %v, want exit status 2 (two failed)\n%s", err, out)
	}
	for _, line := range []string{"vmtest: passes exited 0", "vmtest: fails exited 3",
		"vmtest: exits -T 0 exited 0", "vmtest: exits -T 5 exited 5", "vmtest: 2 of 4 programs failed"} {
		if !strings.Contains(string(out), line) {
			t.Errorf("no %q in the runner's output:\n%s", line, out)
		}
	}
}
