package integration

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKeepAliveDecidesEachRequest sends an allowed request and then a
// denied one on the same connection, one after the other and pipelined:
// the first is answered by the engine, the second by the filter.
func TestKeepAliveDecidesEachRequest(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
	allowed := "GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n"
	denied := "GET /v1.41/networks HTTP/1.1\r\nHost: docker\r\n\r\n"
	for _, mode := range []string{"sequential", "pipelined"} {
		t.Run(mode, func(t *testing.T) {
			c := dial(t, f.sock)
			br := bufio.NewReader(c)
			var resps []*http.Response
			if mode == "pipelined" {
				io.WriteString(c, allowed+denied)
				resps = readResponses(t, br, 2, "GET")
			} else {
				io.WriteString(c, allowed)
				resps = readResponses(t, br, 1, "GET")
				io.WriteString(c, denied)
				resps = append(resps, readResponses(t, br, 1, "GET")...)
			}
			if resps[0].StatusCode != 200 || !strings.HasPrefix(bodyOf(t, resps[0]), "[") {
				t.Errorf("allowed request: %d %q", resps[0].StatusCode, bodyOf(t, resps[0]))
			}
			assertDenied(t, resps[1], "GET /v1.41/networks (NetworkList) denied")
		})
	}
}

// assertDenied checks a filter denial: 403 or 400, a JSON body whose
// message says what was denied.
func assertDenied(t *testing.T, r *http.Response, want string) {
	t.Helper()
	if r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 403 or 400", r.StatusCode)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var msg struct{ Message string }
	if err := json.Unmarshal([]byte(bodyOf(t, r)), &msg); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, bodyOf(t, r))
	}
	if !strings.HasPrefix(msg.Message, "docker-socket-filter: ") || !strings.Contains(msg.Message, want) {
		t.Errorf("message %q, want it to contain %q", msg.Message, want)
	}
}

// TestPathTricksAreDenied sends paths that would reach another operation
// if the filter and the engine read them differently. None may be
// forwarded; the filter's audit record says so.
func TestPathTricksAreDenied(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
	cases := []struct {
		method, target, want string
	}{
		{"GET", "/v1.41//networks", "not canonical"},
		{"GET", "/v1.41/containers/json/../../networks", "not canonical"},
		{"GET", "/v1.41/containers/%2e%2e/networks", "not canonical"},
		{"GET", "/v1.41/containers/x%2fy/json", "not canonical"},
		{"GET", "/v1.41/containers/x%252fy/json", "not canonical"},
		{"GET", "/v1.41/containers/a/b/json", "unknown route"},
		{"GET", "/v1.41/containers/json/", "not canonical"},
		{"GET", "/v1/networks", "not canonical"},
		{"GET", "/v1.41.1.1/networks", "not canonical"},
		{"GET", "/V1.41/networks", "unknown route"},
		{"GET", "/v1.41/Networks", "unknown route"},
		{"get", "/v1.41/containers/json", "unknown route"},
		{"OPTIONS", "/v1.41/containers/json", "unknown route"},
		{"TRACE", "/v1.41/containers/json", "unknown route"},
		{"PATCH", "/v1.41/containers/json", "unknown route"},
		{"GET", "/v1.41/containers/x/attach/ws", "ContainerAttachWebsocket"},
		{"GET", "/v1.41/containers/x/export", "ContainerExport"},
		{"GET", "/v1.41/containers/x/archive?path=/etc", "ContainerArchive"},
		{"HEAD", "/v1.41/containers/x/archive?path=/etc", "ContainerArchiveInfo"},
		{"POST", "/v1.41/containers/create", "ContainerCreate"},
		{"GET", "http://docker/v1.41/networks", "NetworkList"},
		{"GET", "/v1.41/containers/%c0%ae%c0%ae/networks", "not canonical"},
		{"GET", "/v1.41/containers/json.", "unknown route"},
		{"GET", "/v1.41./containers/json", "unknown route"},
		{"GET", "/v1.41/containers/json%00", "not canonical"},
		{"GET", "/v1.23/containers/json", "API version 1.23"},
		{"Get", "/v1.41/containers/json", "unknown route"},
		{"GET", "/containers/%2e%2e%2fnetworks", "not canonical"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			conn := dial(t, f.sock)
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n", c.method, c.target)
			resp := readResponses(t, bufio.NewReader(conn), 1, c.method)[0]
			if c.method == "HEAD" {
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", resp.StatusCode)
				}
				return
			}
			assertDenied(t, resp, c.want)
		})
	}
	if strings.Contains(f.logs.String(), "decision=allow") {
		t.Errorf("the filter allowed a request:\n%s", f.logs.String())
	}
}

// TestAttachRawBothForms drives attach over raw HTTP, in its upgrade form
// (101) and its legacy form (200 raw stream): the input, its end, and the
// output produced after the end all cross.
func TestAttachRawBothForms(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	// "eager" sends its input with the request and half-closes before
	// any answer, as `printf ... | socat` does.
	for _, form := range []string{"upgrade", "legacy", "eager"} {
		t.Run(form, func(t *testing.T) {
			id := strings.TrimSpace(mustCLI(t, e.engineHost, "create", "-i", "--network", "none", e.image,
				"sh", "-c", "cat; echo after-eof"))
			t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", id) })
			mustCLI(t, e.engineHost, "start", id)
			c := dial(t, f.sock)
			upgrade := ""
			if form != "legacy" {
				upgrade = "Connection: Upgrade\r\nUpgrade: tcp\r\n"
			}
			fmt.Fprintf(c, "POST /v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n%sContent-Length: 0\r\n\r\n", id, upgrade)
			if form == "eager" {
				io.WriteString(c, "ping\n")
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
			if err != nil {
				t.Fatalf("read attach response: %v", err)
			}
			wantStatus := map[string]int{"upgrade": 101, "legacy": 200, "eager": 101}[form]
			if resp.StatusCode != wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, wantStatus)
			}
			if form != "eager" {
				io.WriteString(c, "ping\n")
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := demux(br)
			if err != nil {
				t.Fatalf("read output: %v (so far %q)", err, got)
			}
			if want := "ping\nafter-eof\n"; got != want {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
}

// demux reads the engine's multiplexed stdout/stderr frames until EOF.
func demux(r io.Reader) (string, error) {
	var out strings.Builder
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if err == io.EOF {
				return out.String(), nil
			}
			return out.String(), err
		}
		n := binary.BigEndian.Uint32(hdr[4:])
		if _, err := io.CopyN(&out, r, int64(n)); err != nil {
			return out.String(), err
		}
	}
}

// TestStartWithBodyIsRefused: below API 1.24 the engine applies a
// HostConfig sent in the body of ContainerStart, so a profile allowed only
// to start containers could bind the host's root into one. Old versions and
// bodies on operations that take none are refused; the engine must not
// change the container.
func TestStartWithBodyIsRefused(t *testing.T) {
	e := testEnv(t)
	id := strings.TrimSpace(mustCLI(t, e.engineHost, "create", "--network", "none", e.image, "true"))
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", id) })
	f := startFilter(t, e, filterOpts{env: []string{"ALLOW_START=1"}})
	body := `{"Binds":["/:/host"],"Privileged":true}`
	cases := []struct {
		name, request, want string
	}{
		{"old API version with a HostConfig body",
			"POST /v1.23/containers/" + id + "/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body,
			"API version 1.23"},
		{"old API version without a body",
			"POST /v1.12/containers/" + id + "/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n",
			"API version 1.12"},
		{"current version with a body",
			"POST /v1.41/containers/" + id + "/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body,
			"(ContainerStart) denied"},
		{"current version with a chunked body",
			"POST /v1.41/containers/" + id + "/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body),
			"(ContainerStart) denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, f.sock)
			io.WriteString(conn, c.request)
			assertDenied(t, readResponses(t, bufio.NewReader(conn), 1, "POST")[0], c.want)
		})
	}
	got := mustCLI(t, e.engineHost, "inspect", "-f", "{{.HostConfig.Binds}} {{.HostConfig.Privileged}} {{.State.StartedAt}}", id)
	if got != "[] false 0001-01-01T00:00:00Z\n" {
		t.Errorf("the engine acted on a refused request: binds, privileged, started = %q", got)
	}
}

// TestExecStartExpectContinue: a client asking for 100-continue on exec
// start still gets its session, not the interim answer.
func TestExecStartExpectContinue(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1", "EXEC=1"}})
	c := dial(t, f.sock)
	br := bufio.NewReader(c)
	create := `{"AttachStdout":true,"AttachStderr":true,"Cmd":["echo","exec-output"]}`
	fmt.Fprintf(c, "POST /v1.41/containers/%s/exec HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", id, len(create), create)
	resp := readResponses(t, br, 1, "POST")[0]
	var created struct{ Id string }
	if err := json.Unmarshal([]byte(bodyOf(t, resp)), &created); err != nil || created.Id == "" {
		t.Fatalf("exec create: %d %q", resp.StatusCode, bodyOf(t, resp))
	}
	start := `{"Detach":false,"Tty":false}`
	fmt.Fprintf(c, "POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n%s", created.Id, len(start), start)
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
		if err != nil {
			t.Fatalf("exec start: %v", err)
		}
		if resp.StatusCode == http.StatusContinue {
			continue
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("exec start: status %d, want 101", resp.StatusCode)
		}
		break
	}
	out, err := demux(br)
	if err != nil || out != "exec-output\n" {
		t.Errorf("exec output %q (%v), want %q", out, err, "exec-output\n")
	}
}

// TestNoProfileClosesConnection: a peer with no profile gets its 403 and
// the connection ends, so it cannot hold descriptors open.
func TestNoProfileClosesConnection(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, "profiles: {}\ndefault: none\n")
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	c := dial(t, f.sock)
	io.WriteString(c, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
	br := bufio.NewReader(c)
	resp := readResponses(t, br, 1, "GET")[0]
	assertDenied(t, resp, "default gives no profile")
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection still open after a denial to a peer with no profile (read: %v)", err)
	}
}

// TestHalfClosedClientGetsItsAnswer: a client that half-closes after its
// request (printf ... | socat) still gets the engine's answer, as it does
// from the engine directly.
func TestHalfClosedClientGetsItsAnswer(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
	for _, sock := range []string{e.engineSock, f.sock} {
		c := dial(t, sock)
		io.WriteString(c, "GET /v1.41/containers/json HTTP/1.0\r\nHost: d\r\n\r\n")
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		resp := readResponses(t, bufio.NewReader(c), 1, "GET")[0]
		if body := bodyOf(t, resp); resp.StatusCode != 200 || !strings.HasPrefix(body, "[") {
			t.Errorf("via %s: %d %q, want the container list", sock, resp.StatusCode, body)
		}
	}
}

// TestGoneTunnelClientFreesItsSlot: a client killed during a silent attach
// (its connection closed entirely, not half-closed) ends the session, and
// its place under --max-conns-per-uid is given back.
func TestGoneTunnelClientFreesItsSlot(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, "-i", e.image, "cat")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}, args: []string{"--max-conns-per-uid", "1"}})
	c := dial(t, f.sock)
	// Output only: the engine ignores the client's side, so the client's
	// EOF alone does not end the session.
	fmt.Fprintf(c, "POST /v1.41/containers/%s/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n", id)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "POST"})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("attach: %v %v", resp, err)
	}
	// While the session holds the uid's one slot, another connection is
	// refused at accept, with an answer that names the bound.
	other := dial(t, f.sock)
	io.WriteString(other, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(other), nil); err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second connection over --max-conns-per-uid 1: %v %v, want 429", resp, err)
	} else if body := bodyOf(t, resp); !strings.Contains(body, "at most 1 per uid") {
		t.Errorf("429 answer %q does not name the bound", body)
	}
	c.Close()
	deadline := time.Now().Add(30 * time.Second)
	ended := regexp.MustCompile(`msg=request .*operation=ContainerAttach`)
	for !ended.MatchString(f.logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("the attach session did not end within 30s of its client closing:\n%s", f.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, _ := get(t, f.sock, "/_ping"); status != 200 {
		t.Errorf("after the session ended, ping: %d", status)
	}
}
