// Package identity tells who a unix socket peer is beyond its uid and
// gid: whether it runs on the host or in a container, and which container,
// from its cgroup, verified against the engine, with the peer's pidfd
// making sure the /proc reads were about the process that connected.
package identity

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// errAmbiguous marks a cgroup file whose lines name different containers.
var errAmbiguous = errors.New("the cgroup lines name different containers")

// ContainerID returns the container a /proc/<pid>/cgroup file places the
// process in: on each line, the id of the path's innermost component, and
// the same one on every line that names one. Only the innermost component
// counts: the path above it is the container's cgroup parent, which
// whoever creates a container chooses, and may hold another container's
// id. contained reports whether any component anywhere looks like a
// container's, even when no id can be told: such a process is not taken
// for a host process.
func ContainerID(cgroupFile []byte) (id string, contained bool, err error) {
	for line := range bytes.Lines(cgroupFile) {
		line = bytes.TrimRight(line, "\n")
		if len(line) == 0 {
			continue
		}
		// hierarchy-ID:controllers:path; the path may hold colons.
		parts := bytes.SplitN(line, []byte(":"), 3)
		if len(parts) != 3 {
			return "", true, fmt.Errorf("cgroup line %q: want id:controllers:path", line)
		}
		lineID, lineContained := innermost(string(parts[2]))
		contained = contained || lineContained
		switch {
		case lineID == "":
		case id == "":
			id = lineID
		case id != lineID:
			return "", true, errAmbiguous
		}
	}
	return id, contained || id != "", nil
}

// innermost returns the container id of a cgroup path's last component,
// and whether any component names a container.
func innermost(path string) (string, bool) {
	comps := strings.Split(strings.Trim(path, "/"), "/")
	contained := false
	for _, c := range comps {
		if _, ok := componentID(c); ok || strings.HasPrefix(c, "libpod-conmon-") {
			contained = true
		}
	}
	last := comps[len(comps)-1]
	// crun puts Podman's container process one level down, in a
	// cgroup of its own named "container".
	if last == "container" && len(comps) > 1 && strings.HasPrefix(comps[len(comps)-2], "libpod-") {
		last = comps[len(comps)-2]
	}
	id, _ := componentID(last)
	return id, contained
}

// componentID reads one cgroup path component as the engines name a
// container's cgroup: the bare id (cgroupfs driver, under /docker or a
// cgroup parent), docker-<id>.scope (systemd driver, rootful or rootless
// under user@<uid>.service), libpod-<id>.scope (Podman).
func componentID(c string) (string, bool) {
	for _, prefix := range []string{"docker-", "libpod-"} {
		if rest, ok := strings.CutPrefix(c, prefix); ok {
			if id, ok := strings.CutSuffix(rest, ".scope"); ok && isID(id) {
				return id, true
			}
			return "", false
		}
	}
	if isID(c) {
		return c, true
	}
	return "", false
}

func isID(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}
