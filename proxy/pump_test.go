package proxy

import (
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// socketPair is two connected unix stream sockets under the poller.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { conns[i].Close() })
	}
	return conns[0], conns[1]
}

// TestPumpRelaysEveryByte: a byte that arrives while a tunnel's copy goes
// from a read that found nothing to its wait is relayed at once, not when
// the next one comes. Each round sends one byte at a varying moment and
// waits for it at the other end.
func TestPumpRelaysEveryByte(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	p := New(Config{Upstream: "/nonexistent"}, nil)
	src, srcPeer := socketPair(t)
	dst, dstPeer := socketPair(t)
	done := make(chan error, 1)
	go func() { done <- p.pump(dst, src) }()
	got := make([]byte, 1)
	for i := range 20000 {
		for range i % 200 {
			runtime.Gosched()
		}
		if _, err := srcPeer.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		// A safety net: a byte held back waits for a next one that
		// never comes.
		dstPeer.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := dstPeer.Read(got); err != nil {
			t.Fatalf("round %d: the byte sent was not relayed: %v", i, err)
		}
		if got[0] != byte(i) {
			t.Fatalf("round %d: relayed %d, want %d", i, got[0], byte(i))
		}
	}
	srcPeer.CloseWrite()
	if err := <-done; err != nil {
		t.Errorf("pump after the end of its source: %v", err)
	}
}
