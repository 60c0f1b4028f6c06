package identity

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerProc is what /proc says about a peer, read while its pidfd showed
// it alive.
type peerProc struct {
	cgroup []byte
	// nested is true when the peer's pid namespace is not the filter's:
	// it runs in a container or a sandbox of some kind.
	nested bool
}

// errExited marks a peer that is gone: whatever /proc says under its pid
// may be about another process.
var errExited = errors.New("the process that connected has exited")

// readPeer reads a peer's cgroup and pid namespace depth from procRoot
// (/proc), then checks through the socket's pidfd (SO_PEERPIDFD, which
// names the very process that connected) that the process is still
// running: only then was the pid still its own while /proc was read.
func readPeer(conn syscall.Conn, pid int32, procRoot string) (peerProc, error) {
	if pid <= 0 {
		return peerProc{}, errors.New("the peer's pid is not visible from the filter's pid namespace")
	}
	pidfd, err := peerPidfd(conn)
	if err != nil {
		return peerProc{}, err
	}
	defer unix.Close(pidfd)
	dir := procRoot + "/" + strconv.Itoa(int(pid))
	cgroup, err := os.ReadFile(dir + "/cgroup")
	if err != nil {
		return peerProc{}, fmt.Errorf("read the peer's cgroup: %w", err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return peerProc{}, fmt.Errorf("read the peer's status: %w", err)
	}
	depth := nsDepth(status)
	if depth == 0 {
		return peerProc{}, errors.New("the peer's status has no NSpid line")
	}
	if exited, err := hasExited(pidfd); err != nil || exited {
		return peerProc{}, errors.Join(errExited, err)
	}
	return peerProc{cgroup: cgroup, nested: depth > 1}, nil
}

// peerPidfd returns a pidfd for the process that connected (Linux 6.5).
func peerPidfd(conn syscall.Conn) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("peer pidfd: %w", err)
	}
	pidfd, sockErr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) {
		pidfd, sockErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	}); err != nil {
		return -1, fmt.Errorf("peer pidfd: %w", err)
	}
	if sockErr != nil {
		// ESRCH (or EINVAL before Linux 6.9): the peer is gone already.
		return -1, fmt.Errorf("SO_PEERPIDFD: %w", sockErr)
	}
	return pidfd, nil
}

// hasExited polls a pidfd, which is readable once its process exited.
func hasExited(pidfd int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll the peer's pidfd: %w", err)
		}
		return n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0, nil
	}
}

// nsDepth counts the pids of a /proc/<pid>/status NSpid line: one per
// pid namespace from the one /proc belongs to down to the process's own.
// 0 means no such line.
func nsDepth(status []byte) int {
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("NSpid:")); ok {
			return len(bytes.Fields(rest))
		}
	}
	return 0
}
