package peerproc

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unique"

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

func init() {
	if os.Getenv("PEERPROC_TEST_LEADER_EXITS") != "" {
		// The main thread must stay the thread group's leader.
		runtime.LockOSThread()
	}
}

// TestMain lets the test binary be the peers the tests need.
func TestMain(m *testing.M) {
	if sock := os.Getenv("PEERPROC_TEST_CONNECT"); sock != "" {
		// Connects, and exits once its standard input ends.
		if _, err := net.Dial("unix", sock); err != nil {
			os.Exit(2)
		}
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	if sock := os.Getenv("PEERPROC_TEST_LEADER_EXITS"); sock != "" {
		// Its main thread exits and its process runs on: the leader is
		// a zombie, and on cgroup v1 hierarchies the kernel then says
		// "/" for its cgroup. Another thread connects once it is.
		go func() {
			for !leaderIsZombie() {
				runtime.Gosched()
			}
			if _, err := net.Dial("unix", sock); err != nil {
				os.Exit(2)
			}
			select {}
		}()
		unix.Syscall(unix.SYS_EXIT, 0, 0, 0)
	}
	os.Exit(m.Run())
}

func leaderIsZombie() bool {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		os.Exit(3)
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// peer starts the test binary as a peer of a new socket, with env set,
// and returns its connection; closing stdin makes the
// PEERPROC_TEST_CONNECT one exit.
func peer(t *testing.T, env string) (*exec.Cmd, *net.UnixConn, io.WriteCloser) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+sock)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cmd, conn, stdin
}

// TestRememberedOnlyWhileAlive: a process found out and remembered is not
// found out again once it exited, on the same connection or another:
// Linux 6.16 and later hand out a pidfd even for a reaped peer.
func TestRememberedOnlyWhileAlive(t *testing.T) {
	cmd, conn, stdin := peer(t, "PEERPROC_TEST_CONNECT")
	r := New("/proc")
	if _, err := r.Read(conn, int32(cmd.Process.Pid)); err != nil {
		t.Fatalf("the live peer: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("a reaped peer was answered from memory: %q", f.Cgroup())
	}
}

// TestExitingLeaderIsNotFoundOut: a process whose leader thread exited
// while others run on is not found out: its cgroup file may say "/"
// where it runs in a container.
func TestExitingLeaderIsNotFoundOut(t *testing.T) {
	cmd, conn, _ := peer(t, "PEERPROC_TEST_LEADER_EXITS")
	if f, err := New("/proc").Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("a process whose leader exited was found out: %q", f.Cgroup())
	}
}

// TestExiting: the flags and state of /proc/<pid>/stat, whatever the
// command's name holds.
func TestExiting(t *testing.T) {
	cases := []struct {
		name, stat string
		exiting    bool
		ok         bool
	}{
		{"running", "42 (sh) S 1 42 42 0 -1 4194560 100 0", false, true},
		{"exiting", "42 (sh) S 1 42 42 0 -1 4194564 100 0", true, true},
		{"a zombie", "42 (sh) Z 1 42 42 0 -1 4194560 100 0", true, true},
		{"dead", "42 (sh) X 1 42 42 0 -1 4194560 100 0", true, true},
		{"a name with spaces and parens", "42 (a) Z (b) S 1 42 42 0 -1 4194560 1", false, true},
		{"a name that hides an exiting flag", "42 (x) S 1 1 1 0 -1 4) S 1 42 42 0 -1 4194560 1", false, true},
		{"cut short", "42 (sh) S 1 42", false, false},
		{"no name", "42 sh S 1 42 42 0 -1 4194560", false, false},
		{"flags not a number", "42 (sh) S 1 42 42 0 -1 x 1", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exiting, err := exiting([]byte(c.stat))
			if (err == nil) != c.ok || exiting != c.exiting {
				t.Errorf("exiting %v (%v), want %v (ok %v)", exiting, err, c.exiting, c.ok)
			}
		})
	}
}

// TestExitedPeerIsNotFoundOut: a peer that exited before it was found
// out is not, even while its /proc entry is still there (it is not
// reaped yet), since its pid could by then be another process's.
func TestExitedPeerIsNotFoundOut(t *testing.T) {
	cmd, conn, stdin := peer(t, "PEERPROC_TEST_CONNECT")
	stdin.Close()
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

// TestRememberedWithinBounds: however many processes connect, and however
// long their cgroup files, what is remembered stays within the bounds.
func TestRememberedWithinBounds(t *testing.T) {
	cases := []struct {
		name  string
		procs int
		size  int
	}{
		{"many processes", 3 * maxRemembered, 300},
		{"long cgroup paths", maxRemembered, 40 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Reader
			for i := range c.procs {
				// Each its own text, as if each had a cgroup of its own.
				text := strconv.Itoa(i) + strings.Repeat("/x", c.size/2)
				r.remember(uint64(i), &Facts{cgroup: unique.Make(text)})
				if len(r.byInode) > maxRemembered || r.bytes > maxRememberedBytes {
					t.Fatalf("after %d processes: %d remembered, %d bytes", i+1, len(r.byInode), r.bytes)
				}
			}
			last := uint64(c.procs - 1)
			if r.byInode[last] == nil {
				t.Error("the last process was not remembered")
			}
		})
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
