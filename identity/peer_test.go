package identity

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNamespacesRemembered: a process's pid namespace is read from its
// pidfd's fdinfo once, then remembered by its pidfs inode, which no
// other process shares.
func TestNamespacesRemembered(t *testing.T) {
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	defer unix.Close(pidfd)
	var known namespaces
	nested, err := known.nested(pidfd, "/proc")
	if err != nil || nested {
		t.Fatalf("this process: nested %v (%v), want false", nested, err)
	}
	if _, ok := known.inode(pidfd); !ok {
		// Before Linux 6.9 every pidfd has the same inode: nothing may
		// be remembered by it.
		if _, err := known.nested(pidfd, "/nonexistent"); err == nil {
			t.Error("remembered by an inode that tells nothing")
		}
		return
	}
	// No /proc to read from: only what was remembered answers.
	if nested, err := known.nested(pidfd, "/nonexistent"); err != nil || nested {
		t.Errorf("asked again: nested %v (%v), want false from memory", nested, err)
	}
	// Another process is not this one.
	other, err := unix.PidfdOpen(1, 0)
	if err != nil {
		t.Fatalf("pidfd_open 1: %v", err)
	}
	defer unix.Close(other)
	if _, err := known.nested(other, "/nonexistent"); err == nil {
		t.Error("another process was answered from this one's memory")
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
