// Package identity tells who a unix socket peer is beyond its uid and
// gid: whether it runs on the host or in a container, and which container,
// from its cgroup, verified against the engine, with the peer's pidfd
// making sure the /proc reads were about the process that connected.
package identity

import (
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
func ContainerID(cgroupFile string) (id string, contained bool, err error) {
	var found string
	for rest := cgroupFile; len(rest) > 0; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if len(line) == 0 {
			continue
		}
		// hierarchy-ID:controllers:path; the path may hold colons.
		_, afterID, ok1 := strings.Cut(line, ":")
		_, path, ok2 := strings.Cut(afterID, ":")
		if !ok1 || !ok2 {
			return "", true, fmt.Errorf("cgroup line %q: want id:controllers:path", line)
		}
		lineID, lineContained := innermost(path)
		contained = contained || lineContained
		switch {
		case lineID == "":
		case found == "":
			found = lineID
		case found != lineID:
			return "", true, errAmbiguous
		}
	}
	if found == "" {
		return "", contained, nil
	}
	return found, true, nil
}

// innermost returns the container id of a cgroup path's last component,
// and whether any component names a container.
func innermost(path string) (string, bool) {
	path = strings.Trim(path, "/")
	contained := false
	var last, before string
	for rest, more := path, true; more; {
		var c string
		c, rest, more = strings.Cut(rest, "/")
		if _, ok := componentID(c); ok || strings.HasPrefix(c, "libpod-conmon-") {
			contained = true
		}
		before, last = last, c
	}
	// crun puts Podman's container process one level down, in a
	// cgroup of its own named "container".
	if last == "container" && before != "" && strings.HasPrefix(before, "libpod-") {
		last = before
	}
	id, _ := componentID(last)
	return id, contained
}

// componentID reads one cgroup path component as the engines name a
// container's cgroup: the bare id (cgroupfs driver, under /docker or a
// cgroup parent), docker-<id>.scope (systemd driver, rootful or rootless
// under user@<uid>.service), libpod-<id>.scope (Podman).
func componentID(c string) (string, bool) {
	for _, prefix := range [...]string{"docker-", "libpod-"} {
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
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
