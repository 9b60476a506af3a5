//go:build linux

package pidfd

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// What a subreaper Tree reads of this process (tree_reaper_linux.go): its
// children, and the processes its pidfds name.

// namedByPidFds returns the PIDs that the pidfds of this process name,
// but for those in ours.
func namedByPidFds(ours map[int]bool) (map[int]bool, error) {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	names, err := dir.Readdirnames(-1)
	dirFd := int(dir.Fd())
	dir.Close()
	if err != nil {
		return nil, err
	}
	named := map[int]bool{}
	var b procBuffer
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dirFd || ours[fd] {
			continue
		}
		link, err := os.Readlink(procSelfFd(fd))
		if err != nil || link != "anon_inode:[pidfd]" && !strings.HasPrefix(link, "pidfd:") {
			continue
		}
		if pid, err := b.fdinfoPIDField(fd); err == nil && pid > 0 {
			named[pid] = true
		}
	}
	return named, nil
}

// childrenOf lists the children of the process pid, of all its threads
// (each thread has children of its own in the kernel). A thread that exits
// hands its children to another of its process: if the threads changed
// while they were read, they are read again. Where the kernel has no
// children files (CONFIG_PROC_CHILDREN), every process's parent is read.
func childrenOf(pid int) ([]int, error) {
	taskDir := "/proc/" + strconv.Itoa(pid) + "/task"
	for range 10 {
		tasks, err := readNames(taskDir)
		if err != nil {
			return nil, err
		}
		var kids []int
		for _, tid := range tasks {
			list, err := os.ReadFile(taskDir + "/" + tid + "/children")
			if errors.Is(err, fs.ErrNotExist) {
				if _, statErr := os.Stat(taskDir + "/" + tid); statErr == nil {
					return childrenByScan(pid)
				}
				continue // the thread has exited
			}
			if err != nil {
				return nil, err
			}
			for _, field := range bytes.Fields(list) {
				if kid, err := strconv.Atoi(string(field)); err == nil {
					kids = append(kids, kid)
				}
			}
		}
		again, err := readNames(taskDir)
		if err != nil {
			return nil, err
		}
		if slices.Equal(tasks, again) {
			return kids, nil
		}
	}
	return childrenByScan(pid)
}

// childrenByScan lists the processes whose parent is pid, by the parent
// field of every /proc/PID/stat.
func childrenByScan(parent int) ([]int, error) {
	names, err := readNames("/proc")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold anything.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		if fields := bytes.Fields(rest); len(fields) > 1 && string(fields[1]) == strconv.Itoa(parent) {
			kids = append(kids, pid)
		}
	}
	return kids, nil
}

// readNames lists a directory, sorted.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}
