package identity

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"

	"github.com/docker-socket-filter/docker-socket-filter/internal/procfs"
	"golang.org/x/sys/unix"
)

// peerProc is what /proc says about a peer, read while its pidfd showed
// it alive.
type peerProc struct {
	cgroup []byte
	// id and contained are what the cgroup says (ContainerID).
	id        string
	contained bool
	// nested is true when the peer's pid namespace is not the filter's:
	// it runs in a container or a sandbox of some kind. Only a peer
	// whose cgroup is the host's needs it found out.
	nested bool
}

// errExited marks a peer that is gone: whatever /proc says under its pid
// may be about another process.
var errExited = errors.New("the process that connected has exited")

// readPeer reads a peer's cgroup from procRoot (/proc), unless the one
// read at accept is given, and for a peer whose cgroup is the host's its
// pid namespace depth, from its pidfd's fdinfo (SO_PEERPIDFD names the
// very process that connected). Then it checks through the pidfd that the
// process is still running: only then was the pid still its own while
// its cgroup was read, whenever since the connection that was.
func readPeer(conn syscall.Conn, pid int32, cgroup []byte, procRoot string, known *namespaces) (peerProc, error) {
	if pid <= 0 {
		return peerProc{}, errors.New("the peer's pid is not visible from the filter's pid namespace")
	}
	pidfd, err := peerPidfd(conn)
	if err != nil {
		return peerProc{}, err
	}
	defer unix.Close(pidfd)
	if cgroup == nil {
		if cgroup, err = procfs.ReadFile(procRoot + "/" + strconv.Itoa(int(pid)) + "/cgroup"); err != nil {
			return peerProc{}, fmt.Errorf("read the peer's cgroup: %w", err)
		}
	}
	pp := peerProc{cgroup: cgroup}
	if pp.id, pp.contained, err = ContainerID(cgroup); err != nil {
		return peerProc{}, err
	}
	if !pp.contained {
		if pp.nested, err = known.nested(pidfd, procRoot); err != nil {
			return peerProc{}, err
		}
	}
	if exited, err := hasExited(pidfd); err != nil || exited {
		return peerProc{}, errors.Join(errExited, err)
	}
	return pp, nil
}

// namespaces remembers whether processes run in a pid namespace of their
// own, by the inode of their pidfd, which no other process has while the
// system runs (pidfs, Linux 6.9). A process never changes its pid
// namespace, so one that connects again costs no fdinfo read.
type namespaces struct {
	mu sync.Mutex
	// pidfs is 0 until the first pidfd is looked at, 1 if pidfds are
	// pidfs files, -1 if not (their inodes are then all the same one,
	// and tell nothing).
	pidfs   int8
	byInode map[uint64]bool
}

// maxNamespaces bounds what namespaces remembers: past it, it forgets all.
const maxNamespaces = 4096

// nested reports whether the process of pidfd runs in a pid namespace
// other than the one procRoot belongs to: the depth of the NSpid line of
// the pidfd's own fdinfo, which, unlike the process's status, is the
// filter's to read and costs the kernel little to write.
func (n *namespaces) nested(pidfd int, procRoot string) (bool, error) {
	inode, ok := n.inode(pidfd)
	if ok {
		n.mu.Lock()
		nested, known := n.byInode[inode]
		n.mu.Unlock()
		if known {
			return nested, nil
		}
	}
	info, err := procfs.ReadFile(procRoot + "/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return false, fmt.Errorf("read the peer's pidfd fdinfo: %w", err)
	}
	depth, err := nsDepth(info)
	if err != nil {
		return false, err
	}
	if ok {
		n.mu.Lock()
		if n.byInode == nil || len(n.byInode) >= maxNamespaces {
			n.byInode = make(map[uint64]bool)
		}
		n.byInode[inode] = depth > 1
		n.mu.Unlock()
	}
	return depth > 1, nil
}

// inode returns the pidfs inode of pidfd, if pidfds are pidfs files
// whose inode alone names a process: on 32-bit systems it takes the
// inode's generation too, so nothing is remembered there.
func (n *namespaces) inode(pidfd int) (uint64, bool) {
	if strconv.IntSize < 64 {
		return 0, false
	}
	n.mu.Lock()
	pidfs := n.pidfs
	n.mu.Unlock()
	if pidfs == 0 {
		var fs unix.Statfs_t
		pidfs = -1
		if unix.Fstatfs(pidfd, &fs) == nil && fs.Type == unix.PID_FS_MAGIC {
			pidfs = 1
		}
		n.mu.Lock()
		n.pidfs = pidfs
		n.mu.Unlock()
	}
	if pidfs < 0 {
		return 0, false
	}
	var st unix.Stat_t
	if unix.Fstat(pidfd, &st) != nil {
		return 0, false
	}
	return st.Ino, true
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

// nsDepth counts the pids of a pidfd's fdinfo NSpid line: one per pid
// namespace from the one /proc belongs to down to the process's own. The
// kernel writes a first pid of 0 for a process that /proc's namespace
// cannot see, and -1 for one that is gone: neither says where it runs.
func nsDepth(fdinfo []byte) (int, error) {
	for line := range bytes.Lines(fdinfo) {
		if rest, ok := bytes.CutPrefix(line, []byte("NSpid:")); ok {
			pids := bytes.Fields(rest)
			if len(pids) == 0 {
				break
			}
			if first, err := strconv.Atoi(string(pids[0])); err != nil || first <= 0 {
				return 0, fmt.Errorf("the peer's pidfd fdinfo says NSpid %q: the process is gone or not visible", bytes.TrimSpace(rest))
			}
			return len(pids), nil
		}
	}
	return 0, errors.New("the peer's pidfd fdinfo has no NSpid line")
}
