package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kernelSelftests are the kernel's own tests of the calls the package
// makes, by directory under tools/testing/selftests: pidfd_open, waitid
// P_PIDFD, pidfd_send_signal, pidfd_getfd, PIDFD_GET_INFO, setns on a
// pidfd, pidfs file handles, CLONE_AUTOREAP and CLONE_PIDFD_AUTOKILL;
// clone3 (CLONE_PIDFD, CLONE_CLEAR_SIGHAND); close_range
// (CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC); coredump sockets and
// PIDFD_INFO_COREDUMP; cgroup.kill, cgroup.events and CLONE_INTO_CGROUP
// (Tree). Helpers are built but not run: tests exec them. Sources are
// built into each program of the directory, beside its own.
var kernelSelftests = []selftestSet{
	{dir: "pidfd", programs: []string{"pidfd_test", "pidfd_open_test", "pidfd_poll_test", "pidfd_wait",
		"pidfd_getfd_test", "pidfd_fdinfo_test", "pidfd_setns_test", "pidfd_info_test",
		"pidfd_file_handle_test", "pidfd_autoreap_test"}, helpers: []string{"pidfd_exec_helper"},
		// These read PIDFD_INFO_EXIT as soon as poll gives POLLIN. For a
		// child the kernel reaps (CLONE_AUTOREAP), exit_notify wakes the
		// pidfd's pollers before release_task records the exit (pidfs_exit):
		// the record can be missing for a moment, and under TCG it was
		// (autokill_without_nnp_with_cap, once in four runs on 7.3.4). The
		// package waits for POLLHUP, which comes after the record.
		leftOut: map[string][]string{"pidfd_autoreap_test": {"autoreap_basic", "autoreap_signaled",
			"autoreap_multithreaded", "nnp_sets_no_new_privs", "autoreap_no_new_privs_unset",
			"autokill_without_nnp_with_cap"}}},
	{dir: "clone3", programs: []string{"clone3", "clone3_clear_sighand"}},
	{dir: "core", programs: []string{"close_range_test"}},
	{dir: "coredump", programs: []string{"coredump_socket_test", "coredump_socket_protocol_test"},
		sources: []string{"coredump_test_helpers.c"}},
	{dir: "cgroup", programs: []string{"test_kill", "test_core"},
		sources: []string{"lib/cgroup_util.c"}, include: "lib/include"},
}

// A selftestSet is the programs of one selftests directory.
type selftestSet struct {
	dir                        string
	programs, helpers, sources []string
	include                    string              // a directory of headers, if any
	leftOut                    map[string][]string // program: tests not run (-T)
}

// built lists what is built of the set: its programs and their helpers.
func (set selftestSet) built() []string {
	return append(append([]string(nil), set.programs...), set.helpers...)
}

// selftestKernel is the kernel whose selftests kernelSelftests lists.
const selftestKernel = "7.3"

// selftestPrograms lists the programs -selftests runs, in order, each
// followed by a -T option for every test of it left out.
func selftestPrograms() []string {
	var all []string
	for _, set := range kernelSelftests {
		for _, program := range set.programs {
			for _, test := range set.leftOut[program] {
				program += " -T " + test
			}
			all = append(all, program)
		}
	}
	return all
}

// buildSelftests builds kernelSelftests from Debian's linux-source-VERSION
// of the kernel's suite with gcc -static, into .cache/selftests/VERSION,
// and returns that directory. Built once: a directory that holds every
// program is used as it is. It needs gcc, libc6-dev and xz-utils.
func buildSelftests(version string, src kernelSource) (string, error) {
	dir, err := filepath.Abs(filepath.Join(".cache", "selftests", version))
	if err != nil {
		return "", err
	}
	if haveSelftests(dir) {
		return dir, nil
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("%w (apt-get install gcc libc6-dev xz-utils)", err)
	}
	work, err := os.MkdirTemp("", "selftests")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	tree, err := fetchSelftestSources(version, src, work)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	selftests := filepath.Join(tree, "tools", "testing", "selftests")
	for _, set := range kernelSelftests {
		for _, name := range set.built() {
			// As the kernel's lib.mk builds them, with _GNU_SOURCE; and
			// offsetof, which the coredump tests use without stddef.h.
			args := []string{"-static", "-O2", "-pthread", "-w", "-D_GNU_SOURCE", "-include", "stddef.h", "-I", selftests}
			if set.include != "" {
				args = append(args, "-I", set.include)
			}
			args = append(args, "-isystem", filepath.Join(tree, "include", "uapi"),
				"-o", filepath.Join(dir, name), name+".c")
			build := exec.Command(gcc, append(args, set.sources...)...)
			build.Dir = filepath.Join(selftests, set.dir)
			if out, err := build.CombinedOutput(); err != nil {
				return "", fmt.Errorf("gcc %s/%s.c: %w\n%s", set.dir, name, err, out)
			}
		}
	}
	return dir, nil
}

func haveSelftests(dir string) bool {
	for _, set := range kernelSelftests {
		for _, name := range set.built() {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
	}
	return true
}

// fetchSelftestSources downloads linux-source-VERSION into work and
// unpacks from it the selftests above and the uapi headers, which may be
// newer than the machine's own. It returns the unpacked tree's root.
func fetchSelftestSources(version string, src kernelSource, work string) (string, error) {
	apt, err := newAptSource(src.suite, "amd64")
	if err != nil {
		return "", err
	}
	pkg := "linux-source-" + version
	deb, err := apt.download(pkg, "all", work)
	if err != nil {
		return "", err
	}
	archive := filepath.Join(work, pkg+".tar.xz")
	err = readDeb(deb, func(files *tar.Reader) error {
		return copyTarFile(files, "usr/src/"+pkg+".tar.xz", archive)
	})
	if err != nil {
		return "", err
	}
	paths := []string{pkg + "/include/uapi"}
	// The coredump tests include filesystems/wrappers.h.
	for _, name := range []string{"kselftest.h", "kselftest_harness.h", "filesystems"} {
		paths = append(paths, pkg+"/tools/testing/selftests/"+name)
	}
	for _, set := range kernelSelftests {
		paths = append(paths, pkg+"/tools/testing/selftests/"+set.dir)
	}
	unpack := exec.Command("tar", append([]string{"-xJf", archive, "-C", work}, paths...)...)
	if out, err := unpack.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tar -xJf %s: %w (apt-get install xz-utils)\n%s", archive, err, out)
	}
	return filepath.Join(work, pkg), nil
}

// copyTarFile copies the file name (without its leading "./") out of
// archive into to.
func copyTarFile(archive *tar.Reader, name, to string) error {
	for {
		hdr, err := archive.Next()
		if err == io.EOF {
			return errors.New("no " + name + " in the package")
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg || strings.TrimPrefix(hdr.Name, "./") != name {
			continue
		}
		f, err := os.Create(to)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, archive)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		return err
	}
}
