package integration

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests follow holes4_test.go for the fifth look: the engine
// connection a client connection holds for its life and gives back to a
// pool shared by every caller, learn mode's forwarding of what a profile
// denies, and the views applied to answers on that path. Each case asks
// the engine whether it acted, or asks what another caller receives.

// peerGet sends one GET over sock as another uid (a connection of its
// own, which takes an engine connection from the pool) and returns the
// status and body.
func peerGet(t *testing.T, sock string, uid int, path string) (int, string) {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(uid), "--clear-groups",
		"curl", "-sS", "--max-time", "60", "--unix-socket", sock, "-w", "\n%{http_code}", "http://d"+path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("uid %d GET %s: %v: %s", uid, path, err, out)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		t.Fatalf("uid %d GET %s: no status in %q", uid, path, s)
	}
	return code, s[:i]
}

// TestHole5x1HeldUpstreamHandOver: a caller leaves its held engine
// connection in whatever state raw HTTP can put it in (an answer read in
// part, pipelined requests never read, a HEAD, a 100-continue, framing
// tricks carrying a second request), then hangs up; another uid, whose
// profile hides that container and redacts environments, connects next
// and takes the pooled connection. It must get the answers to its own
// requests, viewed, and nothing the first caller smuggled may reach the
// engine.
func TestHole5x1HeldUpstreamHandOver(t *testing.T) {
	e := testEnv(t)
	prefix := fmt.Sprintf("dsfhole5x1-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	const secret, shownSecret = "hole5-Secret-9d2e", "hole5-Shown-77ab"
	hidden := runContainer(t, e, "--name", prefix+"-hidden", "--label", "dsf5.show=false", "-e", "SECRET="+secret, e.image, "sleep", "300")
	shown := runContainer(t, e, "--name", prefix+"-shown", "--label", "dsf5.show=true", "-e", "SHOWN="+shownSecret, e.image, "sleep", "300")
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  wide:
    allow: [SystemPing, ContainerList, ContainerInspect, ContainerExport, ContainerArchiveInfo, ContainerCreate]
  viewer:
    allow: [ContainerList, ContainerInspect]
    redact: [env]
    visible_if_label: dsf5.show=true
clients:
  - user: 0
    profile: wide
  - user: 4510
    profile: viewer
default: none
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666"}})
	create := func(name string) string {
		return fmt.Sprintf("POST /v1.41/containers/create?name=%s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n", name)
	}
	createBody := fmt.Sprintf(`{"Image":%q,"Cmd":["true"],"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none"}}`, e.image)
	// smuggled is a request the wide profile denies, as the engine
	// would read it if it got it as part of another.
	smuggled := func(i int) string {
		body := fmt.Sprintf(`{"Name":"%s-smuggled%d"}`, prefix, i)
		return fmt.Sprintf("POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	inspectHidden := "GET /v1.41/containers/" + hidden + "/json HTTP/1.1\r\nHost: d\r\n\r\n"
	cases := []struct {
		name string
		// raw is what the first caller writes; read how many answers it
		// reads before it hangs up (-1: the status line only).
		raw  func(i int) string
		read int
	}{
		{"an export answer read in part", func(int) string {
			return "GET /v1.41/containers/" + hidden + "/export HTTP/1.1\r\nHost: d\r\n\r\n"
		}, -1},
		{"pipelined inspects, none read", func(int) string { return strings.Repeat(inspectHidden, 8) }, 0},
		{"pipelined inspects, one read", func(int) string { return strings.Repeat(inspectHidden, 8) }, 1},
		{"a HEAD whose answer names a size", func(int) string {
			return "HEAD /v1.41/containers/" + hidden + "/archive?path=/bin/busybox HTTP/1.1\r\nHost: d\r\n\r\n" + inspectHidden
		}, 0},
		{"Expect: 100-continue with the body sent at once", func(i int) string {
			return create(fmt.Sprintf("%s-expect%d", prefix, i)) + fmt.Sprintf("Expect: 100-continue\r\nContent-Length: %d\r\n\r\n%s", len(createBody), createBody) + inspectHidden
		}, 2},
		{"a judged body, then a denied request pipelined", func(i int) string {
			return create(fmt.Sprintf("%s-pipe%d", prefix, i)) + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(createBody), createBody) + smuggled(i)
		}, 2},
		{"Content-Length and Transfer-Encoding together", func(i int) string {
			return create(fmt.Sprintf("%s-tecl%d", prefix, i)) + fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(createBody)) +
				chunked(createBody, "") + smuggled(i)
		}, 2},
		{"a chunk extension and bare LF line ends", func(i int) string {
			return create(fmt.Sprintf("%s-ext%d", prefix, i)) + "Transfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x;x=\"a\r\nb\"\n%s\n0\n\n", len(createBody), createBody) + smuggled(i)
		}, 1},
		{"an obs-folded Transfer-Encoding", func(i int) string {
			return create(fmt.Sprintf("%s-fold%d", prefix, i)) + fmt.Sprintf("Content-Length: %d\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n%s", len(createBody), createBody) + smuggled(i)
		}, 1},
		{"two Content-Lengths", func(i int) string {
			return create(fmt.Sprintf("%s-twocl%d", prefix, i)) + fmt.Sprintf("Content-Length: %d\r\nContent-Length: %d\r\n\r\n%s", len(createBody), len(createBody)+len(smuggled(i)), createBody) + smuggled(i)
		}, 1},
		{"a denied body that is a request", func(i int) string {
			s := smuggled(i)
			return fmt.Sprintf("POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(s), s)
		}, 1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, f.sock)
			conn.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := io.WriteString(conn, c.raw(i)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			if c.read < 0 {
				if _, err := br.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
			}
			for n := 0; n < c.read; n++ {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				io.Copy(io.Discard, resp.Body)
			}
			conn.Close()
			for range 3 {
				code, body := peerGet(t, f.sock, 4510, "/v1.41/containers/"+shown+"/json")
				var in struct {
					ID     string `json:"Id"`
					Config struct{ Env []string }
				}
				json.Unmarshal([]byte(body), &in)
				if code != 200 || in.ID != shown || strings.Contains(body, secret) || strings.Contains(body, shownSecret) {
					t.Errorf("the next caller's inspect of its container: %d id %.12s, want 200 for %.12s, redacted:\n%.400s", code, in.ID, shown, body)
				}
				if code, body := peerGet(t, f.sock, 4510, "/v1.41/containers/"+hidden+"/json"); code != 404 || strings.Contains(body, secret) {
					t.Errorf("the next caller's inspect of a hidden container: %d %.300s, want 404", code, body)
				}
			}
			if engineHas(t, e, "volume", fmt.Sprintf("%s-smuggled%d", prefix, i)) {
				t.Errorf("the engine created the volume of a request the profile denies")
			}
		})
	}
}

// TestHole5x2LearnAllowJudgesTheBody: learn mode allow forwards what a
// profile refuses, but "the rest of the request is still judged as in
// force, so that a malformed request stays denied": a body the filter
// cannot read as the engine does must not reach the engine. A refusal of
// the query comes before the body is read, and the body is then read to
// be forwarded but never judged.
func TestHole5x2LearnAllowJudgesTheBody(t *testing.T) {
	e := testEnv(t)
	state := shortTempDir(t)
	policy := writePolicy(t, shortTempDir(t), `
profiles:
  puller:
    allow: [SystemPing, PluginPull]
  nothing:
    allow: [SystemPing]
clients:
  - user: 0
    profile: puller
  - user: 4520
    profile: nothing
default: none
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--learn=allow", "--state-dir", state}})
	// Not valid JSON: the engine fails to parse the privileges; the
	// filter answers 400 before it.
	const malformed = `[{"Name":"network","Value":["host"]},`
	cases := []struct {
		name, query string
	}{
		{"a registry the profile allows (the body is judged)", "remote=acme/hole5x2-plugin:1"},
		{"a registry the profile refuses (remote_fetch), in learn mode", "remote=registry.invalid/acme/hole5x2-plugin:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/plugins/pull?"+c.query, "application/json", malformed)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "docker-socket-filter:") {
				t.Errorf("a malformed privileges body: %d %s; want the filter's 400, the engine not asked", resp.StatusCode, strings.TrimSpace(body))
			}
		})
	}
}

// TestHole5x3ViewsWithAcceptEncoding: a client that asks for a gzip
// answer must still get the view's answer (or none): redacted
// environments, hidden containers left out, on the inspect, the list and
// an image's inspect.
func TestHole5x3ViewsWithAcceptEncoding(t *testing.T) {
	e := testEnv(t)
	prefix := fmt.Sprintf("dsfhole5x3-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	const secret = "hole5x3-Secret-0b1d"
	hidden := runContainer(t, e, "--name", prefix+"-hidden", "--label", "dsf5.show=false", "-e", "SECRET="+secret, e.image, "sleep", "300")
	shown := runContainer(t, e, "--name", prefix+"-shown", "--label", "dsf5.show=true", "-e", "SHOWN="+secret, e.image, "sleep", "300")
	policy := writePolicy(t, shortTempDir(t), `
profiles:
  viewer:
    allow: [ContainerList, ContainerInspect, ImageInspect]
    redact: [env]
    visible_if_label: dsf5.show=true
default: viewer
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	cases := []struct{ name, path string }{
		{"inspect", "/v1.41/containers/" + shown + "/json"},
		{"list", "/v1.41/containers/json?all=1"},
		{"image inspect", "/v1.41/images/" + e.image + "/json"},
	}
	for _, c := range cases {
		for _, enc := range []string{"gzip", "gzip, deflate, br", "identity;q=0, gzip"} {
			t.Run(c.name+" with Accept-Encoding: "+enc, func(t *testing.T) {
				resp, body := holeReq(t, f.sock, "GET", c.path, "", "", "Accept-Encoding: "+enc)
				if resp.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(strings.NewReader(body))
					if err != nil {
						t.Fatalf("gzip answer: %v", err)
					}
					b, _ := io.ReadAll(zr)
					body = string(b)
				}
				if resp.StatusCode != 200 || strings.Contains(body, secret) || strings.Contains(body, hidden) {
					t.Errorf("%d %.400s; want 200, env redacted, the hidden container absent", resp.StatusCode, body)
				}
				if c.name != "image inspect" && !strings.Contains(body, shown) {
					t.Errorf("the shown container is missing: %.400s", body)
				}
			})
		}
	}
}
