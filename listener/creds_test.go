package listener

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestReadCreds connects to a listener in this process: the kernel's record
// of the peer is this process's pid, uid, gid and groups.
func TestReadCreds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ls, err := Open(nil, Config{Path: path, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := ls[0].Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	creds := c.(*Conn).Creds
	if creds.PID != int32(os.Getpid()) || creds.UID != uint32(os.Geteuid()) || creds.GID != uint32(os.Getegid()) {
		t.Errorf("creds %+v, want pid %d uid %d gid %d", creds, os.Getpid(), os.Geteuid(), os.Getegid())
	}
	want, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, g := range creds.Groups {
		got = append(got, int(g))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
}

// TestMaxConnsPerUID: connections over a uid's bound are closed at accept,
// and a closed connection frees its place.
func TestMaxConnsPerUID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ls, err := Open(nil, Config{Path: path, Mode: 0o600, MaxConnsPerUID: 2})
	if err != nil {
		t.Fatal(err)
	}
	l := ls[0]
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first, second := <-accepted, <-accepted
	third := dial()
	// The third is closed by the listener: the client reads EOF.
	if n, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatalf("third connection read %d bytes, want EOF", n)
	}
	first.Close()
	dial()
	if c := <-accepted; c == nil {
		t.Fatal("no connection accepted after one closed")
	}
	second.Close()
}

// TestRefusalsAreLoggedSparingly: a flood of refused connections gives one
// warning per uid per interval, carrying the count.
func TestRefusalsAreLoggedSparingly(t *testing.T) {
	l := newListener(nil, Config{MaxConnsPerUID: 1})
	start := time.Unix(1000, 0)
	if n := l.refused(7, start); n != 1 {
		t.Errorf("first refusal reports %d, want 1", n)
	}
	for i := range 99 {
		if n := l.refused(7, start.Add(time.Duration(i)*time.Millisecond)); n != 0 {
			t.Fatalf("refusal %d reported %d within the interval", i+2, n)
		}
	}
	if n := l.refused(8, start); n != 1 {
		t.Errorf("another uid's first refusal reports %d, want 1", n)
	}
	if n := l.refused(7, start.Add(refusalLogEvery)); n != 100 {
		t.Errorf("after the interval, %d reported, want the 100 since the last report", n)
	}
}
