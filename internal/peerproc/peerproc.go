// Package peerproc finds out where the process at the other end of a unix
// connection runs: its cgroup, and whether its pid namespace is the
// filter's. It reads them while the process's pidfd (SO_PEERPIDFD) shows
// it alive, so that a pid taken by another process since the connection
// cannot answer for it, and remembers them by its pidfs inode, which no
// other process has while the system runs, answering from memory only
// while the process runs: a process that connects again costs no /proc
// read.
package peerproc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"unique"

	"github.com/docker-socket-filter/docker-socket-filter/internal/procfs"
	"golang.org/x/sys/unix"
)

// Facts are what /proc said of a peer's process.
// They are shared by every connection of the process: read only.
type Facts struct {
	cgroup unique.Handle[string]
	nested bool
}

// Cgroup is the process's /proc/<pid>/cgroup file.
func (f *Facts) Cgroup() string { return f.cgroup.Value() }

// Nested reports whether the process's pid namespace is not the
// filter's: it runs in a container or a sandbox of some kind.
func (f *Facts) Nested() bool { return f.nested }

// ErrExited marks a process that is gone: whatever /proc says under its
// pid may be about another process.
var ErrExited = errors.New("the process that connected has exited")

// Reader reads and remembers peers' Facts.
type Reader struct {
	root string

	mu sync.Mutex
	// pidfs is 0 until the first pidfd is looked at, 1 if pidfds are
	// pidfs files, -1 if not (their inodes are then all the same one,
	// and tell nothing).
	pidfs   int8
	byInode map[uint64]*Facts
	bytes   int
}

// maxRemembered and maxRememberedBytes bound what a Reader remembers: the
// processes, and the length of their cgroup files, counted for each
// process although the processes of one cgroup share one text (a file
// with a line per v1 hierarchy is a few hundred bytes; a cgroup delegated
// to a user may have a path of up to 4 KiB).
const (
	maxRemembered      = 4096
	maxRememberedBytes = 2 << 20
)

// New returns a Reader of the /proc mounted at root.
func New(root string) *Reader { return &Reader{root: root} }

// Root is the /proc the Reader reads.
func (r *Reader) Root() string { return r.root }

// Read returns the Facts of the process that connected conn, whose pid
// SO_PEERCRED gave as pid.
//
// They are remembered, on 64-bit Linux 6.9 and later, and answered from
// memory while the process runs. A process does not change its pid
// namespace; its cgroup changes only when root (or whoever the cgroup is
// delegated to, such as the process itself) moves it, and it keeps the
// Facts it had at its first connection.
func (r *Reader) Read(conn syscall.Conn, pid int32) (*Facts, error) {
	if pid <= 0 {
		return nil, errors.New("the peer's pid is not visible from the filter's pid namespace")
	}
	pidfd, err := peerPidfd(conn)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pidfd)
	inode, remember := r.inode(pidfd)
	if remember {
		r.mu.Lock()
		f := r.byInode[inode]
		r.mu.Unlock()
		if f != nil {
			// A peer that exited still gets a pidfd while it is a
			// zombie, and from Linux 6.16 even once reaped: what is
			// remembered answers only for a live one.
			if exited, err := Exited(pidfd); err != nil || exited {
				return nil, errors.Join(ErrExited, err)
			}
			return f, nil
		}
	}
	proc := r.root + "/" + strconv.Itoa(int(pid))
	cgroup, err := procfs.ReadFile(proc + "/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read the peer's cgroup: %w", err)
	}
	if hasV1Lines(cgroup) {
		// A process whose leader thread is exiting reads as in the
		// root cgroup of every v1 hierarchy, while its other threads
		// run on where they were: the host's cgroup, for all the
		// file says. Read after the cgroup: the flag stays once set.
		stat, err := procfs.ReadFile(proc + "/stat")
		if err != nil {
			return nil, fmt.Errorf("read the peer's stat: %w", err)
		}
		switch leaderExiting, err := exiting(stat); {
		case err != nil:
			return nil, err
		case leaderExiting:
			return nil, errors.New("the peer's leader thread is exiting: its cgroup v1 lines do not say where it runs")
		}
	}
	// The pidfd's own fdinfo, unlike the process's status, is the
	// filter's to read, costs the kernel little to write, and cannot be
	// about another process.
	info, err := procfs.ReadFile(r.root + "/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return nil, fmt.Errorf("read the peer's pidfd fdinfo: %w", err)
	}
	depth, err := nsDepth(info)
	if err != nil {
		return nil, err
	}
	if exited, err := Exited(pidfd); err != nil || exited {
		return nil, errors.Join(ErrExited, err)
	}
	f := &Facts{cgroup: unique.Make(string(cgroup)), nested: depth > 1}
	if remember {
		r.remember(inode, f)
	}
	return f, nil
}

// remember keeps f for the process of inode, within the bounds: past
// them, everything is forgotten, and the processes connecting next are
// read afresh.
func (r *Reader) remember(inode uint64, f *Facts) {
	size := len(f.Cgroup())
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.byInode[inode]; old != nil {
		// Two first connections of one process, found out at once.
		r.bytes -= len(old.Cgroup())
	}
	if r.byInode == nil || len(r.byInode) >= maxRemembered || r.bytes+size > maxRememberedBytes {
		r.byInode, r.bytes = make(map[uint64]*Facts), 0
	}
	r.byInode[inode] = f
	r.bytes += size
}

// inode returns the pidfs inode of pidfd, if pidfds are pidfs files
// (Linux 6.9) whose inode alone names a process: on 32-bit systems it
// takes the inode's generation too, so nothing is remembered there.
func (r *Reader) inode(pidfd int) (uint64, bool) {
	if strconv.IntSize < 64 {
		return 0, false
	}
	r.mu.Lock()
	pidfs := r.pidfs
	r.mu.Unlock()
	if pidfs == 0 {
		var fs unix.Statfs_t
		pidfs = -1
		if unix.Fstatfs(pidfd, &fs) == nil && fs.Type == unix.PID_FS_MAGIC {
			pidfs = 1
		}
		r.mu.Lock()
		r.pidfs = pidfs
		r.mu.Unlock()
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
		// ESRCH (or EINVAL before Linux 6.9): the peer is gone already;
		// ENOPROTOOPT before Linux 6.5. A zombie, and from Linux 6.16 a
		// reaped peer, gets a pidfd all the same, which shows it exited.
		return -1, fmt.Errorf("SO_PEERPIDFD: %w", sockErr)
	}
	return pidfd, nil
}

// Exited polls a pidfd, which is readable once its process exited.
func Exited(pidfd int) (bool, error) {
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

// pfExiting is the kernel's PF_EXITING task flag.
const pfExiting = 0x4

// exiting reports whether a /proc/<pid>/stat line says its task is
// exiting or has exited: PF_EXITING in its flags, or its state Z or X.
// The command's name, in parentheses, may hold anything, parentheses
// included: the fields are those after the last ')'.
func exiting(stat []byte) (bool, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false, errors.New("the peer's stat has no command name")
	}
	// state ppid pgrp session tty_nr tpgid flags
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 7 {
		return false, errors.New("the peer's stat is cut short")
	}
	flags, err := strconv.ParseUint(string(fields[6]), 10, 64)
	if err != nil {
		return false, fmt.Errorf("the peer's stat flags: %w", err)
	}
	state := string(fields[0])
	return flags&pfExiting != 0 || state == "Z" || state == "X", nil
}

// hasV1Lines reports whether a cgroup file has a line for a cgroup v1
// hierarchy: on those, the kernel says "/" for a task that is exiting.
func hasV1Lines(cgroup []byte) bool {
	for line := range bytes.Lines(cgroup) {
		if !bytes.HasPrefix(line, []byte("0::")) {
			return true
		}
	}
	return false
}
