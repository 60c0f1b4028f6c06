// Package identity tells who a unix socket peer is beyond its uid and
// gid: whether it runs on the host or in a container, and which container,
// from its cgroup, verified against the engine, with the peer's pidfd
// making sure the /proc reads were about the process that connected.
package identity

import (
	"bytes"
	"errors"
	"fmt"
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
	var found []byte
	for rest := cgroupFile; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			continue
		}
		// hierarchy-ID:controllers:path; the path may hold colons.
		_, afterID, ok1 := bytes.Cut(line, []byte(":"))
		_, path, ok2 := bytes.Cut(afterID, []byte(":"))
		if !ok1 || !ok2 {
			return "", true, fmt.Errorf("cgroup line %q: want id:controllers:path", line)
		}
		lineID, lineContained := innermost(path)
		contained = contained || lineContained
		switch {
		case lineID == nil:
		case found == nil:
			found = lineID
		case !bytes.Equal(found, lineID):
			return "", true, errAmbiguous
		}
	}
	if found == nil {
		return "", contained, nil
	}
	return string(found), true, nil
}

// innermost returns the container id of a cgroup path's last component,
// and whether any component names a container.
func innermost(path []byte) ([]byte, bool) {
	path = bytes.Trim(path, "/")
	contained := false
	var last, before []byte
	for rest, more := path, true; more; {
		var c []byte
		c, rest, more = bytes.Cut(rest, []byte("/"))
		if _, ok := componentID(c); ok || bytes.HasPrefix(c, []byte("libpod-conmon-")) {
			contained = true
		}
		before, last = last, c
	}
	// crun puts Podman's container process one level down, in a
	// cgroup of its own named "container".
	if string(last) == "container" && before != nil && bytes.HasPrefix(before, []byte("libpod-")) {
		last = before
	}
	id, _ := componentID(last)
	return id, contained
}

// componentID reads one cgroup path component as the engines name a
// container's cgroup: the bare id (cgroupfs driver, under /docker or a
// cgroup parent), docker-<id>.scope (systemd driver, rootful or rootless
// under user@<uid>.service), libpod-<id>.scope (Podman).
func componentID(c []byte) ([]byte, bool) {
	for _, prefix := range [...]string{"docker-", "libpod-"} {
		if rest, ok := bytes.CutPrefix(c, []byte(prefix)); ok {
			if id, ok := bytes.CutSuffix(rest, []byte(".scope")); ok && isID(id) {
				return id, true
			}
			return nil, false
		}
	}
	if isID(c) {
		return c, true
	}
	return nil, false
}

func isID(s []byte) bool {
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
