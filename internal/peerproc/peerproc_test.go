package peerproc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unique"

	"golang.org/x/sys/unix"
)

// accepted listens on a new socket, has connect make a connection to it,
// and returns the server side of that connection.
func accepted(t *testing.T, connect func(sock string)) *net.UnixConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	connect(sock)
	// A peer that fails before it connects must not hang the test.
	l.SetDeadline(time.Now().Add(30 * time.Second))
	server, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server
}

// connected returns the server side of a unix connection this process
// made to itself: its peer is this process.
func connected(t *testing.T) *net.UnixConn {
	t.Helper()
	return accepted(t, func(sock string) {
		client, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
	})
}

// fakeProc is a /proc whose cgroup file for pid says what the test
// wants, and whose self/fdinfo is the real one.
func fakeProc(t *testing.T, pid int, cgroup string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, strconv.Itoa(pid))
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
	if f.Cgroup() != string(want) || f.Nested() {
		t.Errorf("cgroup %q nested %v; want %q, not nested", f.Cgroup(), f.Nested(), want)
	}
}

// TestRememberedForTheProcess: a process is found out once, then
// remembered by its pidfs inode, which no other process shares: a cgroup
// file that changes since does not change what it is taken for, and
// another process is not answered for by it.
func TestRememberedForTheProcess(t *testing.T) {
	const first = "0::/system.slice/first.service\n"
	root := fakeProc(t, os.Getpid(), first)
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
	// Another process, which this /proc has no files for, must be read.
	other, conn, _ := peer(t, "PEERPROC_TEST_CONNECT")
	if f, err := r.Read(conn, int32(other.Process.Pid)); err == nil {
		t.Errorf("another process was answered from this one's memory: %q", f.Cgroup())
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
	var cmd *exec.Cmd
	var stdin io.WriteCloser
	conn := accepted(t, func(sock string) {
		cmd = exec.Command(os.Args[0], "-test.run=^$")
		// Under -race a process waits a second at its exit, unless told.
		cmd.Env = append(os.Environ(), env+"="+sock, "GORACE=atexit_sleep_ms=0")
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	})
	return cmd, conn, stdin
}

// TestRememberedOnlyWhileAlive: a process found out and remembered is not
// answered for from memory once it exited: a zombie still gets a pidfd,
// and from Linux 6.16 a reaped peer does too.
func TestRememberedOnlyWhileAlive(t *testing.T) {
	cmd, conn, stdin := peer(t, "PEERPROC_TEST_CONNECT")
	r := New("/proc")
	if _, err := r.Read(conn, int32(cmd.Process.Pid)); err != nil {
		t.Fatalf("the live peer: %v", err)
	}
	stdin.Close()
	awaitZombie(t, cmd)
	if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("an exited peer was answered from memory: %q", f.Cgroup())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("a reaped peer was answered from memory: %q", f.Cgroup())
	}
}

// awaitZombie waits until cmd's process has exited, leaving it a zombie:
// its /proc entry stays until it is reaped.
func awaitZombie(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
}

// TestExitingLeaderIsNotFoundOut: a process whose leader thread exited
// while others run on is not found out: its cgroup file may say "/"
// where it runs in a container.
func TestExitingLeaderIsNotFoundOut(t *testing.T) {
	cmd, conn, _ := peer(t, "PEERPROC_TEST_LEADER_EXITS")
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New("/proc").Read(conn, int32(cmd.Process.Pid))
	switch {
	case hasV1Lines(own) && err == nil:
		t.Errorf("a process whose leader exited was found out: %q", f.Cgroup())
	case !hasV1Lines(own) && err != nil:
		// On cgroup v2 alone the kernel says where such a process runs.
		t.Errorf("on a cgroup v2 host, a process whose leader exited: %v", err)
	case !hasV1Lines(own) && f.Cgroup() != string(own):
		t.Errorf("on a cgroup v2 host, a process whose leader exited: %q, want %q", f.Cgroup(), own)
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
	awaitZombie(t, cmd)
	if _, err := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cgroup"); err != nil {
		t.Fatalf("the exited peer's /proc entry: %v", err)
	}
	// As /proc is, and as on a host with cgroup v2 alone, where no stat
	// is read: only the pidfd tells.
	roots := []string{"/proc", fakeProc(t, cmd.Process.Pid, "0::/system.slice/gone.service\n")}
	for _, root := range roots {
		r := New(root)
		if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
			t.Errorf("%s: an exited peer was found out: %q", root, f.Cgroup())
		}
		if len(r.byInode) != 0 {
			t.Errorf("%s: an exited peer was remembered", root)
		}
	}
	r := New("/proc")
	cmd.Wait()
	if f, err := r.Read(conn, int32(cmd.Process.Pid)); err == nil {
		t.Errorf("a reaped peer was found out: %q", f.Cgroup())
	}
}

// TestRememberedWithinBounds: however many processes connect, and however
// long their cgroup files, what is remembered stays within the bounds,
// and below them nothing is forgotten.
func TestRememberedWithinBounds(t *testing.T) {
	cases := []struct {
		name  string
		procs int
		size  int
	}{
		{"many processes", 3 * maxRemembered, 300},
		{"long cgroup paths", 3 * (maxRememberedBytes / (40 << 10)), 40 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Reader
			for i := range c.procs {
				// Each its own text, as if each had a cgroup of its own.
				text := strconv.Itoa(i) + strings.Repeat("/x", c.size/2)
				r.remember(uint64(i), &Facts{cgroup: unique.Make(text)})
				bytes := 0
				for _, f := range r.byInode {
					bytes += len(f.Cgroup())
				}
				if len(r.byInode) > maxRemembered || bytes > maxRememberedBytes {
					t.Fatalf("after %d processes: %d remembered, %d bytes", i+1, len(r.byInode), bytes)
				}
				if r.byInode[uint64(i)] == nil {
					t.Fatalf("process %d was not remembered", i)
				}
			}
		})
	}
	// Below the bounds, everyone is kept, and one remembered twice
	// counts once: these fill three quarters of the bytes allowed.
	var r Reader
	size := maxRememberedBytes * 3 / 4 / (maxRemembered - 1)
	for i := range maxRemembered - 1 {
		text := fmt.Sprintf("0::/%0*d\n", size-5, i)
		r.remember(uint64(i), &Facts{cgroup: unique.Make(text)})
		r.remember(uint64(i), &Facts{cgroup: unique.Make(text)})
	}
	if len(r.byInode) != maxRemembered-1 {
		t.Errorf("below the bounds: %d remembered, want %d", len(r.byInode), maxRemembered-1)
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
