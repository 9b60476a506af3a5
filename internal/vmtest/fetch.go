package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Where the kernels and busybox come from: Debian packages, fetched with
// apt-get into .cache without changing the machine's apt configuration.

// fetchKernel returns the path of the vmlinuz of kernel version, from the
// Debian package src names (or the package a metapackage depends on),
// downloading and unpacking it into .cache/kernels/VERSION (VERSION-ARCH
// for another architecture than amd64) on first use.
func fetchKernel(version, debArch string, src kernelSource) (string, error) {
	name := version
	if debArch != "amd64" {
		name += "-" + debArch
	}
	dir, err := filepath.Abs(filepath.Join(".cache", "kernels", name))
	if err != nil {
		return "", err
	}
	if found, _ := filepath.Glob(filepath.Join(dir, "vmlinuz-*")); len(found) == 1 {
		return found[0], nil
	}
	apt, err := newAptSource(src.suite, debArch)
	if err != nil {
		return "", err
	}
	real, err := apt.binaryPackage(src.pkg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	deb, err := apt.download(real, debArch, dir)
	if err != nil {
		return "", err
	}
	defer os.Remove(deb)
	release, err := unpackKernel(deb, dir)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(release, version+".") {
		return "", fmt.Errorf("%s has Linux %s, not %s: the suite moved on (update kernels in internal/vmtest)", real, release, version)
	}
	return filepath.Join(dir, "vmlinuz-"+release), nil
}

// unpackKernel copies the kernel image out of the package deb into
// dir/vmlinuz-RELEASE and returns RELEASE. Up to 6.x Debian ships it in
// linux-image-RELEASE at ./boot/vmlinuz-RELEASE; from 7.x in
// linux-binary-RELEASE at ./usr/lib/modules/RELEASE/vmlinuz.
func unpackKernel(deb, dir string) (release string, err error) {
	err = readDeb(deb, func(archive *tar.Reader) (err error) {
		release, err = copyKernel(archive, dir)
		return err
	})
	return release, err
}

// readDeb runs read over the files of the package deb, as a tar stream.
func readDeb(deb string, read func(*tar.Reader) error) error {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	cmd.Stderr = os.Stderr
	data, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	readErr := read(tar.NewReader(data))
	io.Copy(io.Discard, data)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	if readErr != nil {
		return fmt.Errorf("%s: %w", deb, readErr)
	}
	return nil
}

func copyKernel(archive *tar.Reader, dir string) (string, error) {
	for {
		hdr, err := archive.Next()
		if err == io.EOF {
			return "", errors.New("no kernel image (./boot/vmlinuz-* or ./usr/lib/modules/*/vmlinuz) in the package")
		}
		if err != nil {
			return "", err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		release, ok := strings.CutPrefix(name, "boot/vmlinuz-")
		if !ok {
			var rest string
			if rest, ok = strings.CutPrefix(name, "usr/lib/modules/"); ok {
				release, ok = strings.CutSuffix(rest, "/vmlinuz")
			}
		}
		if !ok || release == "" || strings.Contains(release, "/") {
			continue
		}
		tmp, err := os.CreateTemp(dir, "vmlinuz-*.part")
		if err != nil {
			return "", err
		}
		_, err = io.Copy(tmp, archive)
		if closeErr := tmp.Close(); err == nil {
			err = closeErr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, "vmlinuz-"+release))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return "", err
		}
		return release, nil
	}
}

// aptSource runs apt-get and apt-cache on the machine's own sources, or,
// for another suite or architecture, on a private list and state under
// .cache/apt/SUITE (SUITE-ARCH) that names only that suite on the machine's
// Debian mirror. The machine's apt configuration is left as it is.
type aptSource struct {
	options []string
}

// newAptSource names suite ("" for the machine's own release) for the
// Debian architecture debArch.
func newAptSource(suite, debArch string) (*aptSource, error) {
	native := debArch == "amd64"
	if suite == "" && native {
		return &aptSource{}, nil
	}
	mirror, signedBy, codename, err := machineMirror()
	if err != nil {
		return nil, err
	}
	if suite == "" {
		suite = codename
	}
	name := suite
	var opts []string
	if !native {
		name += "-" + debArch
		opts = append(opts, "arch="+debArch)
	}
	dir, err := filepath.Abs(filepath.Join(".cache", "apt", name))
	if err != nil {
		return nil, err
	}
	if signedBy != "" {
		opts = append(opts, "signed-by="+signedBy)
	}
	line := "deb " + mirror + " " + suite + " main\n"
	if len(opts) > 0 {
		line = "deb [" + strings.Join(opts, " ") + "] " + mirror + " " + suite + " main\n"
	}
	for _, sub := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	list := filepath.Join(dir, "sources.list")
	if err := os.WriteFile(list, []byte(line), 0o644); err != nil {
		return nil, err
	}
	a := &aptSource{options: []string{
		"-o", "Dir::Etc::sourcelist=" + list,
		"-o", "Dir::Etc::sourceparts=/nonexistent",
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "APT::Architecture=" + debArch,
		"-o", "APT::Architectures::=" + debArch,
	}}
	update := a.command("apt-get", "-q", "update")
	update.Stdout, update.Stderr = os.Stderr, os.Stderr
	if err := update.Run(); err != nil {
		return nil, fmt.Errorf("apt-get update for %s (%s): %w", suite, strings.TrimSpace(line), err)
	}
	return a, nil
}

func (a *aptSource) command(name string, args ...string) *exec.Cmd {
	return exec.Command(name, append(append([]string{}, a.options...), args...)...)
}

// download fetches the package pkg for debArch into dir and returns the
// deb's path.
func (a *aptSource) download(pkg, debArch, dir string) (string, error) {
	download := a.command("apt-get", "download", pkg+":"+debArch)
	download.Dir = dir
	download.Stdout, download.Stderr = os.Stderr, os.Stderr
	if err := download.Run(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w (run apt-get update first?)", pkg, err)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d packages", pkg, len(debs))
	}
	return debs[0], nil
}

// binaryPackage resolves a kernel metapackage to the package with the
// image: linux-image-cloud-amd64 → linux-image-RELEASE, and from 7.x on,
// linux-image-RELEASE → linux-binary-RELEASE.
func (a *aptSource) binaryPackage(pkg string) (string, error) {
	for range 3 {
		out, err := a.command("apt-cache", "depends", pkg).Output()
		if err != nil {
			return "", fmt.Errorf("apt-cache depends %s: %w (run apt-get update first?)", pkg, err)
		}
		next := ""
		for line := range strings.Lines(string(out)) {
			dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
			if ok && (strings.HasPrefix(dep, "linux-binary-") || strings.HasPrefix(dep, "linux-image-") && next == "") {
				next = dep
			}
		}
		if next == "" {
			return pkg, nil // the package with the image itself
		}
		pkg = next
	}
	return "", fmt.Errorf("apt-cache depends: no kernel image package under %s", pkg)
}

// machineMirror returns the Debian mirror the machine's apt sources use for
// its own release (and the keyring they name, if any), and the release.
func machineMirror() (uri, signedBy, release string, err error) {
	codename := ""
	if osRelease, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.Lines(string(osRelease)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VERSION_CODENAME="); ok {
				codename = strings.Trim(v, `"'`)
			}
		}
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(append(files, "/etc/apt/sources.list"), lists...)
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		if strings.HasSuffix(file, ".sources") {
			for stanza := range strings.SplitSeq(string(text), "\n\n") {
				fields := map[string]string{}
				for line := range strings.Lines(stanza) {
					if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(k, "#") {
						fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
					}
				}
				uris := strings.Fields(fields["uris"])
				if slices.Contains(strings.Fields(fields["types"]), "deb") && len(uris) > 0 &&
					debianSuite(strings.Fields(fields["suites"]), codename) {
					keyring := fields["signed-by"]
					if !strings.HasPrefix(keyring, "/") {
						keyring = "" // an inline key, or none
					}
					return uris[0], keyring, debianCodename(codename), nil
				}
			}
			continue
		}
		for line := range strings.Lines(string(text)) {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "deb" {
				continue
			}
			f = f[1:]
			if strings.HasPrefix(f[0], "[") { // options
				for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
					f = f[1:]
				}
				if len(f) > 0 {
					f = f[1:]
				}
			}
			if len(f) >= 2 && debianSuite(f[1:2], codename) {
				return f[0], "", debianCodename(codename), nil
			}
		}
	}
	return "", "", "", fmt.Errorf("no Debian mirror for %q in the machine's apt sources", codename)
}

// debianSuite reports whether suites names the machine's release itself.
func debianSuite(suites []string, codename string) bool {
	return slices.Contains(suites, debianCodename(codename))
}

func debianCodename(codename string) string {
	if codename == "" {
		return "bookworm"
	}
	return codename
}

// fetchBusybox returns the path of a static busybox for m: the host's own,
// or, for another architecture, the machine's release's busybox-static for
// it, unpacked into .cache/busybox/ARCH on first use.
func fetchBusybox(m machine) (string, error) {
	if m.nativeOK {
		busybox, err := exec.LookPath("busybox")
		if err != nil {
			return "", fmt.Errorf("%w (apt-get install busybox-static)", err)
		}
		return busybox, nil
	}
	dir, err := filepath.Abs(filepath.Join(".cache", "busybox", m.debArch))
	if err != nil {
		return "", err
	}
	busybox := filepath.Join(dir, "bin", "busybox")
	if _, err := os.Stat(busybox); err == nil {
		return busybox, nil
	}
	apt, err := newAptSource("", m.debArch)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	download := apt.command("apt-get", "download", "busybox-static:"+m.debArch)
	download.Dir = dir
	download.Stdout, download.Stderr = os.Stderr, os.Stderr
	if err := download.Run(); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static:%s: %w", m.debArch, err)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "busybox-static_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download busybox-static left %d packages", len(debs))
	}
	defer os.Remove(debs[0])
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", debs[0], err, out)
	}
	if _, err := os.Stat(busybox); err != nil {
		return "", fmt.Errorf("no bin/busybox in busybox-static:%s: %w", m.debArch, err)
	}
	return busybox, nil
}
