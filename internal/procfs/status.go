package procfs

import "bytes"

// Status holds the fields of /proc/PID/status that the pidfd package
// falls back to.
type Status struct {
	PPid int
	UID  [4]uint32 // real, effective, saved, filesystem
	GID  [4]uint32
}

// ParseStatus reads the PPid:, Uid: and Gid: lines of a /proc/PID/status
// text. It reports false unless all three are there and well formed.
func ParseStatus(text []byte) (Status, bool) {
	var s Status
	ppid, ok := field(text, "PPid:")
	if !ok || ppid < 0 {
		return s, false
	}
	s.PPid = ppid
	if !ids(text, "Uid:", &s.UID) || !ids(text, "Gid:", &s.GID) {
		return s, false
	}
	return s, true
}

// Tgid returns the value of the "Tgid:" line of a /proc/PID/status text:
// the ID of the process the thread PID belongs to, equal to PID for the
// process's first thread.
func Tgid(status []byte) (int, bool) {
	return field(status, "Tgid:")
}

// ids parses the four tab-separated IDs of a Uid: or Gid: line.
func ids(text []byte, name string, into *[4]uint32) bool {
	line, ok := lineAfter(text, name)
	if !ok {
		return false
	}
	for i := range into {
		line = bytes.TrimLeft(line, " \t")
		end := bytes.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		n, ok := parseUint(line[:end], 1<<32-1) // uid_t, gid_t
		if !ok {
			return false
		}
		into[i] = uint32(n)
		line = line[end:]
	}
	return len(bytes.TrimSpace(line)) == 0
}

// CgroupV2Path returns the path of the "0::" line of a /proc/PID/cgroup
// text: the process's cgroup in the unified (v2) hierarchy.
// It refuses what names no directory under this reader's cgroup2 mount: a
// cgroup outside the reader's cgroup namespace ("/../x") or one removed
// meanwhile ("/x (deleted)").
func CgroupV2Path(text []byte) (string, bool) {
	path, ok := lineAfter(text, "0::")
	if !ok || len(path) == 0 || path[0] != '/' || bytes.HasSuffix(path, []byte(" (deleted)")) {
		return "", false
	}
	for elem := range bytes.SplitSeq(path[1:], []byte("/")) {
		if string(elem) == ".." {
			return "", false
		}
	}
	return string(path), true
}

// Cgroup2Mount returns where a /proc/PID/mountinfo text mounts the cgroup2
// filesystem at its root, or false.
func Cgroup2Mount(mountinfo []byte) (string, bool) {
	for len(mountinfo) > 0 {
		line := mountinfo
		if i := bytes.IndexByte(mountinfo, '\n'); i >= 0 {
			line, mountinfo = mountinfo[:i], mountinfo[i+1:]
		} else {
			mountinfo = nil
		}
		// id parent major:minor root mountpoint options [optional...] - fstype source superopts
		fields := bytes.Fields(line)
		sep := -1
		for i, f := range fields {
			if string(f) == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if string(fields[sep+1]) == "cgroup2" && string(fields[3]) == "/" {
			return unescapeOctal(fields[4]), true
		}
	}
	return "", false
}

// unescapeOctal undoes mountinfo's \NNN escapes of space, tab, newline and
// backslash.
func unescapeOctal(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+4 <= len(b) && isOctal(b[i+1:i+4]) {
			out = append(out, (b[i+1]-'0')<<6|(b[i+2]-'0')<<3|(b[i+3]-'0'))
			i += 3
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isOctal(b []byte) bool {
	if len(b) != 3 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '7' {
			return false
		}
	}
	return b[0] <= '3'
}

// StatStartTime returns field 22 of a /proc/PID/stat text: when the process
// started, in clock ticks after boot. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func StatStartTime(stat []byte) (uint64, bool) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, false
	}
	fields := bytes.Fields(stat[end+1:])
	const startTime = 22 - 3 // fields after ')' begin at field 3
	if len(fields) <= startTime {
		return 0, false
	}
	return parseUint(fields[startTime], 1<<64-1)
}
