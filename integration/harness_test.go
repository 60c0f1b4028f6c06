// Package integration tests the docker-socket-filter binary against a real
// Docker engine, with the docker CLI, the Go client and raw requests.
//
// `make test` starts a private engine and sets DSF_TEST_DOCKER_HOST,
// DSF_TEST_IMAGE and DSF_TEST_FILTER_BIN; without them these tests fail.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// env holds what `make test` provides.
type env struct {
	engineHost string // unix://PATH
	engineSock string // PATH
	image      string
	filterBin  string
}

func testEnv(t testing.TB) env {
	t.Helper()
	e := env{
		engineHost: os.Getenv("DSF_TEST_DOCKER_HOST"),
		image:      os.Getenv("DSF_TEST_IMAGE"),
		filterBin:  os.Getenv("DSF_TEST_FILTER_BIN"),
	}
	if e.engineHost == "" || e.image == "" || e.filterBin == "" {
		t.Fatal("integration tests need a Docker engine and the built filter: run them with `make test` " +
			"(DSF_TEST_DOCKER_HOST, DSF_TEST_IMAGE, DSF_TEST_FILTER_BIN unset)")
	}
	e.engineSock = strings.TrimPrefix(e.engineHost, "unix://")
	return e
}

// filterProc is a running filter binary.
type filterProc struct {
	sock string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // exit error, valid after done is closed
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type filterOpts struct {
	env  []string // tecnativa variables and the like
	args []string // extra serve flags
	// upstream overrides the engine socket.
	upstream string
	// sock overrides the listening path.
	sock string
}

// startFilter runs `serve` and returns once it reported READY over
// sd_notify, so no test polls for the socket.
func startFilter(t *testing.T, e env, o filterOpts) *filterProc {
	t.Helper()
	dir := shortTempDir(t)
	sock := o.sock
	if sock == "" {
		sock = filepath.Join(dir, "f.sock")
	}
	upstream := o.upstream
	if upstream == "" {
		upstream = e.engineHost
	}
	notify, ready := listenNotify(t, filepath.Join(dir, "notify.sock"))
	// An empty --policy makes the environment the policy, whatever is
	// installed at the default path; a test may name its own file.
	args := append([]string{"serve", "--listen", sock, "--upstream", upstream, "--policy="}, o.args...)
	cmd := exec.Command(e.filterBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "NOTIFY_SOCKET=" + notify}, o.env...)
	f := &filterProc{sock: sock, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f.logs, f.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start filter: %v", err)
	}
	go func() { f.err = cmd.Wait(); close(f.done) }()
	t.Cleanup(func() {
		f.signal(syscall.SIGTERM)
		select {
		case <-f.done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-f.done
		}
		if t.Failed() {
			t.Logf("filter logs:\n%s", f.logs.String())
		}
	})
	select {
	case msg := <-ready:
		if !strings.Contains(msg, "READY=1") {
			t.Fatalf("first notification is %q, want READY=1", msg)
		}
	case <-f.done:
		t.Fatalf("filter exited before READY: %v\n%s", f.err, f.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("filter sent no READY within 30s\n%s", f.logs.String())
	}
	return f
}

// runFilter runs the binary to completion and returns its output and exit
// error.
func runFilter(t *testing.T, e env, args []string, extraEnv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.filterBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (f *filterProc) signal(sig os.Signal) {
	if f.cmd.Process != nil {
		f.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit and returns its exit error.
func (f *filterProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-f.done:
		return f.err
	case <-time.After(30 * time.Second):
		t.Fatalf("filter did not exit within 30s\n%s", f.logs.String())
		return nil
	}
}

// listenNotify listens like systemd does for sd_notify datagrams and
// returns the socket path and a channel of received messages.
func listenNotify(t *testing.T, path string) (string, <-chan string) {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen for notifications: %v", err)
	}
	ch := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return path, ch
}

// shortTempDir returns a temporary directory whose paths fit in a unix
// socket address (108 bytes), which t.TempDir's often do not.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "dsf")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cli runs the docker CLI against host and returns stdout, stderr and the
// exit error.
func cli(t *testing.T, host string, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+shortTempDir(t), "DOCKER_CLI_HINTS=false")
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustCLI runs the docker CLI and fails the test if it fails.
func mustCLI(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, host, nil, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// runContainer starts a detached container directly on the engine and
// removes it when the test ends.
func runContainer(t *testing.T, e env, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(mustCLI(t, e.engineHost, append([]string{"run", "-d", "--network", "none"}, args...)...))
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", id) })
	return id
}

// rawExchange writes raw bytes to a unix socket and reads every response
// that comes back until the peer closes or no more is expected.
func dial(t *testing.T, sock string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponses reads n HTTP responses from a connection, bodies included.
func readResponses(t *testing.T, br *bufio.Reader, n int, method string) []*http.Response {
	t.Helper()
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("read response %d: %v", len(out)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body %d: %v", len(out)+1, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func bodyOf(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// unixHTTPClient talks HTTP to a unix socket.
func unixHTTPClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

func get(t *testing.T, sock, path string) (int, string) {
	t.Helper()
	resp, err := unixHTTPClient(sock).Get("http://docker" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lineReader delivers a stream's lines, so that a test can wait for a
// given line without sleeping.
func lineReader(r io.Reader) <-chan string {
	ch := make(chan string, 256)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

// waitLine waits for a line containing want; it fails after a generous
// bound so that a broken stream cannot hang the suite.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before a line with %q; saw %q", want, seen)
			}
			if strings.Contains(l, want) {
				return
			}
			seen = append(seen, l)
		case <-deadline:
			t.Fatalf("no line with %q within 60s; saw %q", want, seen)
		}
	}
}

func fmtHost(sock string) string { return fmt.Sprintf("unix://%s", sock) }
