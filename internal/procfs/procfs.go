// Package procfs reads the small files of /proc a connection's peer is
// judged by, with bare system calls: os.ReadFile's stat and poller
// registration cost as much as the read itself, and every new connection
// pays for them.
package procfs

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// ReadFile reads the whole of a file, as os.ReadFile does, except that a
// read that returns less than it asked for, ending with a newline, ends
// the file: the kernel writes out the files this is for (a process's
// cgroup and stat, a pidfd's fdinfo) in one piece, so a second read would only
// return nothing. Its errors are *fs.PathError, so that
// errors.Is(err, fs.ErrNotExist) holds for a pid that is gone.
func ReadFile(path string) ([]byte, error) {
	fd, err := openRetrying(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	// Most of these files fit; a longer one grows the buffer.
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := cap(buf) - len(buf)
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if n < room && buf[len(buf)-1] == '\n' {
			return buf, nil
		}
	}
}

func openRetrying(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
