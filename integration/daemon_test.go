package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/moby/client"
)

// TestGoClient uses the engine's own Go client through the filter.
func TestGoClient(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, "--label", "dsf.test=goclient", e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
	c, err := client.New(client.WithHost(fmtHost(f.sock)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		t.Fatalf("ContainerList: %v", err)
	}
	found := false
	for _, s := range list.Items {
		found = found || s.ID == id
	}
	if !found {
		t.Errorf("ContainerList through the filter lacks %s", id)
	}
	if _, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("ContainerInspect: %v", err)
	}
	_, err = c.NetworkList(ctx, client.NetworkListOptions{})
	if err == nil || !strings.Contains(err.Error(), "(NetworkList) denied") {
		t.Errorf("NetworkList: err %v, want the filter's denial", err)
	}
}

// TestEngineDownThenUp starts the filter before the engine's socket exists:
// requests get a 502 with a JSON message, then work once it appears.
func TestEngineDownThenUp(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	upstream := filepath.Join(dir, "engine.sock")
	f := startFilter(t, e, filterOpts{upstream: "unix://" + upstream})
	status, body := get(t, f.sock, "/_ping")
	if status != 502 || !strings.Contains(body, `"message":"docker-socket-filter: cannot reach the Docker engine`) {
		t.Errorf("with the engine down: %d %q, want 502 with a JSON message", status, body)
	}
	_, errOut, err := cli(t, fmtHost(f.sock), nil, "version")
	if err == nil || !strings.Contains(errOut, "cannot reach the Docker engine") {
		t.Errorf("docker version with the engine down: err %v, stderr %q", err, errOut)
	}
	if err := os.Symlink(e.engineSock, upstream); err != nil {
		t.Fatal(err)
	}
	status, body = get(t, f.sock, "/_ping")
	if status != 200 || body != "OK" {
		t.Errorf("with the engine up: %d %q, want 200 OK", status, body)
	}
}

// TestSocketActivation runs the filter under systemd-socket-activate, which
// hands it a listening socket as systemd would.
func TestSocketActivation(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "activated.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-socket-activate", "-l", sock, "--fdname=api",
		"-E", "CONTAINERS=1", "-E", "PATH="+os.Getenv("PATH"),
		e.filterBin, "serve", "--policy=", "--listen", filepath.Join(dir, "unused.sock"), "--upstream", e.engineHost)
	logs := &syncBuffer{}
	cmd.Stdout = logs
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	// systemd-socket-activate says "Listening on ..." once the socket
	// exists; connecting before that would race it.
	lines := lineReader(stderr)
	waitLine(t, lines, "Listening on")
	go func() {
		for l := range lines {
			logs.Write([]byte(l + "\n"))
		}
	}()

	out := mustCLI(t, fmtHost(sock), "ps", "-a", "--format", "{{.ID}}")
	want := mustCLI(t, e.engineHost, "ps", "-a", "--format", "{{.ID}}")
	if out != want {
		t.Errorf("ps through the activated socket: %q, want %q", out, want)
	}
	_, errOut, err := cli(t, fmtHost(sock), nil, "network", "ls")
	if err == nil || !strings.Contains(errOut, "(NetworkList) denied") {
		t.Errorf("network ls: err %v, stderr %q", err, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the filter created --listen although systemd passed a socket (stat: %v)", err)
	}
	if !strings.Contains(logs.String(), "activated=true") {
		t.Errorf("the filter did not log that it was socket-activated:\n%s", logs.String())
	}
	// The FileDescriptorName reaches the listener: it is what a socket
	// will be told apart by.
	if !strings.Contains(logs.String(), "name=api") {
		t.Errorf("the filter did not log the socket's FileDescriptorName:\n%s", logs.String())
	}
}

// TestListenSocketFile covers the socket the daemon creates itself: mode
// and group applied, a stale socket replaced, a live one or a non-socket
// refused, and the socket removed on a clean exit.
func TestListenSocketFile(t *testing.T) {
	e := testEnv(t)
	t.Run("mode, group, removal on exit", func(t *testing.T) {
		dir := shortTempDir(t)
		sock := filepath.Join(dir, "f.sock")
		f := startFilter(t, e, filterOpts{sock: sock, args: []string{"--listen-mode", "0640", "--listen-group", "12345"}})
		fi, err := os.Stat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o640 {
			t.Errorf("socket mode %v, want socket 0640", fi.Mode())
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != 12345 {
			t.Errorf("socket group %d, want 12345", gid)
		}
		f.signal(syscall.SIGTERM)
		if err := f.wait(t); err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
		if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after a clean exit (lstat: %v)", err)
		}
	})
	t.Run("stale socket replaced", func(t *testing.T) {
		dir := shortTempDir(t)
		sock := filepath.Join(dir, "f.sock")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close() // the file stays, nobody listens: a dead daemon's socket
		f := startFilter(t, e, filterOpts{sock: sock})
		if status, body := get(t, f.sock, "/_ping"); status != 200 || body != "OK" {
			t.Errorf("ping on the replaced socket: %d %q", status, body)
		}
	})
	t.Run("live socket refused", func(t *testing.T) {
		first := startFilter(t, e, filterOpts{})
		out, err := runFilter(t, e, []string{"serve", "--policy=", "--listen", first.sock, "--upstream", e.engineHost})
		if err == nil || !strings.Contains(out, "another server is already listening") {
			t.Errorf("second daemon on a live socket: err %v, output %q", err, out)
		}
		if status, _ := get(t, first.sock, "/_ping"); status != 200 {
			t.Errorf("the first daemon's socket no longer answers: %d", status)
		}
	})
	t.Run("non-socket refused", func(t *testing.T) {
		path := filepath.Join(shortTempDir(t), "precious")
		if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runFilter(t, e, []string{"serve", "--policy=", "--listen", path, "--upstream", e.engineHost})
		if err == nil || !strings.Contains(out, "is not a socket: refusing to replace it") {
			t.Errorf("listen on a regular file: err %v, output %q", err, out)
		}
		if b, _ := os.ReadFile(path); string(b) != "data" {
			t.Errorf("the file was changed: %q", b)
		}
	})
}

// TestShutdownEndsStreams sends SIGTERM while an events stream is open:
// the daemon ends the stream, exits 0 and removes its socket.
func TestShutdownEndsStreams(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{})
	c := dial(t, f.sock)
	c.Write([]byte("GET /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n"))
	br := bufio.NewReader(c)
	resp := readHead(t, br)
	if resp != 200 {
		t.Fatalf("events: status %d", resp)
	}
	f.signal(syscall.SIGTERM)
	if err := f.wait(t); err != nil {
		t.Errorf("exit with an open stream: %v, want status 0", err)
	}
	if _, err := os.Lstat(f.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind (lstat: %v)", err)
	}
}

func readHead(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	var status int
	parts := strings.Fields(line)
	if len(parts) < 2 {
		t.Fatalf("status line %q", line)
	}
	for _, ch := range parts[1] {
		status = status*10 + int(ch-'0')
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			return status
		}
	}
}

// TestJSONLogs checks one JSON object per request with the audit fields.
func TestJSONLogs(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{args: []string{"--log-format", "json"}})
	get(t, f.sock, "/v1.41/networks")
	f.signal(syscall.SIGTERM)
	f.wait(t)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] != "request" {
			continue
		}
		found = true
		for _, k := range []string{"uid", "gid", "pid", "method", "path", "operation", "profile", "decision", "reason", "status", "duration"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("request record lacks %q: %v", k, rec)
			}
		}
		if rec["level"] != "WARN" || rec["decision"] != "deny" || rec["operation"] != "NetworkList" || rec["pid"].(float64) <= 0 {
			t.Errorf("denial record: %v", rec)
		}
	}
	if !found {
		t.Errorf("no request record in:\n%s", f.logs.String())
	}
}

// TestBadEnvironmentStopsStart checks that a mistyped variable is a
// startup error naming it, not a silently different policy.
func TestBadEnvironmentStopsStart(t *testing.T) {
	e := testEnv(t)
	sock := filepath.Join(shortTempDir(t), "f.sock")
	out, err := runFilter(t, e, []string{"serve", "--policy=", "--listen", sock, "--upstream", e.engineHost}, "CONTAINERS=maybe")
	if err == nil || !strings.Contains(out, "CONTAINERS") || !strings.Contains(out, `"maybe" is not a boolean`) {
		t.Errorf("CONTAINERS=maybe: err %v, output %q", err, out)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a socket was created by a daemon that refused to start")
	}
}
