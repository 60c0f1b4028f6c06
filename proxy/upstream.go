package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// CheckUpstream connects to the engine socket once and hangs up. Its error
// says what an admin must do, as the 502 answers will: the filter still
// serves when the engine is missing, so this is what makes the cause
// visible before the first client hits it.
func CheckUpstream(path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return errors.New(describeUpstream(path, err))
	}
	return c.Close()
}

// describeUpstream turns a failure to reach the engine into the cause and
// the fix, for the client's 502 and the daemon's log.
func describeUpstream(path string, err error) string {
	prefix := "cannot reach the Docker engine at " + path + ": "
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return prefix + "no such socket: the engine is not running (or not installed), " +
			"or --upstream/SOCKET_PATH names the wrong path"
	case errors.Is(err, syscall.ECONNREFUSED):
		return prefix + "connection refused: the engine is not running (a socket is left from an earlier one)"
	case errors.Is(err, fs.ErrPermission):
		return prefix + "permission denied: " + accessHint(path, currentIdentity())
	}
	return prefix + unwrapOpError(err).Error()
}

// identity is who this process is, as far as file access goes.
type identity struct {
	uid  int
	gids []int // the effective gid and the supplementary ones
}

func currentIdentity() identity {
	gids, _ := os.Getgroups()
	return identity{uid: os.Geteuid(), gids: append(gids, os.Getegid())}
}

// accessHint names the socket's owner, group and mode and what gives this
// daemon access: membership of the socket's group, through the group
// database or a systemd drop-in.
func accessHint(path string, me identity) string {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("cannot inspect the socket (%v)", unwrapOpError(err))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "cannot inspect the socket"
	}
	group := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	self, addSelf := "uid "+strconv.Itoa(me.uid), ""
	if u, err := user.LookupId(strconv.Itoa(me.uid)); err == nil {
		self = u.Username
		addSelf = " (usermod -aG " + group + " " + self + ")"
	}
	owner := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	mode := fi.Mode().Perm()
	desc := fmt.Sprintf("the socket is %s:%s mode %04o", owner, group, mode)
	if mode&0o060 != 0o060 || st.Gid == 0 {
		return desc + ", which gives no group access: make the engine create it with a group " +
			"of its own (dockerd --group, or SocketGroup= of docker.socket), then give " + self + " that group"
	}
	if slices.Contains(me.gids, int(st.Gid)) {
		return desc + " and " + self + " is in group " + group + ": check the directories on the path"
	}
	return desc + " and " + self + " is not in group " + group + ": add it to the group" + addSelf +
		" or, under systemd, set SupplementaryGroups=" + group +
		" in a drop-in (systemctl edit docker-socket-filter), then restart the service"
}
