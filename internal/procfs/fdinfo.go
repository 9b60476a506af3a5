// Package procfs parses the /proc files the pidfd package falls back to.
// The parsers take bytes already read and never allocate.
package procfs

import "bytes"

// FdinfoPID returns the value of the "Pid:" line of a pidfd's
// /proc/PID/fdinfo/FD text: the process's PID in the reader's PID namespace,
// 0 if it is not visible there, -1 once it has been reaped (Linux 5.10+).
func FdinfoPID(fdinfo []byte) (pid int, ok bool) {
	return field(fdinfo, "Pid:")
}

// NSpidLevels returns how many PID namespaces the "NSpid:" line of a
// /proc/PID/status text lists: 1 when the process lives in the PID namespace
// of that /proc mount, more when it lives in one nested below.
func NSpidLevels(status []byte) (int, bool) {
	line, ok := lineAfter(status, "NSpid:")
	if !ok {
		return 0, false
	}
	n := len(bytes.Fields(line))
	return n, n > 0
}

// field finds the line that starts with name and parses the decimal integer
// after it, skipping blanks.
func field(text []byte, name string) (int, bool) {
	rest, ok := lineAfter(text, name)
	if !ok {
		return 0, false
	}
	return parseInt(bytes.TrimLeft(rest, " \t"))
}

// lineAfter returns the rest of the first line that starts with name.
func lineAfter(text []byte, name string) ([]byte, bool) {
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if rest, found := bytes.CutPrefix(line, []byte(name)); found {
			return rest, true
		}
	}
	return nil, false
}

// parseInt parses an optionally negative decimal int32, the range of pid_t.
func parseInt(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, ok := parseUint(b, 1<<31-1)
	if neg {
		return -int(n), ok
	}
	return int(n), ok
}

// parseUint parses a decimal number of at most max, digits only.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n > (max-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
