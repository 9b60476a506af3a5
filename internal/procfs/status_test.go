//go:build linux

package procfs

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// seeds returns the contents of testdata files matching pattern: real /proc
// files of this machine's kernel and files in older kernels' formats.
func seeds(tb testing.TB, pattern string) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no testdata matches %s (%v)", pattern, err)
	}
	var out [][]byte
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func TestParseStatus(t *testing.T) {
	leakcheck.Check(t)
	s, ok := ParseStatus(seeds(t, "status-5.4-format.txt")[0])
	want := Status{PPid: 1200, UID: [4]uint32{1000, 1000, 1000, 1000}, GID: [4]uint32{1000, 1000, 1000, 1000}}
	if !ok || s != want {
		t.Errorf("ParseStatus = %+v, %v; want %+v", s, ok, want)
	}
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"PPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t4294967294\t1\t2\t3\n", true},
		{"PPid:\t1\nUid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n", false},             // three IDs
		{"PPid:\t1\nUid:\t0\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", false},       // five
		{"PPid:\t1\nUid:\t0\t0\t0\t4294967296\nGid:\t0\t0\t0\t0\n", false}, // overflow
		{"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", false},                    // no PPid
		{"PPid:\t-1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", false},
	} {
		if _, ok := ParseStatus([]byte(tc.text)); ok != tc.ok {
			t.Errorf("ParseStatus(%q) ok = %v; want %v", tc.text, ok, tc.ok)
		}
	}
}

func TestTgid(t *testing.T) {
	leakcheck.Check(t)
	if tgid, ok := Tgid(seeds(t, "status-6.18.txt")[0]); tgid != 31378 || !ok {
		t.Errorf("Tgid = %d, %v; want 31378", tgid, ok)
	}
	for _, text := range []string{"Name:\tx\nNStgid:\t5\n", "Tgid:\t\n", "Tgid:\tx5\n"} {
		if tgid, ok := Tgid([]byte(text)); ok {
			t.Errorf("Tgid(%q) = %d; want none", text, tgid)
		}
	}
}

func TestCgroup(t *testing.T) {
	leakcheck.Check(t)
	if path, ok := CgroupV2Path(seeds(t, "cgroup-unified.txt")[0]); !ok || path != "/user.slice/user-1000.slice/session-2.scope" {
		t.Errorf("CgroupV2Path = %q, %v", path, ok)
	}
	for _, text := range []string{"1:cpu:/a\n0::\n", "0::/../other\n", "0::/a/../../b\n", "0::/gone (deleted)\n"} {
		if path, ok := CgroupV2Path([]byte(text)); ok {
			t.Errorf("CgroupV2Path(%q) = %q; want none", text, path)
		}
	}
	mountinfo := []byte("21 26 0:20 / /proc rw - proc proc rw\n" +
		"40 30 0:37 /sub /mnt/elsewhere rw - cgroup2 cgroup2 rw\n" +
		"41 30 0:37 / /sys/fs/cgroup\\040v2 rw shared:9 - cgroup2 cgroup2 rw\n")
	if root, ok := Cgroup2Mount(mountinfo); !ok || root != "/sys/fs/cgroup v2" {
		t.Errorf("Cgroup2Mount = %q, %v; want the root mount, unescaped", root, ok)
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, seed := range seeds(f, "status-*") {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		s, ok := ParseStatus(text)
		if ok && (s.PPid < 0 || !bytes.Contains(text, []byte("Uid:"))) {
			t.Fatalf("ParseStatus = %+v from %q", s, text)
		}
	})
}

func FuzzCgroup(f *testing.F) {
	for _, seed := range seeds(f, "cgroup-*") {
		f.Add(seed)
	}
	for _, seed := range seeds(f, "mountinfo-*") {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if path, ok := CgroupV2Path(text); ok && (path == "" || path[0] != '/' || strings.Contains(path+"/", "/../")) {
			t.Fatalf("CgroupV2Path = %q", path)
		}
		if root, ok := Cgroup2Mount(text); ok && !bytes.Contains(text, []byte("cgroup2")) {
			t.Fatalf("Cgroup2Mount = %q from a text without cgroup2", root)
		}
	})
}

func TestStatStartTime(t *testing.T) {
	leakcheck.Check(t)
	if start, ok := StatStartTime(seeds(t, "stat-parens.txt")[0]); !ok || start != 987654 {
		t.Errorf("StatStartTime = %d, %v; want 987654 past a command name with parentheses", start, ok)
	}
	for _, bad := range []string{"", "1 (x) S 1", "1 x S", "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x"} {
		if start, ok := StatStartTime([]byte(bad)); ok {
			t.Errorf("StatStartTime(%q) = %d; want none", bad, start)
		}
	}
}

func FuzzStatStartTime(f *testing.F) {
	for _, seed := range seeds(f, "stat-*") {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stat []byte) {
		if start, ok := StatStartTime(stat); ok && !bytes.Contains(stat, []byte(strconv.FormatUint(start, 10))) {
			t.Fatalf("start time %d not in %q", start, stat)
		}
	})
}
