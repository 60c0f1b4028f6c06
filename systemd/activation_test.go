package systemd

import (
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// passSockets puts n listening unix sockets at consecutive descriptors,
// as systemd does from 3 up, and returns the first descriptor and the
// sockets' paths. The test process's own descriptors are low, so the
// block is placed far above them.
func passSockets(t *testing.T, n int) (int, []string) {
	t.Helper()
	const first = 900
	var paths []string
	for i := range n {
		fd := first + i
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			t.Fatalf("descriptor %d is already in use", fd)
		}
		path := filepath.Join(t.TempDir(), "s"+strconv.Itoa(i)+".sock")
		ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := ul.File()
		ul.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Without close-on-exec, as a passed descriptor arrives.
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		t.Cleanup(func() { unix.Close(fd) })
		paths = append(paths, path)
	}
	return first, paths
}

// env is an environment for lookup and unset.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e env) unset(k string) error           { delete(e, k); return nil }

func TestActivatedPassesNamedSockets(t *testing.T) {
	first, paths := passSockets(t, 3)
	pid := os.Getpid()
	e := env{"LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDS": "3", "LISTEN_FDNAMES": "api::ci", "OTHER": "kept"}
	files, err := activated(e.lookup, e.unset, pid, first)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	want := []string{"api", "LISTEN_FD_" + strconv.Itoa(first+1), "ci"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	for i, f := range files {
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("socket %d: flags %#x (%v), want close-on-exec", i, flags, err)
		}
		// The file is the socket systemd passed: it answers at its path.
		l, err := net.FileListener(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Addr().String(); got != paths[i] {
			t.Errorf("socket %d listens at %q, want %q", i, got, paths[i])
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	if got := slices.Sorted(maps.Keys(e)); !slices.Equal(got, []string{"OTHER"}) {
		t.Errorf("environment left %q, want only OTHER", got)
	}
}

func TestActivatedPassesNothing(t *testing.T) {
	pid := os.Getpid()
	tests := []struct {
		name string
		env  env
	}{
		{"no LISTEN_PID", env{"LISTEN_FDS": "1"}},
		{"another process's", env{"LISTEN_PID": strconv.Itoa(pid + 1), "LISTEN_FDS": "1"}},
		{"LISTEN_PID not a pid", env{"LISTEN_PID": "self", "LISTEN_FDS": "1"}},
		{"zero sockets", env{"LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDS": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A descriptor that is not open: touching it would fail.
			files, err := activated(tt.env.lookup, tt.env.unset, pid, 1<<20)
			if err != nil || len(files) != 0 {
				t.Errorf("files %v, err %v; want none and no error", files, err)
			}
			if len(tt.env) != 0 {
				t.Errorf("environment left %v, want the hand-off's variables removed", tt.env)
			}
		})
	}
}

func TestActivatedRefusesBadHandOff(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name string
		env  env
		want string
	}{
		{"count unreadable", env{"LISTEN_PID": pid, "LISTEN_FDS": "two"}, `LISTEN_FDS "two"`},
		{"count missing", env{"LISTEN_PID": pid}, `LISTEN_FDS ""`},
		{"negative count", env{"LISTEN_PID": pid, "LISTEN_FDS": "-1"}, `LISTEN_FDS "-1"`},
		{"descriptor not open", env{"LISTEN_PID": pid, "LISTEN_FDS": "1"}, "descriptor 1048576 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := activated(tt.env.lookup, tt.env.unset, os.Getpid(), 1<<20)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("files %v, err %v; want an error with %q", files, err, tt.want)
			}
			if len(tt.env) != 0 {
				t.Errorf("environment left %v, want the hand-off's variables removed", tt.env)
			}
		})
	}
}
