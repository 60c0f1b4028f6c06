package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/identity"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
)

// TestCountAs: only a peer found out to run on the host counts with the
// host's processes of its uid; one that could not be found out (it exited
// before its accept, or the kernel has no SO_PEERPIDFD) never does, so
// that such peers, from a container, cannot use up the host's
// connections.
func TestCountAs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	self, err := peerproc.New("/proc").Read(conn, int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	found := countAs(listener.Arrival{Creds: listener.Creds{UID: 0, PID: int32(os.Getpid()), Proc: self}})
	if _, contained, _ := identity.ContainerID(self.Cgroup()); !contained && found != "0" {
		t.Errorf("this host process, found out: counted as %q, want %q", found, "0")
	}
	cases := []struct {
		name string
		pid  int32
	}{
		{"gone before its accept", 0},
		{"found out only unchecked (no SO_PEERPIDFD)", int32(os.Getpid())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := countAs(listener.Arrival{Creds: listener.Creds{UID: 0, PID: c.pid}})
			if got == "0" {
				t.Errorf("a process not found out counted with the host's processes of its uid")
			}
		})
	}
}
