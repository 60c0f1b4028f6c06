package listener

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"golang.org/x/sys/unix"
)

// handOver makes a listening unix socket and returns it as a file named
// name, the way systemd hands one over. The test's own listener is gone:
// only the file holds the socket.
func handOver(t *testing.T, name string) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	return named(t, ul, name), path
}

// named returns a listener's socket as a file called name.
func named(t *testing.T, l interface{ File() (*os.File, error) }, name string) *os.File {
	t.Helper()
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if c, ok := l.(interface{ Close() error }); ok {
		c.Close()
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), name)
}

// ping connects to path and returns the credentials l accepted the
// connection with.
func ping(t *testing.T, l *Listener, path string) Creds {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	defer c.Close()
	got, err := l.Accept()
	if err != nil {
		t.Fatalf("accept on %s: %v", path, err)
	}
	defer got.Close()
	return got.(*Conn).Creds
}

func TestOpenServesHandedSockets(t *testing.T) {
	api, apiPath := handOver(t, "api")
	ci, ciPath := handOver(t, "ci")
	ls, err := Open([]*os.File{api, ci}, Config{Path: filepath.Join(t.TempDir(), "unused.sock"), Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 {
		t.Fatalf("%d listeners, want 2", len(ls))
	}
	for i, want := range []struct{ name, path string }{{"api", apiPath}, {"ci", ciPath}} {
		l := ls[i]
		if l.Name() != want.name || l.Addr().String() != want.path {
			t.Errorf("listener %d: name %q at %q, want %q at %q", i, l.Name(), l.Addr(), want.name, want.path)
		}
		if creds := ping(t, l, want.path); creds.UID != uint32(os.Geteuid()) {
			t.Errorf("listener %d: peer uid %d, want %d", i, creds.UID, os.Geteuid())
		}
		l.Close()
		// The path belongs to whoever handed the socket over.
		if _, err := os.Lstat(want.path); err != nil {
			t.Errorf("closing listener %d removed its socket: %v", i, err)
		}
	}
	for _, f := range []*os.File{api, ci} {
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("file %s still open after Open (close: %v)", f.Name(), err)
		}
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(apiPath), "unused.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created its own socket although sockets were handed over (lstat: %v)", err)
	}
}

// TestOpenRefusesHandedNonUnix: peer credentials exist only on unix
// stream sockets, so anything else handed over stops the start, and the
// sockets already taken are let go.
func TestOpenRefusesHandedNonUnix(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T) *os.File
		want string
	}{
		{"tcp", func(t *testing.T) *os.File {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return named(t, l.(*net.TCPListener), "tcp")
		}, "is tcp, not a unix stream socket"},
		{"pipe", func(t *testing.T) *os.File {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
			return r
		}, "socket handed over ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good, goodPath := handOver(t, "good")
			bad := tt.make(t)
			after, _ := handOver(t, "after")
			_, err := Open([]*os.File{good, bad, after}, Config{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one with %q", err, tt.want)
			}
			if c, err := net.Dial("unix", goodPath); !errors.Is(err, syscall.ECONNREFUSED) {
				if c != nil {
					c.Close()
				}
				t.Errorf("the socket before the refused one still listens (dial: %v)", err)
			}
			for _, f := range []*os.File{good, bad, after} {
				if err := f.Close(); !errors.Is(err, os.ErrClosed) {
					t.Errorf("file %s left open (close: %v)", f.Name(), err)
				}
			}
		})
	}
}

// testGroup is a group the test may give a socket: any as root, else one
// of the test's own.
func testGroup(t *testing.T) uint32 {
	if os.Geteuid() == 0 {
		return 12345
	}
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g != os.Getegid() {
			return uint32(g)
		}
	}
	return uint32(os.Getegid())
}

func TestOpenCreates(t *testing.T) {
	gid := testGroup(t)
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string // error text; empty: the socket is created
	}{
		{"new path", func(*testing.T, string) {}, ""},
		{"stale socket replaced", func(t *testing.T, path string) {
			ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ul.SetUnlinkOnClose(false)
			ul.Close() // the file stays, nobody listens: a dead daemon's socket
		}, ""},
		{"live socket refused", func(t *testing.T, path string) {
			ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ul.Close() })
		}, "another server is already listening there"},
		{"regular file refused", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a socket: refusing to replace it"},
		{"symlink refused", func(t *testing.T, path string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(path), "elsewhere"), path); err != nil {
				t.Fatal(err)
			}
		}, "is not a socket: refusing to replace it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.sock")
			tt.prepare(t, path)
			before, _ := os.Lstat(path)
			ls, err := Open(nil, Config{Path: path, Mode: 0o640, Group: &gid})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err %v, want one with %q", err, tt.want)
				}
				if after, _ := os.Lstat(path); before == nil || after == nil || !os.SameFile(before, after) {
					t.Errorf("the refused path was changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want a socket with 0640", fi.Mode())
			}
			if got := fi.Sys().(*syscall.Stat_t).Gid; got != gid {
				t.Errorf("group %d, want %d", got, gid)
			}
			if ls[0].Name() != "" {
				t.Errorf("created socket named %q, want no name", ls[0].Name())
			}
			ping(t, ls[0], path)
			ls[0].Close()
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("created socket left behind after Close (lstat: %v)", err)
			}
		})
	}
}

// TestOpenKeepsGroupByDefault: without Group the socket keeps the group
// the daemon creates files with.
func TestOpenKeepsGroupByDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ls, err := Open(nil, Config{Path: path, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Sys().(*syscall.Stat_t).Gid; got != uint32(os.Getegid()) {
		t.Errorf("group %d, want the daemon's %d", got, os.Getegid())
	}
}

// TestAcceptFindsOutThePeer: with Procs, an accepted connection carries
// where its peer's process runs, found out before CountAs is asked; one
// whose process cannot be found out is still served, with nothing.
func TestAcceptFindsOutThePeer(t *testing.T) {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		procs  *peerproc.Reader
		cgroup string
	}{
		{"found out", peerproc.New("/proc"), string(own)},
		{"not found out", peerproc.New(t.TempDir()), ""},
		{"not asked", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.sock")
			var counted *peerproc.Facts
			ls, err := Open(nil, Config{Path: path, Mode: 0o600, Procs: c.procs,
				CountAs: func(a Arrival) string { counted = a.Creds.Proc; return "k" }})
			if err != nil {
				t.Fatal(err)
			}
			defer ls[0].Close()
			creds := ping(t, ls[0], path)
			got := ""
			if creds.Proc != nil {
				got = creds.Proc.Cgroup()
			}
			if got != c.cgroup || counted != creds.Proc {
				t.Errorf("the connection's cgroup %q (counted with %v), want %q", got, counted, c.cgroup)
			}
		})
	}
}
