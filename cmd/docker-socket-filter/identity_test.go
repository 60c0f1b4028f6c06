package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
)

// TestCountAs: a peer whose process could not be found out (it exited
// before its accept, say) is not counted with the host's processes of
// its uid, so that such peers, from a container, cannot use up the
// host's connections.
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
	found := countAs(listener.Arrival{Creds: listener.Creds{UID: 0, Proc: self}})
	notFound := countAs(listener.Arrival{Creds: listener.Creds{UID: 0}})
	if notFound == found || notFound != "0 whose process was not found out" {
		t.Errorf("not found out: counted as %q, this process as %q; want %q, apart", notFound, found, "0 whose process was not found out")
	}
}
