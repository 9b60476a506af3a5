//go:build linux

package procfs

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// Real /proc/self/fdinfo texts of pidfds, by kernel.
var fdinfoSamples = []struct {
	name string
	text string
	pid  int
	ok   bool
}{
	{"6.18 pidfs", "pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t4567\nPid:\t2832\nNSpid:\t2832\n", 2832, true},
	{"6.1 anon inode", "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t77\nNSpid:\t77\n", 77, true},
	{"nested namespace", "pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t9\nPid:\t4100\nNSpid:\t4100\t12\t1\n", 4100, true},
	{"reaped (5.10+)", "pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t9\nPid:\t-1\n", -1, true},
	{"other namespace", "pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t9\nPid:\t0\n", 0, true},
	{"5.3 without NSpid, no newline", "pos:\t0\nflags:\t02000002\nmnt_id:\t12\nPid:\t31", 31, true},
	{"not a pidfd", "pos:\t0\nflags:\t02000000\nmnt_id:\t24\nino:\t1\n", 0, false},
	{"NSpid alone does not count", "NSpid:\t5\n", 0, false},
	{"garbage value", "Pid:\tabc\n", 0, false},
	{"overflow", "Pid:\t99999999999\n", 0, false},
	{"empty", "", 0, false},
}

func TestFdinfoPID(t *testing.T) {
	leakcheck.Check(t)
	for _, tc := range fdinfoSamples {
		pid, ok := FdinfoPID([]byte(tc.text))
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("%s: FdinfoPID = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

func TestNSpidLevels(t *testing.T) {
	leakcheck.Check(t)
	for _, tc := range []struct {
		status string
		levels int
		ok     bool
	}{
		{"Name:\tx\nTgid:\t5\nNgid:\t0\nPid:\t5\nPPid:\t1\nNStgid:\t5\nNSpid:\t5\nNSpgid:\t5\n", 1, true},
		{"Pid:\t812\nNSpid:\t812\t1\n", 2, true},
		{"Pid:\t9\nNSpid:\t9\t7\t1", 3, true},
		{"Pid:\t9\n", 0, false},
		{"NSpid:\t\n", 0, false},
	} {
		levels, ok := NSpidLevels([]byte(tc.status))
		if levels != tc.levels || ok != tc.ok {
			t.Errorf("NSpidLevels(%q) = %d, %v; want %d, %v", tc.status, levels, ok, tc.levels, tc.ok)
		}
	}
}

func BenchmarkFdinfoPID(b *testing.B) {
	text := []byte(fdinfoSamples[0].text)
	b.ReportAllocs()
	for b.Loop() {
		FdinfoPID(text)
	}
}

// FuzzFdinfoPID checks that any text parses without panic, and that a PID
// it reports is written, in decimal, on a "Pid:" line of the text.
func FuzzFdinfoPID(f *testing.F) {
	for _, tc := range fdinfoSamples {
		f.Add([]byte(tc.text))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if levels, ok := NSpidLevels(text); ok && (levels < 1 || !bytes.Contains(text, []byte("NSpid:"))) {
			t.Fatalf("NSpidLevels = %d from %q", levels, text)
		}
		pid, ok := FdinfoPID(text)
		if !ok {
			return
		}
		if pid < -1<<31 || pid > 1<<31-1 {
			t.Fatalf("PID %d outside pid_t", pid)
		}
		if !bytes.Contains(text, []byte("Pid:")) {
			t.Fatalf("PID %d from a text with no Pid: field", pid)
		}
		digits := strconv.Itoa(pid)
		if pid < 0 {
			digits = digits[1:]
		}
		if !bytes.Contains(text, []byte(digits)) {
			t.Fatalf("PID %d not written in %q", pid, text)
		}
	})
}
