package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/docker-socket-filter/docker-socket-filter/internal/h1"
	"github.com/docker-socket-filter/docker-socket-filter/internal/peerproc"
	"github.com/docker-socket-filter/docker-socket-filter/listener"
	"github.com/docker-socket-filter/docker-socket-filter/proxy"
)

// testTimeout bounds every wait: a safety net for a hung proxy, never a
// way of timing anything.
const testTimeout = 10 * time.Second

// testEnv is the tecnativa-style policy the tests run under.
var testEnv = map[string]string{
	"CONTAINERS": "1", "EVENTS": "1", "EXEC": "1", "IMAGES": "1", "NETWORKS": "1", "POST": "1",
}

// shortDir is a fresh directory with a path short enough for unix socket
// names, which t.TempDir's long names can overflow.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startProxy serves a proxy for upstream on a socket made by the
// listener package, whose accept reads SO_PEERCRED: the test itself is the
// peer, with real credentials.
func startProxy(t testing.TB, upstream string) (*proxy.Proxy, string) {
	t.Helper()
	p, srv := newProxy(t, upstream)
	return p, serve(t, srv)
}

func newProxy(t testing.TB, upstream string) (*proxy.Proxy, *h1.Server) {
	t.Helper()
	return newProxyConfig(t, proxy.Config{Upstream: upstream})
}

// newProxyConfig is newProxy with more than the upstream set.
func newProxyConfig(t testing.TB, cfg proxy.Config) (*proxy.Proxy, *h1.Server) {
	t.Helper()
	table, err := filter.NewRouteTable()
	if err != nil {
		t.Fatal(err)
	}
	policy, err := filter.EnvPolicy(table, func(k string) (string, bool) {
		v, ok := testEnv[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	p := proxy.New(cfg, policy)
	t.Cleanup(func() { p.StopWatches(); p.CloseIdleUpstream() })
	return p, p.NewServer()
}

func serve(t testing.TB, srv *h1.Server) string {
	t.Helper()
	return serveWithProcs(t, srv, nil)
}

// serveWithProcs serves srv as serve does, finding out each peer's process
// at accept with procs, as the daemon does.
func serveWithProcs(t testing.TB, srv *h1.Server, procs *peerproc.Reader) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "f.sock")
	ls, err := listener.Open(nil, listener.Config{Path: sock, Mode: 0o600, Procs: procs})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		t.Fatalf("listener.Open: %d listeners; want one socket of its own", len(ls))
	}
	go srv.Serve(ls[0])
	t.Cleanup(func() { srv.Close() })
	return sock
}

// serveEngine runs a fake engine that answers with h.
func serveEngine(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "e.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// listenEngine is a fake engine the test drives by hand, one accepted
// connection at a time.
func listenEngine(t testing.TB) (string, *net.UnixListener) {
	t.Helper()
	sock := filepath.Join(shortDir(t), "e.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return sock, ln
}

// acceptEngine returns the next connection whose request the test
// answers. Connections that open with an unversioned inspect are the
// lookups a decision asks for before a tunnel (the exec, its container):
// they are answered here, as an engine would for an unprivileged exec.
func acceptEngine(t *testing.T, ln *net.UnixListener) (*net.UnixConn, *bufio.Reader) {
	t.Helper()
	for {
		ln.SetDeadline(time.Now().Add(testTimeout))
		c, err := ln.AcceptUnix()
		if err != nil {
			t.Fatalf("engine accept: %v", err)
		}
		c.SetDeadline(time.Now().Add(testTimeout))
		t.Cleanup(func() { c.Close() })
		br := bufio.NewReader(c)
		if start, err := br.Peek(10); err == nil && (string(start) == "GET /exec/" || string(start) == "GET /conta") {
			go answerInspects(c, br)
			continue
		}
		return c, br
	}
}

const testContainerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// answerInspects answers exec and container inspects on one connection.
func answerInspects(c net.Conn, br *bufio.Reader) {
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body := `{"Id":"` + testContainerID + `","HostConfig":{}}`
		if strings.HasPrefix(req.URL.Path, "/exec/") {
			body = `{"ContainerID":"` + testContainerID + `","ProcessConfig":{"entrypoint":"sh","arguments":[],"privileged":false}}`
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}

// dial opens a raw client connection to the proxy.
func dial(t *testing.T, sock string) (*net.UnixConn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func httpClient(sock string) *http.Client {
	return &http.Client{
		Timeout: testTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
}

// readHead reads a status line and the header fields exactly as they were
// sent, before any HTTP library could drop or merge one.
func readHead(t *testing.T, br *bufio.Reader) (string, textproto.MIMEHeader) {
	t.Helper()
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("read first line: %v", err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	return line, h
}

// wantJSONError checks a Docker-style error answer: the status, a JSON
// body with a message the CLI prints, and that message's gist.
func wantJSONError(t *testing.T, resp *http.Response, status int, gist string) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read error body: %v", err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct{ Message string }
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	if !strings.Contains(e.Message, gist) {
		t.Errorf("message %q does not contain %q", e.Message, gist)
	}
}

func TestHopByHopHeadersStayBehind(t *testing.T) {
	engine, ln := listenEngine(t)
	_, sock := startProxy(t, engine)
	client, cbr := dial(t, sock)

	// Each header carries its own name as value, so that a forwarded one
	// is told apart from one an HTTP library added. Upgrade is not sent:
	// where no tunnel is, a request carrying it is refused. Trailer and
	// Transfer-Encoding are not listed: the client's are consumed by the
	// server's framing and the outbound transport writes its own, so no
	// fault of the proxy could show here.
	reqHeaders := []struct {
		name string
		hop  bool
	}{
		{"Connection", true},
		{"Keep-Alive", true},
		{"Proxy-Connection", true},
		{"Proxy-Authorization", true},
		{"Te", true},
		{"X-Named-In-Connection", true},
		{"User-Agent", false},
		{"X-Registry-Auth", false},
		{"Accept", false},
	}
	var raw strings.Builder
	raw.WriteString("GET /v1.47/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n")
	for _, h := range reqHeaders {
		v := h.name
		if h.name == "Connection" {
			v = "keep-alive, x-named-in-connection"
		}
		raw.WriteString(h.name + ": " + v + "\r\n")
	}
	raw.WriteString("\r\n")
	if _, err := client.Write([]byte(raw.String())); err != nil {
		t.Fatal(err)
	}

	up, ubr := acceptEngine(t, ln)
	line, got := readHead(t, ubr)
	if want := "GET /v1.47/containers/json?all=1 HTTP/1.1"; line != want {
		t.Errorf("engine got %q, want %q", line, want)
	}
	for _, h := range reqHeaders {
		t.Run("request "+h.name, func(t *testing.T) {
			v, present := got[h.name]
			switch {
			case h.hop && present:
				t.Errorf("hop-by-hop %s reached the engine: %q", h.name, v)
			case !h.hop && (len(v) != 1 || v[0] != h.name):
				t.Errorf("end-to-end %s reached the engine as %q, want [%q]", h.name, v, h.name)
			}
		})
	}

	respHeaders := []struct {
		name string
		hop  bool
	}{
		{"Keep-Alive", true},
		{"Proxy-Authenticate", true},
		{"Trailer", true},
		{"Upgrade", true},
		{"X-Engine-Named", true},
		{"Api-Version", false},
		{"Docker-Experimental", false},
	}
	raw.Reset()
	raw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\nConnection: x-engine-named\r\n")
	for _, h := range respHeaders {
		raw.WriteString(h.name + ": " + h.name + "\r\n")
	}
	raw.WriteString("\r\n[]\n")
	if _, err := up.Write([]byte(raw.String())); err != nil {
		t.Fatal(err)
	}

	status, back := readHead(t, cbr)
	if status != "HTTP/1.1 200 OK" {
		t.Fatalf("client got %q", status)
	}
	for _, h := range respHeaders {
		t.Run("response "+h.name, func(t *testing.T) {
			v, present := back[h.name]
			switch {
			case h.hop && present:
				t.Errorf("hop-by-hop %s reached the client: %q", h.name, v)
			case !h.hop && (len(v) != 1 || v[0] != h.name):
				t.Errorf("end-to-end %s reached the client as %q, want [%q]", h.name, v, h.name)
			}
		})
	}
	if c := back.Get("Connection"); strings.Contains(strings.ToLower(c), "x-engine-named") {
		t.Errorf("the engine's Connection header reached the client: %q", c)
	}
	body := make([]byte, 3)
	if _, err := io.ReadFull(cbr, body); err != nil || string(body) != "[]\n" {
		t.Errorf("body %q (%v), want %q", body, err, "[]\n")
	}
}

func TestChunkedRequestBodyArrivesWhole(t *testing.T) {
	type seen struct {
		body   string
		header http.Header
	}
	got := make(chan seen, 1)
	engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{string(b), r.Header.Clone()}
	})
	_, sock := startProxy(t, engine)
	client, cbr := dial(t, sock)

	const body = `{"Container":"c1"}`
	req := "POST /networks/n1/connect HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(5, 16) + "\r\n" + body[:5] + "\r\n" +
		strconv.FormatInt(int64(len(body)-5), 16) + "\r\n" + body[5:] + "\r\n0\r\n\r\n"
	if _, err := client.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(cbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	select {
	case s := <-got:
		if s.body != body {
			t.Errorf("engine got body %q, want %q", s.body, body)
		}
		if ct := s.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("engine got Content-Type %q", ct)
		}
	case <-time.After(testTimeout):
		t.Fatal("the engine got no request")
	}
}

func TestStreamFlushesEachRead(t *testing.T) {
	tests := []struct {
		name, method, path string
	}{
		{"events", "GET", "/v1.47/events"},
		{"followed logs", "GET", "/v1.47/containers/c1/logs?follow=1&stdout=1"},
		{"a pull's progress", "POST", "/v1.47/images/create?fromImage=busybox&tag=latest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := make(chan struct{})
			engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"n":1}` + "\n"))
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
				w.Write([]byte(`{"n":2}` + "\n"))
			})
			_, sock := startProxy(t, engine)
			req, err := http.NewRequest(tc.method, "http://docker"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := httpClient(sock).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want the engine's", ct)
			}
			br := bufio.NewReader(resp.Body)
			// The engine holds event 2 until event 1 has reached the
			// client: a proxy that buffers never delivers it.
			first, err := br.ReadString('\n')
			if err != nil || first != `{"n":1}`+"\n" {
				t.Fatalf("first event %q (%v)", first, err)
			}
			close(next)
			second, err := br.ReadString('\n')
			if err != nil || second != `{"n":2}`+"\n" {
				t.Fatalf("second event %q (%v)", second, err)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the last event: %q, %v; want a clean end", rest, err)
			}
		})
	}
}

func TestCutUpstreamBodyAbortsClient(t *testing.T) {
	// Large enough that the head and most of the half sent pass the
	// server's buffers before the abort: what is still buffered then is
	// lost, so the client reads a prefix.
	whole := strings.Repeat("0123456789abcdef", 4<<10)
	tests := []struct {
		name   string
		length bool // the engine announces a Content-Length
	}{
		{"content length", true},
		{"chunked", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", strconv.Itoa(len(whole)))
				}
				sendHalfAndHangUp(w, whole)
			})
			_, sock := startProxy(t, engine)
			resp, got, err := get(t, sock, "/v1.47/containers/c1/logs?stdout=1")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if err == nil {
				t.Fatalf("read %q and a clean end; a cut body must not pass for a whole one", got)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read error %v, want unexpected EOF", err)
			}
			if !strings.HasPrefix(whole, string(got)) {
				t.Errorf("read %q before the cut, not a prefix of %q", got, whole)
			}
		})
	}
}

func TestEngineDownIsBadGateway(t *testing.T) {
	tests := []struct {
		name, method, path, body string
	}{
		{"plain request", "GET", "/v1.47/containers/json", ""},
		{"stream", "GET", "/v1.47/events", ""},
		{"hijack", "POST", "/v1.47/exec/e1/start", `{"Detach":false,"Tty":false}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine := filepath.Join(shortDir(t), "gone.sock")
			_, sock := startProxy(t, engine)
			req, err := http.NewRequest(tc.method, "http://docker"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := httpClient(sock).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			wantJSONError(t, resp, http.StatusBadGateway, "cannot reach the Docker engine at "+engine)
		})
	}
}

// A stream's answer that is not a stream (an error, or no answer at all)
// reaches the client whole, with its status.
func TestStreamAnswerNotAStream(t *testing.T) {
	tests := []struct {
		name     string
		engine   http.HandlerFunc
		status   int
		contains string
	}{
		{"engine error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such container: c1"}`)
		}, http.StatusNotFound, "No such container: c1"},
		{"engine hangs up before its head", func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
		}, http.StatusBadGateway, "docker-socket-filter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, sock := startProxy(t, serveEngine(t, tc.engine))
			resp, body, err := get(t, sock, "/v1.47/containers/c1/logs?follow=1&stdout=1")
			if err != nil {
				t.Fatalf("body: %v", err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Errorf("answer %d %q, want %d with %q", resp.StatusCode, body, tc.status, tc.contains)
			}
		})
	}
}

// TestDocumentAnswers: a read's answer that is not a stream reaches the
// client whole, with its length when it fits one buffer; one the engine
// cuts short is never passed off as whole.
func TestDocumentAnswers(t *testing.T) {
	small := strings.Repeat(`{"Id":"c1"},`, 100)
	large := strings.Repeat("0123456789abcdef", 16<<10) // past any one buffer
	tests := []struct {
		name   string
		body   string
		cut    bool // the engine hangs up after half the body
		status int
		length bool // a 200 tells the client the length
	}{
		{"a small document goes out with its length", small, false, 200, true},
		{"a large one goes out as it comes", large, false, 200, false},
		{"a small one cut short is the engine's failure", small, true, 502, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Api-Version", "1.47")
				if !tc.cut {
					// Written in pieces, as the engine's encoder may.
					for i := 0; i < len(tc.body); i += 4 << 10 {
						w.Write([]byte(tc.body[i:min(i+4<<10, len(tc.body))]))
						w.(http.Flusher).Flush()
					}
					return
				}
				sendHalfAndHangUp(w, tc.body)
			})
			_, sock := startProxy(t, engine)
			resp, got, err := get(t, sock, "/v1.47/containers/json?all=1")
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, got, tc.status)
			}
			if tc.status == 200 && (resp.ContentLength >= 0) != tc.length {
				t.Errorf("Content-Length %d, want it told: %v", resp.ContentLength, tc.length)
			}
			if tc.status == 200 && string(got) != tc.body {
				t.Errorf("read %d bytes, want the %d the engine sent", len(got), len(tc.body))
			}
			if tc.status == 502 && !strings.Contains(string(got), "cut after") {
				t.Errorf("answer %q does not say the engine's answer was cut", got)
			}
			if tc.status == 502 && resp.Header.Get("Api-Version") != "" {
				t.Errorf("the filter's 502 carries the engine's header fields: %v", resp.Header)
			}
		})
	}
	t.Run("a large one cut late aborts the client", func(t *testing.T) {
		engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) { sendHalfAndHangUp(w, large) })
		_, sock := startProxy(t, engine)
		_, got, err := get(t, sock, "/v1.47/containers/json?all=1")
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("read %d bytes, error %v; want the cut told as an unexpected EOF", len(got), err)
		}
	})
}

// sendHalfAndHangUp is an engine that fails in the middle of an answer:
// it sends the first half of body and closes the connection.
func sendHalfAndHangUp(w http.ResponseWriter, body string) {
	w.Write([]byte(body[:len(body)/2]))
	w.(http.Flusher).Flush()
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
	}
}

// get asks the proxy at sock for path and reads the whole answer; the
// error is the body's, since a cut answer is what some tests are after.
func get(t *testing.T, sock, path string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := httpClient(sock).Get("http://docker" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestHeadAnswered: a HEAD's answer has no body, whatever length its head
// gives: the client gets it at once, and the connection serves on.
func TestHeadAnswered(t *testing.T) {
	for _, path := range []string{"/v1.41/events", "/v1.41/containers/c1/logs?follow=1&stdout=1", "/v1.41/containers/json"} {
		t.Run(path, func(t *testing.T) {
			engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodHead {
					w.Header().Set("Content-Length", "29")
					w.WriteHeader(http.StatusNotFound)
					return
				}
				io.WriteString(w, "OK")
			})
			_, sock := startProxy(t, engine)
			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Only a guard against a hang.
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "HEAD %s HTTP/1.1\r\nHost: docker\r\n\r\nGET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", path)
			br := bufio.NewReader(c)
			head, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
			if err != nil {
				t.Fatalf("no answer to the HEAD: %v", err)
			}
			if head.StatusCode != http.StatusNotFound || head.ContentLength != 29 {
				t.Errorf("HEAD answered %d with length %d, want the engine's 404 and 29", head.StatusCode, head.ContentLength)
			}
			ping, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to the request after the HEAD: %v", err)
			}
			if body, _ := io.ReadAll(ping.Body); string(body) != "OK" {
				t.Errorf("ping answered %q", body)
			}
		})
	}
}

// TestStreamEndsCleanlyAtShutdown: a stream of unknown length ends with
// its last chunk at shutdown, as the engine ends it when it stops: the
// client sees the stream's end, not a cut connection.
func TestStreamEndsCleanlyAtShutdown(t *testing.T) {
	for _, path := range []string{"/v1.41/events", "/v1.41/containers/c1/logs?follow=1&stdout=1"} {
		t.Run(path, func(t *testing.T) {
			engine := serveEngine(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"n":1}` + "\n"))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
			p, sock := startProxy(t, engine)
			resp, err := httpClient(sock).Get("http://docker" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if first, err := br.ReadString('\n'); err != nil {
				t.Fatalf("first event %q (%v)", first, err)
			}
			p.StopWatches()
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after shutdown: %q, %v; want the stream's clean end", rest, err)
			}
		})
	}
}
