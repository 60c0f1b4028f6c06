package listener

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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

// TestAdmissionBounds: connections over a uid's bound are answered 429,
// over the global bound 503, both with a JSON message the docker CLI
// prints; the reserve is for the peers Reserved admits; a closed
// connection frees its place.
func TestAdmissionBounds(t *testing.T) {
	var reservedPeer atomic.Bool
	cases := []struct {
		name   string
		cfg    Config
		status int
		gist   string
	}{
		{"per uid", Config{MaxConnsPerUID: 2}, 429, "at most 2 per uid"},
		{"global", Config{MaxConns: 2}, 503, "all the 2 connections"},
		{"reserve", Config{MaxConns: 3, Reserve: 1, Reserved: func(Arrival) bool { return reservedPeer.Load() }}, 503, "all the 2 connections"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reservedPeer.Store(false)
			path := filepath.Join(t.TempDir(), "s.sock")
			c.cfg.Path, c.cfg.Mode = path, 0o600
			ls, err := Open(nil, c.cfg)
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
				c.SetDeadline(time.Now().Add(10 * time.Second))
				t.Cleanup(func() { c.Close() })
				return c
			}
			dial()
			dial()
			first, second := <-accepted, <-accepted
			over := dial()
			io.WriteString(over, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(over), nil)
			if err != nil {
				t.Fatalf("refused connection: %v, want an HTTP answer", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), c.gist) {
				t.Errorf("refused connection got %d %q %s, want %d naming %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status, c.gist)
			}
			if c.cfg.Reserve > 0 {
				reservedPeer.Store(true)
				dial()
				if c := <-accepted; c == nil {
					t.Fatal("a reserved peer was not admitted into the reserve")
				}
				reservedPeer.Store(false)
			}
			first.Close()
			if c.cfg.Reserve == 0 {
				dial()
				if c := <-accepted; c == nil {
					t.Fatal("no connection accepted after one closed")
				}
			}
			second.Close()
		})
	}
}

// TestRefusalsAreLoggedSparingly: a flood of refused connections gives one
// warning per uid per interval, carrying the count.
func TestRefusalsAreLoggedSparingly(t *testing.T) {
	l := NewAdmission(Config{MaxConnsPerUID: 1})
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
