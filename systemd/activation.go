// Package systemd is the daemon's side of two systemd protocols: the socket
// activation hand-off (LISTEN_FDS), which passes the listening sockets, and
// sd_notify, which tells systemd the daemon's state.
package systemd

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// firstFD is where systemd puts the first passed descriptor
// (SD_LISTEN_FDS_START).
const firstFD = 3

// Activated returns the sockets systemd passed to this process, in order,
// each named by its FileDescriptorName (LISTEN_FDNAMES) or, unnamed,
// LISTEN_FD_<fd>. None are passed when LISTEN_PID is absent or names
// another process. The environment is read through lookup, and the
// hand-off's variables are removed through unset whether or not they
// were meant for this process.
//
// The files are marked close-on-exec; the caller owns them.
func Activated(lookup func(string) (string, bool), unset func(string) error) ([]*os.File, error) {
	return activated(lookup, unset, os.Getpid(), firstFD)
}

func activated(lookup func(string) (string, bool), unset func(string) error, pid, first int) (files []*os.File, err error) {
	// The variables describe this process's descriptors: a child that
	// inherited them would take the sockets for its own.
	defer func() {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			if uerr := unset(k); uerr != nil && err == nil {
				err = fmt.Errorf("socket activation: unset %s: %w", k, uerr)
			}
		}
	}()
	v, ok := lookup("LISTEN_PID")
	if !ok {
		return nil, nil
	}
	if p, perr := strconv.Atoi(v); perr != nil || p != pid {
		return nil, nil
	}
	v, _ = lookup("LISTEN_FDS")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		// LISTEN_PID says the sockets are ours: ignoring a count we
		// cannot read would leave them unserved, silently.
		return nil, fmt.Errorf("socket activation: LISTEN_FDS %q is not a count of descriptors", v)
	}
	var names []string
	if v, ok := lookup("LISTEN_FDNAMES"); ok {
		names = strings.Split(v, ":")
	}
	for i := range n {
		fd := first + i
		// The descriptors must not leak into children the way the
		// variables would.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("socket activation: descriptor %d of %d: %w", fd, n, err)
		}
		name := "LISTEN_FD_" + strconv.Itoa(fd)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		files = append(files, os.NewFile(uintptr(fd), name))
	}
	return files, nil
}
