package systemd

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return path, conn
}

func read(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifications(t *testing.T) {
	path, conn := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "100000")
	n := NewNotifier(func(k string) (string, bool) {
		if k == "NOTIFY_SOCKET" {
			return path, true
		}
		return "", false
	})
	if !n.Enabled() || n.Watchdog() != 100*time.Millisecond {
		t.Fatalf("enabled %v watchdog %v, want true and 100ms", n.Enabled(), n.Watchdog())
	}
	steps := []struct {
		name string
		send func() error
		want []string
	}{
		{"ready", func() error { return n.Ready("serving") }, []string{"READY=1", "STATUS=serving"}},
		{"reloading", n.Reloading, []string{"RELOADING=1", "MONOTONIC_USEC="}},
		{"stopping", n.Stopping, []string{"STOPPING=1"}},
	}
	for _, s := range steps {
		if err := s.send(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := read(t, conn)
		for _, w := range s.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", s.name, got, w)
			}
		}
	}
	stop := n.StartWatchdog(func() string { return "live" }, func(err error) { t.Error(err) })
	got := read(t, conn)
	stop()
	if !strings.Contains(got, "WATCHDOG=1") || !strings.Contains(got, "STATUS=live") {
		t.Errorf("watchdog ping %q, want WATCHDOG=1 and STATUS=live", got)
	}
}

func TestDisabledIsNoOp(t *testing.T) {
	n := NewNotifier(func(string) (string, bool) { return "", false })
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	for _, err := range []error{n.Ready("x"), n.Reloading(), n.Stopping()} {
		if err != nil {
			t.Errorf("disabled notifier returned %v", err)
		}
	}
	n.StartWatchdog(func() string { return "" }, func(error) {})()
}
