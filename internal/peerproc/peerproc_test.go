package peerproc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// connected returns the server side of a unix connection this process
// made to itself: its peer is this process.
func connected(t *testing.T) *net.UnixConn {
	t.Helper()
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
	t.Cleanup(func() { client.Close() })
	server, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server
}

// fakeProc is a /proc whose files for this process say what the test
// wants, and whose self/fdinfo is the real one.
func fakeProc(t *testing.T, cgroup string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cgroup), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/fdinfo", filepath.Join(root, "self", "fdinfo")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReadsThisProcess: the facts of a peer are its own cgroup file and
// the filter's pid namespace.
func TestReadsThisProcess(t *testing.T) {
	want, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New("/proc").Read(connected(t), int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Cgroup() != string(want) || f.Nested {
		t.Errorf("cgroup %q nested %v; want %q, not nested", f.Cgroup(), f.Nested, want)
	}
}

// TestRememberedForTheProcess: a process is found out once, then
// remembered by its pidfs inode, which no other process shares: a cgroup
// file that changes since does not change what it is taken for.
func TestRememberedForTheProcess(t *testing.T) {
	const first = "0::/system.slice/first.service\n"
	root := fakeProc(t, first)
	r := New(root)
	pid := int32(os.Getpid())
	f, err := r.Read(connected(t), pid)
	if err != nil || f.Cgroup() != first {
		t.Fatalf("first read: %v (%v), want %q", f, err, first)
	}
	if err := os.WriteFile(filepath.Join(root, strconv.Itoa(int(pid)), "cgroup"), []byte("0::/elsewhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err = r.Read(connected(t), pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, remembers := r.inode(mustPidfd(t)); !remembers {
		// Before Linux 6.9 every pidfd has the same inode: nothing may
		// be remembered by it.
		if f.Cgroup() != "0::/elsewhere\n" {
			t.Errorf("remembered by an inode that tells nothing: %q", f.Cgroup())
		}
		return
	}
	if f.Cgroup() != first {
		t.Errorf("asked again: %q, want %q from memory", f.Cgroup(), first)
	}
	// Another Reader remembers nothing of this one's.
	if f, err := New(root).Read(connected(t), pid); err != nil || f.Cgroup() != "0::/elsewhere\n" {
		t.Errorf("a new reader: %v (%v), want the file as it is now", f, err)
	}
}

func mustPidfd(t *testing.T) int {
	t.Helper()
	pidfd, err := peerPidfd(connected(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	return pidfd
}

// TestReadErrors: a peer the filter cannot see, or whose files cannot be
// read, is not found out, and nothing is remembered of it.
func TestReadErrors(t *testing.T) {
	cases := []struct {
		name string
		root string
		pid  int32
		want string
	}{
		{"a pid from another namespace", "/proc", 0, "not visible"},
		{"no cgroup file", t.TempDir(), int32(os.Getpid()), "read the peer's cgroup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(c.root)
			_, err := r.Read(connected(t), c.pid)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one saying %q", err, c.want)
			}
			if len(r.byInode) != 0 {
				t.Errorf("remembered %d processes after a failure", len(r.byInode))
			}
		})
	}
}

// TestMain lets the test binary be the peer that connects and exits.
func TestMain(m *testing.M) {
	if sock := os.Getenv("PEERPROC_TEST_CONNECT"); sock != "" {
		if _, err := net.Dial("unix", sock); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestExitedPeerIsNotFoundOut: a peer that exited before it was found
// out is not, even while its /proc entry is still there (it is not
// reaped yet), since its pid could by then be another process's.
func TestExitedPeerIsNotFoundOut(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PEERPROC_TEST_CONNECT="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Exited, and left a zombie: its /proc/<pid> is still there.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cgroup"); err != nil {
		t.Fatalf("the exited peer's /proc entry: %v", err)
	}
	r := New("/proc")
	if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("an exited peer was found out: %q", f.Cgroup())
	}
	if len(r.byInode) != 0 {
		t.Errorf("an exited peer was remembered")
	}
	cmd.Wait()
	if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("a reaped peer was found out: %q", f.Cgroup())
	}
}

// TestNSDepth: only an NSpid line naming a live, visible process tells
// where it runs.
func TestNSDepth(t *testing.T) {
	cases := []struct {
		name, fdinfo string
		depth        int
		ok           bool
	}{
		{"a host process", "pos:\t0\nPid:\t4242\nNSpid:\t4242\n", 1, true},
		{"a process two namespaces down", "Pid:\t4242\nNSpid:\t4242\t17\t1\n", 3, true},
		{"a process that is gone", "Pid:\t-1\nNSpid:\t-1\n", 0, false},
		{"a process /proc cannot see", "Pid:\t0\nNSpid:\t0\n", 0, false},
		{"no NSpid line", "pos:\t0\nflags:\t02000002\n", 0, false},
		{"an empty NSpid line", "NSpid:\n", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			depth, err := nsDepth([]byte(c.fdinfo))
			if (err == nil) != c.ok || depth != c.depth {
				t.Errorf("depth %d (%v), want %d (ok %v)", depth, err, c.depth, c.ok)
			}
		})
	}
}
