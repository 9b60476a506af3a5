//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/pidfd-go/pidfd"
)

var infoCommand = command{
	name:    "info",
	args:    "[-json] PID|self",
	summary: "PID, parent, credentials, cgroup, ID, namespaces, kernel features",
	doc: `Print what the kernel says of the process through its pidfd, and which
pidfd features the kernel offers. What the kernel cannot tell is listed
last, as unavailable, in a fixed order.`,
	setup: func(flags *flag.FlagSet) func([]string, stdio) (int, error) {
		asJSON := flags.Bool("json", false, "print JSON")
		return func(args []string, s stdio) (int, error) { return info(args, *asJSON, s) }
	},
}

type report struct {
	PID        int               `json:"pid"`
	PPID       int               `json:"ppid"`
	Creds      *pidfd.Creds      `json:"creds,omitempty"`
	CgroupID   uint64            `json:"cgroup_id,omitempty"`
	ID         uint64            `json:"id,omitempty"`
	Namespaces map[string]uint64 `json:"namespaces,omitempty"`
	Features   pidfd.Features    `json:"kernel_features"`
	Errors     map[string]string `json:"errors,omitempty"`

	unavailable []string // the keys of Errors, in the order asked
}

func info(args []string, asJSON bool, s stdio) (int, error) {
	if len(args) != 1 {
		return 2, usageError("info takes one PID or self")
	}
	var p *pidfd.PidFd
	var err error
	if args[0] == "self" {
		if p, err = pidfd.Self(); err != nil {
			return 1, err
		}
	} else {
		pids, err := parsePIDs(args)
		if err != nil {
			return 2, err
		}
		if p, err = pidfd.Open(pids[0]); err != nil {
			return 1, openError(pids[0], err)
		}
	}
	defer p.Close()
	r := report{Features: pidfd.KernelFeatures(), Errors: map[string]string{}, Namespaces: map[string]uint64{}}
	note := func(what string, err error) {
		if err != nil {
			msg := err.Error()
			if errors.Is(err, os.ErrProcessDone) { // a zombie's namespaces, say
				msg = strings.TrimSuffix(msg, os.ErrProcessDone.Error()) + "the process has exited"
			}
			r.Errors[what] = msg
			r.unavailable = append(r.unavailable, what)
		}
	}
	if r.PID, err = p.PID(); err != nil {
		if args[0] == "self" {
			return 1, err
		}
		return 1, fmt.Errorf("PID %s: %w", args[0], err)
	}
	r.PPID, err = p.PPID()
	note("ppid", err)
	if creds, err := p.Creds(); err == nil {
		r.Creds = &creds
	} else {
		note("creds", err)
	}
	r.CgroupID, err = p.CgroupID()
	note("cgroup_id", err)
	r.ID, err = p.ID()
	note("id", err)
	for ns := pidfd.NamespaceCgroup; ns <= pidfd.NamespaceUTS; ns++ {
		f, err := p.OpenNamespace(ns)
		if err != nil {
			note("ns/"+ns.String(), err)
			continue
		}
		var st syscall.Stat_t
		err = syscall.Fstat(int(f.Fd()), &st)
		f.Close()
		if err != nil {
			note("ns/"+ns.String(), fmt.Errorf("fstat: %w", err))
			continue
		}
		r.Namespaces[ns.String()] = st.Ino
	}
	if asJSON {
		_, err := s.out.Write(r.appendJSON(nil))
		return 0, err
	}
	fmt.Fprintf(s.out, "pid\t%d\nppid\t%d\n", r.PID, r.PPID)
	if c := r.Creds; c != nil {
		fmt.Fprintf(s.out, "uid\t%d %d %d %d\ngid\t%d %d %d %d\n", c.RUID, c.EUID, c.SUID, c.FSUID, c.RGID, c.EGID, c.SGID, c.FSGID)
	}
	fmt.Fprintf(s.out, "cgroup\t%d\nid\t%d\n", r.CgroupID, r.ID)
	for ns := pidfd.NamespaceCgroup; ns <= pidfd.NamespaceUTS; ns++ {
		if ino, ok := r.Namespaces[ns.String()]; ok {
			fmt.Fprintf(s.out, "ns/%s\t%d\n", ns, ino)
		}
	}
	fmt.Fprintf(s.out, "features\t%+v\n", r.Features)
	for _, what := range r.unavailable {
		fmt.Fprintf(s.out, "unavailable\t%s: %s\n", what, r.Errors[what])
	}
	return 0, nil
}
