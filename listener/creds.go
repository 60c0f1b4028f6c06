package listener

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"golang.org/x/sys/unix"
)

// Creds are the credentials the kernel recorded for a unix socket peer when
// it connected. Later setuid calls or fd passing by the peer do not change
// them.
type Creds struct {
	PID    int32
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, from SO_PEERGROUPS
	// Proc is where the peer's process runs, found out at accept with
	// Config.Procs, or nil: no Procs, or the process could not be
	// found out (it may have exited, or run where the filter cannot see).
	Proc *peerproc.Facts
}

// ReadCreds reads SO_PEERCRED and SO_PEERGROUPS from a connected socket.
func ReadCreds(c *net.UnixConn) (Creds, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Creds{}, fmt.Errorf("peer credentials: %w", err)
	}
	var creds Creds
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		var ucred *unix.Ucred
		ucred, sockErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if sockErr != nil {
			sockErr = fmt.Errorf("SO_PEERCRED: %w", sockErr)
			return
		}
		creds.PID, creds.UID, creds.GID = ucred.Pid, ucred.Uid, ucred.Gid
		creds.Groups, sockErr = peerGroups(int(fd))
	})
	if err == nil {
		err = sockErr
	}
	if err != nil {
		return Creds{}, fmt.Errorf("peer credentials: %w", err)
	}
	return creds, nil
}

// peerGroups reads SO_PEERGROUPS as raw gids. The kernel answers ERANGE with
// the size it needs when the buffer is short, so the buffer grows to fit.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 32)
	for {
		size := uint32(len(buf) * 4)
		var p unsafe.Pointer
		if len(buf) > 0 {
			p = unsafe.Pointer(&buf[0])
		}
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(p), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == 0:
			return buf[:size/4], nil
		case errors.Is(errno, unix.ERANGE) && int(size/4) > len(buf):
			buf = make([]uint32, size/4)
		default:
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", errno)
		}
	}
}
