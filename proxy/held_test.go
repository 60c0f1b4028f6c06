package proxy_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// A client connection's requests go over one upstream connection, and one
// the engine closed while it was idle is replaced without the client
// seeing an error.
func TestClientConnectionHoldsOneUpstream(t *testing.T) {
	var opened atomic.Int32
	var mu sync.Mutex
	var conns []net.Conn
	sock := serveEngineConns(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") },
		func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				opened.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	_, fsock := startProxy(t, sock)
	c, br := dial(t, fsock)
	get := func() {
		t.Helper()
		if _, err := io.WriteString(c, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "OK" {
			t.Fatalf("answer %d %q, want 200 OK", resp.StatusCode, body)
		}
	}
	for range 5 {
		get()
	}
	if n := opened.Load(); n != 1 {
		t.Fatalf("5 requests on one client connection opened %d upstream connections, want 1", n)
	}
	// The engine hangs up the idle connection; the next request still
	// gets its answer, on a new one.
	mu.Lock()
	conns[0].Close()
	mu.Unlock()
	get()
	if n := opened.Load(); n != 2 {
		t.Fatalf("after the engine closed the held connection: %d upstream connections opened, want 2", n)
	}
}

func serveEngineConns(t *testing.T, h http.HandlerFunc, state func(net.Conn, http.ConnState)) string {
	t.Helper()
	sock, ln := listenEngine(t)
	srv := &http.Server{Handler: h, ConnState: state}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}
