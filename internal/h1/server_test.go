package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echo answers with what the server gave the handler of the request: the
// parsed request and its whole body.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var hdr strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&hdr, "%s=%q ", k, r.Header[k])
	}
	fmt.Fprintf(w, "%s %s %s host=%q cl=%d te=%q close=%v body=%q err=%v hdr=%s",
		r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding, r.Close, body, err != nil, hdr.String())
})

// serveBoth serves h with net/http's server and with this package's, each
// on a socket of its own.
func serveBoth(t testing.TB, h http.Handler) (stdlib, ours string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "h1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen := func(name string) net.Listener {
		l, err := net.Listen("unix", filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// As the proxy serves: OPTIONS * goes to the handler too.
	std := &http.Server{Handler: h, DisableGeneralOptionsHandler: true}
	l := listen("std.sock")
	go std.Serve(l)
	t.Cleanup(func() { std.Close() })
	srv := &Server{Handler: h}
	l2 := listen("h1.sock")
	go srv.Serve(l2)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), l2.Addr().String()
}

// serveOn serves srv on a socket of its own and returns its path.
func serveOn(t testing.TB, srv *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	return sock
}

// dial connects to sock, for the test's length.
func dial(t testing.TB, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answer is what a client makes of one response.
type answer struct {
	status int
	header string
	body   string
	err    string
}

func (a answer) String() string {
	body := a.body
	if len(body) > 80 {
		body = fmt.Sprintf("%.60q... (%d bytes)", body, len(body))
	}
	return fmt.Sprintf("{%d %s body=%s err=%s}", a.status, a.header, body, a.err)
}

// fields lists a head's fields but Date, sorted.
func fields(h http.Header) string {
	var lines []string
	for k, vv := range h {
		if k != "Date" {
			lines = append(lines, fmt.Sprintf("%s=%q", k, vv))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, " ")
}

// exchange sends raw at once, half-closes, and reads every answer until the
// connection ends.
func exchange(t testing.TB, sock string, raw []byte) []answer {
	t.Helper()
	c := dial(t, sock)
	// Only a guard against a hang: every case ends the connection.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(raw)
		c.(*net.UnixConn).CloseWrite()
	}()
	methods := requestMethods(raw)
	br := bufio.NewReader(c)
	var got []answer
	for i := 0; ; i++ {
		method := http.MethodGet
		if i < len(methods) {
			method = methods[i]
		}
		if _, err := br.Peek(1); err == io.EOF {
			return got
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return append(got, answer{err: "cut"})
		}
		body, err := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode}
		if resp.StatusCode < 400 {
			// Error pages differ in wording; what matters is the status.
			a.body = string(body)
			a.header = fields(resp.Header) + fmt.Sprintf(" length=%d chunked=%v close=%v", resp.ContentLength, resp.TransferEncoding, resp.Close)
		}
		if err != nil {
			a.err = "cut body"
		}
		if resp.StatusCode == http.StatusContinue {
			i--
		}
		got = append(got, a)
	}
}

// lacksHost reports whether a request in raw may have no Host field:
// http.ReadRequest takes it out, and an absolute URI's host stands for it.
func lacksHost(raw []byte) bool {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return false
		}
		if req.Host == "" || req.URL.Host != "" {
			return true
		}
		io.Copy(io.Discard, req.Body)
		if req.Method == http.MethodPost {
			// Both servers skip line breaks after a POST.
			peek, _ := br.Peek(4)
			br.Discard(len(peek) - len(bytes.TrimLeft(peek, "\r\n")))
		}
	}
}

// requestMethods is the method of each request in raw, as far as it
// parses, to read HEAD answers as such.
func requestMethods(raw []byte) []string {
	br := bufio.NewReader(bytes.NewReader(raw))
	var methods []string
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return methods
		}
		methods = append(methods, req.Method)
		io.Copy(io.Discard, req.Body)
	}
}

// sameAnswers are the cases both servers must answer alike, byte streams
// a client may send, framing attacks among them.
var sameAnswers = []struct {
	name string
	raw  string
}{
	{"one request", "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"},
	{"kept alive", "GET /a HTTP/1.1\r\nHost: d\r\n\r\nGET /b HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"body by length", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"chunked body", "POST /x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"chunked with trailer", "POST /x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"length and chunked", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"two lengths", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"},
	{"same length twice", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET /n HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"signed length", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: +3\r\n\r\nabc"},
	{"chunked not last", "POST /x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
	{"unknown coding", "POST /x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{"chunk size overflow", "POST /x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\na\r\n0\r\n\r\n"},
	{"bare LF chunk", "POST /x HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"},
	{"folded header", "GET /x HTTP/1.1\r\nHost: d\r\nX-A: 1\r\n  2\r\n\r\n"},
	{"space before colon", "GET /x HTTP/1.1\r\nHost: d\r\nContent-Length : 3\r\n\r\nabc"},
	{"bad header name", "GET /x HTTP/1.1\r\nHost: d\r\nX(A): 1\r\n\r\n"},
	{"NUL in value", "GET /x HTTP/1.1\r\nHost: d\r\nX-A: a\x00b\r\n\r\n"},
	{"two hosts", "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"bad host", "GET /x HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{"absolute form", "GET http://other/containers/json HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"HTTP/2", "GET /x HTTP/2.0\r\nHost: d\r\n\r\n"},
	{"HTTP/0.9", "GET /x\r\n\r\n"},
	{"HTTP/1.0 closes", "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n"},
	{"HTTP/1.0 kept alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\n\r\n"},
	{"HEAD", "HEAD /x HTTP/1.1\r\nHost: d\r\n\r\nGET /y HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"expect continue", "POST /x HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhiGET /n HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"other expectation", "POST /x HTTP/1.1\r\nHost: d\r\nExpect: magic\r\nContent-Length: 2\r\n\r\nhi"},
	{"line break after a POST", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\nhi\r\nGET /n HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
	{"no request line end", "GET /x HTTP/1.1\r\nHost: d\r\n"},
	{"body cut short", "POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 10\r\n\r\nabc"},
	{"long head", "GET /x HTTP/1.1\r\nHost: d\r\nX-Big: " + strings.Repeat("a", http.DefaultMaxHeaderBytes+8192) + "\r\n\r\n"},
	{"CR in request line", "GET /x\rHTTP/1.1 HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"encoded path", "GET /v1.41/containers/%2e%2e/json HTTP/1.1\r\nHost: d\r\n\r\n"},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: d\r\n\r\n"},
}

// handlers answer each request after reading its whole body (the servers
// differ on a body left unread: TestUnreadBodyEndsConnection).
var handlers = []struct {
	name string
	h    http.HandlerFunc
}{
	{"echo", echo},
	{"untyped", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "<html><body>typed by its start</body></html>")
	}},
	{"with length", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "5")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}},
	{"length, written but to a HEAD", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "5")
		if r.Method != http.MethodHead {
			io.WriteString(w, "hello")
		}
	}},
	{"large", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(bytes.Repeat([]byte("x"), 3*smallAnswer))
	}},
	{"flushed", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	}},
	{"not modified", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	}},
	{"no content", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(http.StatusNoContent)
	}},
	{"connection close", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}},
}

// TestServesLikeNetHTTP holds the server to net/http's: for every byte
// stream and handler, the same answers, heads included, which show the
// same parsed requests, and the same end of the connection.
func TestServesLikeNetHTTP(t *testing.T) {
	for _, h := range handlers {
		std, ours := serveBoth(t, h.h)
		for _, tc := range sameAnswers {
			t.Run(h.name+"/"+tc.name, func(t *testing.T) {
				want := exchange(t, std, []byte(tc.raw))
				got := exchange(t, ours, []byte(tc.raw))
				if !alike(got, want) {
					t.Errorf("answers differ\n got %+v\nwant %+v", got, want)
				}
			})
		}
	}
}

// TestUnreadBodyEndsConnection: where net/http's server reads past a body
// the handler left, this one ends the connection, and says so in the
// answer.
func TestUnreadBodyEndsConnection(t *testing.T) {
	_, ours := serveBoth(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "refused")
	}))
	got := exchange(t, ours, []byte("POST /x HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\nHost: d\r\n\r\n"))
	if len(got) != 1 || got[0].body != "refused" || !strings.Contains(got[0].header, "close=true") {
		t.Errorf("answers %+v, want one that closes the connection", got)
	}
}

// FuzzServesLikeNetHTTP looks for byte streams the two servers answer
// differently.
func FuzzServesLikeNetHTTP(f *testing.F) {
	for _, tc := range sameAnswers {
		f.Add([]byte(tc.raw))
	}
	std, ours := serveBoth(f, echo)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if lacksHost(raw) {
			// Without a Host field net/http refuses what this server
			// serves (TestServesWithoutHost).
			return
		}
		want := exchange(t, std, raw)
		got := exchange(t, ours, raw)
		if !alike(got, want) {
			t.Errorf("answers differ for %.300q\n got %+v\nwant %+v", raw, got, want)
		}
	})
}

// alike reports whether got, this server's answers, are want, net/http's
// server's: the same, except that net/http's server may cut a refusal
// short. It closes a connection it refuses with the client's bytes still
// unread, and the kernel then resets the client's read; this server reads
// and drops them first.
func alike(got, want []answer) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		if w.status >= 400 && w.err == "cut body" && got[i].err == "" {
			w.err = ""
		}
		if got[i] != w {
			return false
		}
	}
	return true
}

// TestServesWithoutHost: the one departure from net/http, which refuses an
// HTTP/1.1 request without a Host field; clients of a unix socket may
// send none.
func TestServesWithoutHost(t *testing.T) {
	_, ours := serveBoth(t, echo)
	got := exchange(t, ours, []byte("GET /_ping HTTP/1.1\r\n\r\n"))
	if len(got) != 1 || got[0].status != http.StatusOK {
		t.Errorf("answers %+v, want one 200", got)
	}
}

// TestAnswerFraming checks how answers of each kind are framed, as a
// client reads them.
// large is a body a little over two write buffers long, no two of its
// 4 KiB pieces alike.
var large = func() string {
	var b strings.Builder
	for i := 0; b.Len() < 2*bufferSize+1000; i++ {
		fmt.Fprintf(&b, "%07d,", i)
	}
	return b.String()
}()

func TestAnswerFraming(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"/empty": func(w http.ResponseWriter, r *http.Request) {},
		"/length": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		},
		"/short": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "9")
			io.WriteString(w, "hello")
		},
		"/chunked": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		},
		"/nocontent": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			io.WriteString(w, "dropped")
		},
		"/abort": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		},
		"/close": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "x")
		},
		// Bodies larger than the write buffer, in one write, after the
		// head or a chunk line it holds.
		"/large": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(large)))
			io.WriteString(w, large)
		},
		"/large-chunked": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, large)
			io.WriteString(w, large[:5000])
		},
	}
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handlers[r.URL.Path](w, r) })
	_, ours := serveBoth(t, mux)
	tests := []struct {
		path string
		want []answer
	}{
		{"/empty", []answer{{status: 200}, {status: 200}}},
		{"/length", []answer{{status: 200, body: "hello"}, {status: 200, body: "hello"}}},
		{"/short", []answer{{status: 200, body: "hello", err: "cut body"}}},
		{"/chunked", []answer{{status: 200, body: "ab"}, {status: 200, body: "ab"}}},
		{"/nocontent", []answer{{status: 204}, {status: 204}}},
		{"/abort", []answer{{status: 200, body: "partial", err: "cut body"}}},
		{"/close", []answer{{status: 200, body: "x"}}},
		{"/large", []answer{{status: 200, body: large}, {status: 200, body: large}}},
		{"/large-chunked", []answer{{status: 200, body: "a" + large + large[:5000]}, {status: 200, body: "a" + large + large[:5000]}}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			req := "GET " + tc.path + " HTTP/1.1\r\nHost: d\r\n\r\n"
			got := exchange(t, ours, []byte(req+req))
			for i := range got {
				got[i].header = ""
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestContextEndsWithClient: a handler that waits on its request's
// context learns that the client went away, after the body it read whole.
func TestContextEndsWithClient(t *testing.T) {
	body := make(chan string, 1)
	_, ours := serveBoth(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := r.Context().Done()
		b, _ := io.ReadAll(r.Body)
		body <- string(b)
		<-done
	}))
	c := dial(t, ours)
	if _, err := io.WriteString(c, "POST /w HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\n\r\nbody"); err != nil {
		t.Fatal(err)
	}
	if got := <-body; got != "body" {
		t.Fatalf("handler read %q, want the whole body", got)
	}
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The handler returns only when its context ends; its answer follows.
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer after the client half-closed: %v", err)
	}
	resp.Body.Close()
}

// TestHijackKeepsBufferedBytes: what the client sent past its request
// reaches the hijacker, through the reader it is given.
func TestHijackKeepsBufferedBytes(t *testing.T) {
	got := make(chan string, 1)
	_, ours := serveBoth(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
		rw.Flush()
		b, _ := io.ReadAll(rw)
		got <- string(b)
	}))
	c := dial(t, ours)
	io.WriteString(c, "POST /attach HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\nstdin bytes")
	c.(*net.UnixConn).CloseWrite()
	if s := <-got; s != "stdin bytes" {
		t.Errorf("hijacker read %q, want the bytes sent past the request", s)
	}
}

// TestShutdown: idle connections are closed, a request being served is
// waited for and answered.
func TestShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})}
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	idle := dial(t, sock)
	ibr := bufio.NewReader(idle)
	io.WriteString(idle, "GET /fast HTTP/1.1\r\nHost: d\r\n\r\n")
	if resp, err := http.ReadResponse(ibr, nil); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	busy := dial(t, sock)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: d\r\n\r\n")
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// The idle connection is closed: its read ends.
	if _, err := ibr.ReadByte(); err == nil {
		t.Error("the idle connection stayed open at shutdown")
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the request being served got no answer: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "done" {
		t.Errorf("answer %q", b)
	}
	if !resp.Close {
		t.Error("an answer during shutdown did not say that the connection closes")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestLateBodyReadFails: a body read after its handler returned, as
// http.Transport's write loop may do after RoundTrip, fails; it must never
// read the bytes of the connection that reuses the server's buffers.
func TestLateBodyReadFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func()
	}{
		{"the handler returns", func() {}},
		{"the handler aborts", func() { panic(http.ErrAbortHandler) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One P: a buffer given back is the next one taken.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			late := make(chan io.Reader, 1)
			holding, release := make(chan struct{}), make(chan struct{})
			_, ours := serveBoth(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/upload":
					late <- r.Body
					tc.end()
				case "/hold":
					close(holding)
					<-release
				}
			}))
			c1 := dial(t, ours)
			io.WriteString(c1, "POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\nAAAA")
			c1.(*net.UnixConn).CloseWrite()
			// The body was not read to its end: the server ends the
			// connection.
			io.ReadAll(c1)
			c2 := dial(t, ours)
			io.WriteString(c2, "GET /hold HTTP/1.1\r\nHost: d\r\n\r\n")
			<-holding
			io.WriteString(c2, "GET /victim HTTP/1.1\r\nHost: d\r\nX-Registry-Auth: secret\r\n\r\n")
			buf := make([]byte, 4096)
			n, err := (<-late).Read(buf)
			close(release)
			if n > 0 || err == nil {
				t.Errorf("a body read after its handler ended got %q (%v)", buf[:n], err)
			}
		})
	}
}

// TestBuffersKeptWhileBodyMayBeRead: a connection whose body was not read
// to its end never gives its buffers to another, whatever became of its
// answer: a read of the body may still be under way on another goroutine.
func TestBuffersKeptWhileBodyMayBeRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		// shutRead has the client shut its reading side: the answer
		// cannot be written.
		shutRead bool
		end      func()
	}{
		{"the answer is written", false, func() {}},
		{"the answer cannot be written", true, func() {}},
		{"the handler aborts", false, func() { panic(http.ErrAbortHandler) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One P: a buffer given back is the next one taken.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			started, answered := make(chan struct{}), make(chan struct{})
			srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				<-answered
				io.WriteString(w, "refused")
				tc.end()
			})}
			c := dial(t, serveOn(t, srv))
			io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: d\r\nContent-Length: 100000\r\n\r\nAAAA")
			<-started
			if tc.shutRead {
				c.(*net.UnixConn).CloseRead()
			}
			close(answered)
			c.(*net.UnixConn).CloseWrite()
			// Shutdown returns once the connection is gone, its buffers
			// given back or kept.
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if br := srv.readers.Get(); br != nil {
				t.Error("the connection's reader was given back for another")
			}
		})
	}
}

// TestShutdownClosesHalfSentHead: a kept connection whose next head has
// only begun to arrive is as idle as one that waits: shutdown closes it,
// as net/http's server does.
func TestShutdownClosesHalfSentHead(t *testing.T) {
	srv := &Server{Handler: echo}
	c := dial(t, serveOn(t, srv))
	// Only a guard against a hang.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	// Sent with the first request: the server has the start of the
	// second by the time the first is answered.
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: d\r\n\r\nGET /b HTTP/1.1\r\nHo")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection with a half-sent head: read %v, want it closed", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestCutWritesEndsStuckAnswer: an answer its client does not read ends
// once the server cuts writes, so that its handler returns.
func TestCutWritesEndsStuckAnswer(t *testing.T) {
	writing, ended := make(chan struct{}), make(chan error, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(writing)
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				ended <- err
				return
			}
		}
	})}
	defer srv.Close()
	c := dial(t, serveOn(t, srv))
	// The client never reads its answer.
	io.WriteString(c, "GET /large HTTP/1.1\r\nHost: d\r\n\r\n")
	<-writing
	srv.CutWrites(time.Now())
	if err := <-ended; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the stuck answer ended with %v, want the deadline", err)
	}
}

// TestServeClosesListener: a listener given to Serve is closed when Serve
// returns, even when shutdown came first (a socket the daemon made is
// removed on close).
func TestServeClosesListener(t *testing.T) {
	srv := &Server{Handler: echo}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want http.ErrServerClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Serve returned: %v, want the listener closed", err)
	}
}

// A header handed over with UseHeader is the answer's, with the fields
// set before it; once the head is out, it changes nothing.
func TestUseHeader(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Set-Before", "1")
		u := w.(interface{ UseHeader(http.Header) })
		u.UseHeader(http.Header{"X-Handed-Over": {"2"}, "Content-Length": {"2"}})
		w.Header().Set("X-Set-After", "3")
		io.WriteString(w, "ok")
		u.UseHeader(http.Header{"X-Too-Late": {"4"}})
	})}
	sock := serveOn(t, srv)
	t.Cleanup(func() { srv.Close() })
	got := exchange(t, sock, []byte("GET / HTTP/1.1\r\nHost: d\r\n\r\n"))
	want := []answer{{status: 200, body: "ok",
		header: `Content-Length=["2"] Content-Type=["text/plain; charset=utf-8"] X-Handed-Over=["2"] X-Set-After=["3"] X-Set-Before=["1"] length=2 chunked=[] close=false`}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// goroutineID is the running goroutine's number, from its stack's first
// line ("goroutine 42 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 10 s", what)
		}
	}
}

// inWork counts the goroutines in Server.work.
func inWork() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "h1.(*Server).work(")
}

// A connection is served by a goroutine that served one before, if one
// waits; at most maxWaiting wait, and shutdown ends them.
func TestServingGoroutinesReused(t *testing.T) {
	ids := make(chan string, 1)
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-release
			return
		}
		ids <- goroutineID()
	})}
	sock := serveOn(t, srv)
	before := inWork()
	get := func(path string) {
		if got := exchange(t, sock, []byte("GET "+path+" HTTP/1.1\r\nHost: d\r\n\r\n")); len(got) != 1 || got[0].status != 200 {
			t.Errorf("GET %s: %+v", path, got)
		}
	}
	get("/")
	served := map[string]bool{<-ids: true}
	// A goroutine counts itself waiting just before it waits: a
	// connection accepted in between gets a new one. Some of the next
	// connections, if not the first, go to one that served before.
	reused := false
	for range 20 {
		waitFor(t, "waiting", func() bool { return srv.waiting.Load() >= 1 })
		get("/")
		id := <-ids
		if reused = served[id]; reused {
			break
		}
		served[id] = true
	}
	if !reused {
		t.Errorf("20 connections in turn, each served by a new goroutine")
	}

	// More connections at once than may wait: the rest end with theirs.
	done := make(chan struct{})
	for range maxWaiting + 5 {
		go func() { get("/hold"); done <- struct{}{} }()
	}
	for range maxWaiting + 5 {
		<-arrived
	}
	close(release)
	for range maxWaiting + 5 {
		<-done
	}
	waitFor(t, "down to maxWaiting", func() bool { return srv.waiting.Load() == maxWaiting })
	srv.Close()
	// Other tests' servers may still have been ending theirs at the
	// start: none of this one's is left once the count is back there.
	waitFor(t, "ended by Close", func() bool { return srv.waiting.Load() == 0 && inWork() <= before })
}
