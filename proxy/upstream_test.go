package proxy

import (
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listen opens a unix socket at path; with keep, closing it leaves the
// file behind, as an engine that died does.
func listen(t *testing.T, path string, keep bool) *net.UnixListener {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(!keep)
	return l
}

func TestCheckUpstream(t *testing.T) {
	dir := t.TempDir()
	up := filepath.Join(dir, "up.sock")
	l := listen(t, up, false)
	defer l.Close()
	stale := filepath.Join(dir, "stale.sock")
	listen(t, stale, true).Close()

	tests := []struct {
		name string
		path string
		want string // "" for no error
	}{
		{"engine listening", up, ""},
		{"no socket", filepath.Join(dir, "missing.sock"), "no such socket: the engine is not running"},
		{"socket left by a stopped engine", stale, "connection refused: the engine is not running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckUpstream(tt.path, time.Second)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckUpstream: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckUpstream: nil, want %q", tt.want)
			}
			prefix := "cannot reach the Docker engine at " + tt.path + ": "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckUpstream: %q, want %q then %q", err, prefix, tt.want)
			}
		})
	}
}

// The permission cases are judged against a given identity, so that they
// read the same whoever runs the tests (root would simply connect).
func TestDescribeUpstreamPermission(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.sock")
	l := listen(t, path, false)
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	gid := int(fi.Sys().(*syscall.Stat_t).Gid)
	if gid == 0 {
		// A group of root's reads as "no group access"; the group cases
		// need a group of their own.
		gid = 4242
		if err := os.Chown(path, -1, gid); err != nil {
			t.Fatal(err)
		}
	}
	group := strconv.Itoa(gid)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	me := os.Geteuid()
	denied := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}

	tests := []struct {
		name string
		mode os.FileMode
		gids []int
		want []string
	}{
		{"owner only", 0o600, []int{gid}, []string{"mode 0600, which gives no group access", "dockerd --group"}},
		{"group readable only", 0o640, []int{gid}, []string{"which gives no group access"}},
		{"not in the group", 0o660, []int{gid + 1}, []string{
			"mode 0660 and ", " is not in group " + group,
			"SupplementaryGroups=" + group, "systemctl edit docker-socket-filter",
		}},
		{"in the group", 0o660, []int{gid + 1, gid}, []string{" is in group " + group + ": check the directories"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got := accessHint(path, identity{uid: me, gids: tt.gids})
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("accessHint: %q, want it to contain %q", got, w)
				}
			}
		})
	}

	got := describeUpstream(path, denied)
	if want := "cannot reach the Docker engine at " + path + ": permission denied: the socket is "; !strings.HasPrefix(got, want) {
		t.Errorf("describeUpstream(EACCES): %q, want prefix %q", got, want)
	}
}
