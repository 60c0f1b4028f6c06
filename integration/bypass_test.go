package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestBodyBypassSuite sends hostile container, exec and volume creations
// raw over the socket, each trying to smuggle a privilege past the
// profile's body rules. For each, the engine must not act: afterwards the
// engine holds only the containers the suite meant to allow.
func TestBodyBypassSuite(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	// Bind sources may not lie under /tmp (the service sees a private
	// one), so this one is made under /srv.
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	allowed, err := os.MkdirTemp("/srv", "dsf-allowed")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(allowed) })
	if err := os.Symlink("/etc", filepath.Join(allowed, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "later"), filepath.Join(allowed, "dangling")); err != nil {
		t.Fatal(err)
	}
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  writer:
    allow: [SystemPing, ContainerCreate, ContainerExec, VolumeCreate, ContainerList]
    create:
      bind_sources: [%s]
clients:
  - user: 0
    profile: writer
`, allowed))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--max-body", "4096"}})
	running := runContainer(t, e, e.image, "sleep", "300")
	prefix := "dsfbypass" + fmt.Sprint(os.Getpid())
	t.Cleanup(func() {
		ids, _, _ := cli(t, e.engineHost, nil, "ps", "-aq", "--filter", "name="+prefix)
		for _, id := range strings.Fields(ids) {
			cli(t, e.engineHost, nil, "rm", "-f", id)
		}
		cli(t, e.engineHost, nil, "volume", "rm", "-f", prefix+"-vol")
	})

	create := func(n int) string { return fmt.Sprintf("/v1.41/containers/create?name=%s-%d", prefix, n) }
	post := func(path, ctype, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", path, ctype, len(body), body)
	}
	img := fmt.Sprintf(`"Image":%q`, e.image)
	json := "application/json"
	cases := []struct {
		name    string
		request string
		status  int
		want    string
	}{
		{"privileged", post(create(1), json, `{`+img+`,"HostConfig":{"Privileged":true}}`), 403, "privileged containers are not allowed"},
		{"lower-case keys", post(create(2), json, `{`+img+`,"hostconfig":{"privileged":true}}`), 403, "privileged"},
		{"upper-case keys", post(create(3), json, `{`+img+`,"HOSTCONFIG":{"PRIVILEGED":true}}`), 403, "privileged"},
		{"escaped key", post(create(4), json, `{`+img+`,"HostConfig":{"Privil\u0065ged":true}}`), 403, "privileged"},
		{"last duplicate wins", post(create(5), json, `{`+img+`,"HostConfig":{"Privileged":false,"Privileged":true}}`), 403, "privileged"},
		{"case-variant duplicate", post(create(6), json, `{`+img+`,"HostConfig":{"Privileged":false,"privileged":true}}`), 400, "differ only in case"},
		{"case-variant duplicate objects", post(create(7), json, `{`+img+`,"HostConfig":{},"hostConfig":{"Privileged":true}}`), 400, "differ only in case"},
		{"number for a boolean", post(create(8), json, `{`+img+`,"HostConfig":{"Privileged":1}}`), 400, "cannot unmarshal"},
		{"charset in content type", post(create(9), "application/json; charset=utf-8", `{`+img+`,"HostConfig":{"Privileged":true}}`), 403, "privileged"},
		{"other content type", post(create(10), "text/plain", `{`+img+`,"HostConfig":{"Privileged":true}}`), 403, "privileged"},
		{"second JSON value", post(create(11), json, `{`+img+`} {"HostConfig":{"Privileged":true}}`), 400, "after the JSON value"},
		{"unknown field", post(create(12), json, `{`+img+`,"HostConfig":{"Capabilities":["ALL"]}}`), 400, "unknown field"},
		{"host bind", post(create(13), json, `{`+img+`,"HostConfig":{"Binds":["/:/host"]}}`), 403, "not under an allowed bind source"},
		{"dot-dot out of the bind source", post(create(14), json, `{`+img+`,"HostConfig":{"Binds":["`+allowed+`/../../etc:/host"]}}`), 403, "not clean"},
		{"symbolic link out of the bind source", post(create(15), json, `{`+img+`,"HostConfig":{"Binds":["`+allowed+`/link:/host:ro"]}}`), 403, "resolves to /etc"},
		{"dangling symbolic link in the bind source", post(create(26), json, `{`+img+`,"HostConfig":{"Binds":["`+allowed+`/dangling/x:/host:ro"]}}`), 403, "does not exist"},
		{"writable bind of the bind source", post(create(50), json, `{`+img+`,"HostConfig":{"Binds":["`+allowed+`/job:/work"]}}`), 403, "writable_binds"},
		{"overlay volume of host directories", post(create(27), json, `{`+img+`,"HostConfig":{"Mounts":[{"Type":"volume","Source":"`+prefix+`-ov","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"overlay","device":"overlay","o":"lowerdir=/etc"}}}}]}}`), 403, "volume type"},
		{"host proc volume", post("/v1.41/volumes/create", json, `{"Name":"`+prefix+`-vol","DriverOpts":{"type":"proc","device":"proc"}}`), 403, "volume type"},
		{"bind mount", post(create(16), json, `{`+img+`,"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}}`), 403, "not under"},
		{"host network", post(create(17), json, `{`+img+`,"HostConfig":{"NetworkMode":"host"}}`), 403, "NetworkMode"},
		{"host pid", post(create(18), json, `{`+img+`,"HostConfig":{"PidMode":"host"}}`), 403, "PidMode"},
		{"added capability", post(create(19), json, `{`+img+`,"HostConfig":{"CapAdd":["SYS_ADMIN"]}}`), 403, "SYS_ADMIN"},
		{"unconfined seccomp", post(create(20), json, `{`+img+`,"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`), 403, "security option"},
		{"chunked", fmt.Sprintf("POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", create(21)) +
			chunked(`{`+img+`,"HostConfig":{"Privileged":true}}`, ""), 403, "privileged"},
		{"chunk extensions", fmt.Sprintf("POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", create(22)) +
			chunked(`{`+img+`,"HostConfig":{"Privileged":true}}`, ";ext=1"), 403, "privileged"},
		{"chunked and content-length", fmt.Sprintf("POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", create(23)) +
			chunked(`{`+img+`,"HostConfig":{"Privileged":true}}`, ""), 403, "privileged"},
		{"zero content-length with bytes after", fmt.Sprintf("POST %s HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n", create(24)) +
			`{` + img + `,"HostConfig":{"Privileged":true}}`, 400, "empty body"},
		{"over the size cap", post(create(25), json, `{`+img+`,"Labels":{"pad":"`+strings.Repeat("x", 5000)+`"},"HostConfig":{"Privileged":true}}`), 413, "over 4096 bytes"},
		{"bind-mount volume", post("/v1.41/volumes/create", json, `{"Name":"`+prefix+`-vol","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`), 403, "not under"},
		{"privileged exec", post("/v1.41/containers/"+running+"/exec", json, `{"Cmd":["id"],"Privileged":true}`), 403, "privileged exec"},
		{"start carrying a host config", post("/v1.41/containers/"+running+"/start", json, `{"Binds":["/:/host"]}`), 403, "(ContainerStart) denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, f.sock)
			io.WriteString(conn, c.request)
			resp := readResponses(t, bufio.NewReader(conn), 1, "POST")[0]
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, bodyOf(t, resp))
			}
			assertDenied413(t, resp, c.want)
		})
	}

	// The one create that the rules allow, alone and pipelined ahead of a
	// refused one on the same connection.
	ok := `{` + img + `,"Cmd":["true"],"HostConfig":{"CgroupnsMode":"private","Binds":["` + allowed + `/job:/work:ro"]}}`
	bad := `{` + img + `,"HostConfig":{"Privileged":true}}`
	conn := dial(t, f.sock)
	io.WriteString(conn, post(create(100), json, ok)+post(create(101), json, bad))
	resps := readResponses(t, bufio.NewReader(conn), 2, "POST")
	if resps[0].StatusCode != http.StatusCreated {
		t.Errorf("allowed create: %d %s", resps[0].StatusCode, bodyOf(t, resps[0]))
	}
	assertDenied(t, resps[1], "privileged")

	names, _, err := cli(t, e.engineHost, nil, "ps", "-a", "--filter", "name="+prefix, "--format", "{{.Names}}")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(names)
	sort.Strings(got)
	if want := []string{fmt.Sprintf("%s-%d", prefix, 100)}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("containers the engine created: %v, want only %v", got, want)
	}
	if out, _, _ := cli(t, e.engineHost, nil, "volume", "ls", "-q", "--filter", "name="+prefix); strings.TrimSpace(out) != "" {
		t.Errorf("the engine created volume %q", out)
	}
	if out := mustCLI(t, e.engineHost, "inspect", "-f", "{{len .ExecIDs}}", running); strings.TrimSpace(out) != "0" {
		t.Errorf("the engine created %s execs", out)
	}
}

// chunked frames a body as one chunk (with an optional extension) and the
// last chunk.
func chunked(body, ext string) string {
	return fmt.Sprintf("%x%s\r\n%s\r\n0\r\n\r\n", len(body), ext, body)
}

// assertDenied413 is assertDenied that also accepts 413.
func assertDenied413(t *testing.T, r *http.Response, want string) {
	t.Helper()
	if r.StatusCode == http.StatusRequestEntityTooLarge {
		r.StatusCode = http.StatusBadRequest
		defer func() { r.StatusCode = http.StatusRequestEntityTooLarge }()
	}
	assertDenied(t, r, want)
}

// TestProtocolTricks sends requests that try to leave HTTP/1.1 request by
// request: an h2c upgrade on an allowed route, the HTTP/2 preface, an
// upgrade to attach behind an allowed request, oversized headers. None
// reaches the engine as anything but the request the filter judged.
func TestProtocolTricks(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})

	t.Run("h2c upgrade on an allowed route is refused and stays HTTP/1.1", func(t *testing.T) {
		c := dial(t, f.sock)
		io.WriteString(c, "GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"+
			"GET /v1.41/networks HTTP/1.1\r\nHost: d\r\n\r\n")
		resps := readResponses(t, bufio.NewReader(c), 2, "GET")
		if body := bodyOf(t, resps[0]); resps[0].StatusCode != http.StatusBadRequest || !strings.Contains(body, "Upgrade is refused") {
			t.Errorf("ping with an h2c upgrade: %d %q, want 400 naming the Upgrade", resps[0].StatusCode, body)
		}
		assertDenied(t, resps[1], "(NetworkList) denied")
	})
	t.Run("HTTP/2 preface is refused", func(t *testing.T) {
		c := dial(t, f.sock)
		io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
		b, _ := io.ReadAll(c)
		if strings.HasPrefix(string(b), "HTTP/1.1 2") || strings.Contains(string(b), "Api-Version") {
			t.Errorf("the HTTP/2 preface got %q", b)
		}
	})
	t.Run("attach upgrade behind an allowed request", func(t *testing.T) {
		c := dial(t, f.sock)
		io.WriteString(c, "GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"+
			"POST /v1.41/containers/"+id+"/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
		resps := readResponses(t, bufio.NewReader(c), 2, "POST")
		if resps[0].StatusCode != 200 {
			t.Errorf("ping: %d", resps[0].StatusCode)
		}
		assertDenied(t, resps[1], "(ContainerAttach) denied")
	})
	t.Run("oversized header", func(t *testing.T) {
		c := dial(t, f.sock)
		io.WriteString(c, "GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
	if logs := f.logs.String(); strings.Contains(logs, "operation=ContainerAttach profile=env decision=allow") {
		t.Errorf("attach was allowed:\n%s", logs)
	}
}
