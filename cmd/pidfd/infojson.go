//go:build linux

package main

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends r as encoding/json's Encoder writes it with
// SetIndent("", "  "), byte for byte (TestInfoJSON compares the two). The
// tool writes its one JSON document by hand so as not to link encoding/json:
// it took a tenth of the binary, all of which `pidfd run`, an init, keeps
// in memory.
func (r *report) appendJSON(b []byte) []byte {
	w := jsonWriter{b: b}
	w.open()
	w.key("pid")
	w.b = strconv.AppendInt(w.b, int64(r.PID), 10)
	w.key("ppid")
	w.b = strconv.AppendInt(w.b, int64(r.PPID), 10)
	if c := r.Creds; c != nil {
		w.key("creds")
		w.open()
		for _, id := range []struct {
			name string
			id   uint32
		}{
			{"RUID", c.RUID}, {"EUID", c.EUID}, {"SUID", c.SUID}, {"FSUID", c.FSUID},
			{"RGID", c.RGID}, {"EGID", c.EGID}, {"SGID", c.SGID}, {"FSGID", c.FSGID},
		} {
			w.key(id.name)
			w.b = strconv.AppendUint(w.b, uint64(id.id), 10)
		}
		w.close()
	}
	if r.CgroupID != 0 {
		w.key("cgroup_id")
		w.b = strconv.AppendUint(w.b, r.CgroupID, 10)
	}
	if r.ID != 0 {
		w.key("id")
		w.b = strconv.AppendUint(w.b, r.ID, 10)
	}
	if len(r.Namespaces) > 0 {
		w.key("namespaces")
		w.open()
		for _, name := range sortedKeys(r.Namespaces) {
			w.key(name)
			w.b = strconv.AppendUint(w.b, r.Namespaces[name], 10)
		}
		w.close()
	}
	w.key("kernel_features")
	w.open()
	f := r.Features
	for _, feature := range []struct {
		name string
		has  bool
	}{
		{"PeerPidFd", f.PeerPidFd}, {"ThreadPidFds", f.ThreadPidFds}, {"ExitInfo", f.ExitInfo},
		{"IDs", f.IDs}, {"Coredumps", f.Coredumps}, {"AutoKill", f.AutoKill},
	} {
		w.key(feature.name)
		w.b = strconv.AppendBool(w.b, feature.has)
	}
	w.close()
	if len(r.Errors) > 0 {
		w.key("errors")
		w.open()
		for _, what := range sortedKeys(r.Errors) {
			w.key(what)
			w.b = appendJSONString(w.b, r.Errors[what])
		}
		w.close()
	}
	w.close()
	return append(w.b, '\n')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonWriter writes JSON objects indented by two spaces a level.
type jsonWriter struct {
	b     []byte
	depth int
	empty bool // the object just opened has no member yet
}

func (w *jsonWriter) open() {
	w.b = append(w.b, '{')
	w.depth++
	w.empty = true
}

// key starts a member; its value follows.
func (w *jsonWriter) key(name string) {
	if !w.empty {
		w.b = append(w.b, ',')
	}
	w.empty = false
	w.newline()
	w.b = appendJSONString(w.b, name)
	w.b = append(w.b, ": "...)
}

func (w *jsonWriter) close() {
	w.depth--
	if !w.empty {
		w.newline()
	}
	w.b = append(w.b, '}')
	w.empty = false
}

func (w *jsonWriter) newline() {
	w.b = append(w.b, '\n')
	for range w.depth {
		w.b = append(w.b, "  "...)
	}
}

// appendJSONString appends s quoted as encoding/json quotes it by default
// (with HTML escaping): invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped, as are <, > and &.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\b':
				b = append(b, `\b`...)
			case c == '\f':
				b = append(b, `\f`...)
			case c == '\n':
				b = append(b, `\n`...)
			case c == '\r':
				b = append(b, `\r`...)
			case c == '\t':
				b = append(b, `\t`...)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
