package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests name classes of requests that a filter judging by what is
// written, rather than by what the engine does with it, lets through.
// Each case sends the request over the filtered socket and then asks the
// engine itself (over its own socket) whether it acted: created the
// container or volume, mounted a host directory, joined the host's
// namespaces, ran the exec, fetched a URL. Where a refusal may come as
// 400 or 403, a case only asks for "not 2xx, and the engine did not act".

// holeReq sends one raw request over sock and returns the answer and its
// body. Extra headers come as "Name: value" lines.
func holeReq(t *testing.T, sock, method, path, ctype, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: d\r\n", method, path)
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	if body != "" || method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	conn := dial(t, sock)
	conn.SetDeadline(time.Now().Add(90 * time.Second))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp := readResponses(t, bufio.NewReader(conn), 1, method)[0]
	return resp, bodyOf(t, resp)
}

func is2xx(code int) bool { return code >= 200 && code < 300 }

// engineGet reads a JSON answer from the engine's own socket.
func engineGet(t *testing.T, e env, path string, into any) int {
	t.Helper()
	resp, err := unixHTTPClient(e.engineSock).Get("http://docker/v1.41" + path)
	if err != nil {
		t.Fatalf("engine GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("engine GET %s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// engineHas reports whether the engine knows an object (container,
// volume, image, service) by name or id.
func engineHas(t *testing.T, e env, kind, name string) bool {
	t.Helper()
	var path string
	switch kind {
	case "container":
		path = "/containers/" + name + "/json"
	case "volume":
		path = "/volumes/" + name
	case "image":
		path = "/images/" + name + "/json"
	case "service":
		path = "/services/" + name
	default:
		t.Fatalf("unknown kind %s", kind)
	}
	return engineGet(t, e, path, nil) == 200
}

// engineInspect is a container's inspect, as the engine answers it.
type engineInspect struct {
	ID           string `json:"Id"`
	RestartCount int
	State        struct {
		Pid                 int
		Running, Restarting bool
	}
	HostConfig struct {
		NetworkMode  string
		CgroupnsMode string
		CgroupParent string
	}
	Mounts []struct {
		Type   string
		Name   string
		Source string
	}
	ExecIDs []string
}

func inspectOnEngine(t *testing.T, e env, id string) engineInspect {
	t.Helper()
	var in engineInspect
	if code := engineGet(t, e, "/containers/"+id+"/json", &in); code != 200 {
		t.Fatalf("engine inspect %s: %d", id, code)
	}
	return in
}

// startOnEngine starts a container through the engine's own socket and
// returns its init's pid.
func startOnEngine(t *testing.T, e env, id string) int {
	t.Helper()
	mustCLI(t, e.engineHost, "start", id)
	return inspectOnEngine(t, e, id).State.Pid
}

// nsOf names a process's namespace of a kind (net, pid, cgroup).
func nsOf(t *testing.T, pid int, kind string) string {
	t.Helper()
	p := "/proc/self/ns/" + kind
	if pid != 0 {
		p = fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	}
	ns, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("namespace: %v", err)
	}
	return ns
}

// createdID returns the id in a create answer, "" when there is none.
func createdID(body string) string {
	var c struct{ ID string }
	json.Unmarshal([]byte(body), &c)
	return c.ID
}

// removeByPrefix removes, at the end of the test, whatever the engine
// holds whose name starts with prefix.
func removeByPrefix(t *testing.T, e env, prefix string) {
	t.Cleanup(func() {
		if ids, _, _ := cli(t, e.engineHost, nil, "ps", "-aq", "--filter", "name="+prefix); strings.TrimSpace(ids) != "" {
			cli(t, e.engineHost, nil, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
		}
		if vols, _, _ := cli(t, e.engineHost, nil, "volume", "ls", "-q", "--filter", "name="+prefix); strings.TrimSpace(vols) != "" {
			cli(t, e.engineHost, nil, append([]string{"volume", "rm", "-f"}, strings.Fields(vols)...)...)
		}
	})
}

// hostDirs makes an allowed bind source and, next to it, a host directory
// outside every bind source holding a marker file. allowed/link is a
// symbolic link to outside/inner, so allowed/link/.. is, to the kernel,
// outside itself. allowed/inner exists too, so that the path as written,
// cleaned, names an existing allowed directory.
func hostDirs(t *testing.T) (allowed, outside string) {
	t.Helper()
	if err := os.MkdirAll("/srv", 0o755); err != nil {
		t.Fatal(err)
	}
	mk := func(pattern string) string {
		d, err := os.MkdirTemp("/srv", pattern)
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	allowed, outside = mk("dsf-holes-allowed"), mk("dsf-holes-outside")
	for _, d := range []string{filepath.Join(outside, "inner"), filepath.Join(allowed, "inner")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "marker"), []byte("host secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "inner"), filepath.Join(allowed, "link")); err != nil {
		t.Fatal(err)
	}
	return allowed, outside
}

// swarmOn makes the test engine a single-node swarm manager for the test,
// on loopback ports of its own and with a gateway bridge of its own
// name, so that other engines on the machine are not disturbed.
func swarmOn(t *testing.T, e env) {
	t.Helper()
	prepareSwarm(t, e)
	port := freeTCPPort(t)
	body := fmt.Sprintf(`{"ListenAddr":"127.0.0.1:%d","AdvertiseAddr":"127.0.0.1:%d","DataPathPort":%d}`, port, port, dataPathPort())
	resp, err := unixHTTPClient(e.engineSock).Post("http://docker/v1.41/swarm/init", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("swarm init on the test engine: %d %s", resp.StatusCode, b)
	}
}

// prepareSwarm creates the swarm's gateway network under a bridge name
// of this test's own and leaves any swarm when the test ends.
func prepareSwarm(t *testing.T, e env) {
	t.Helper()
	cli(t, e.engineHost, nil, "network", "rm", "docker_gwbridge")
	mustCLI(t, e.engineHost, "network", "create", "--driver", "bridge",
		"-o", fmt.Sprintf("com.docker.network.bridge.name=dsfgw%d", os.Getpid()%100000),
		"-o", "com.docker.network.bridge.enable_ip_masquerade=false", "docker_gwbridge")
	t.Cleanup(func() {
		if out, _, _ := cli(t, e.engineHost, nil, "service", "ls", "-q"); strings.TrimSpace(out) != "" {
			cli(t, e.engineHost, nil, append([]string{"service", "rm"}, strings.Fields(out)...)...)
		}
		cli(t, e.engineHost, nil, "swarm", "leave", "--force")
		cli(t, e.engineHost, nil, "network", "rm", "docker_gwbridge")
	})
}

func swarmState(t *testing.T, e env) string {
	t.Helper()
	var info struct {
		Swarm struct{ LocalNodeState string }
	}
	engineGet(t, e, "/info", &info)
	return info.Swarm.LocalNodeState
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dataPathPort is a VXLAN port the engine accepts (1024-49151) that
// other engines on the machine are unlikely to use.
func dataPathPort() int { return 20000 + os.Getpid()%20000 }

// urlRecorder is an HTTP server on loopback that records every path
// asked of it: the engine runs in the host's network namespace, so a
// request reaching it means the engine (or a build step on the host's
// network) fetched from the host's network.
type urlRecorder struct {
	url   string
	mu    sync.Mutex
	paths []string
}

func newURLRecorder(t *testing.T, e env) *urlRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &urlRecorder{url: "http://" + l.Addr().String()}
	dockerfile := fmt.Sprintf("FROM %s\nRUN busybox wget -q -O /dev/null %s/ran-in-build\n", e.image, r.url)
	tarball := tarOf(t, map[string]string{"Dockerfile": dockerfile})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		r.mu.Unlock()
		switch {
		case strings.HasSuffix(req.URL.Path, ".tar"):
			w.Write(tarball)
		case strings.Contains(req.URL.Path, "Dockerfile"):
			io.WriteString(w, dockerfile)
		default:
			io.WriteString(w, "ok\n")
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *urlRecorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.paths)
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	var names []string
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	out, err := exec.Command("tar", append([]string{"-C", dir, "-c"}, names...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildContainers lists the containers the engine made for build steps
// (they carry no name the test chose) with their network mode and
// cgroup parent.
func buildContainers(t *testing.T, e env) []engineInspect {
	t.Helper()
	ids, _, err := cli(t, e.engineHost, nil, "ps", "-aq", "--no-trunc")
	if err != nil {
		t.Fatal(err)
	}
	var out []engineInspect
	for _, id := range strings.Fields(ids) {
		out = append(out, inspectOnEngine(t, e, id))
	}
	return out
}

func multipartForm(t *testing.T, fields [][2]string) (string, string) {
	t.Helper()
	var b strings.Builder
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		w.WriteField(f[0], f[1])
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

// TestHole1HostPathResolution: a host path must be judged as the kernel
// resolves it. allowed/link/.. is allowed as written and cleaned, but the
// kernel follows the link first and mounts the directory outside.
func TestHole1HostPathResolution(t *testing.T) {
	e := testEnv(t)
	allowed, outside := hostDirs(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  writer:
    allow: [SystemPing, ContainerCreate, ContainerExec, VolumeCreate, ServiceCreate]
    create:
      bind_sources: [%s]
clients:
  - user: 0
    profile: writer
`, allowed))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	prefix := fmt.Sprintf("dsfhole1-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	img := fmt.Sprintf(`"Image":%q,"Cmd":["sleep","300"]`, e.image)
	volOpts := func(device string) string {
		return fmt.Sprintf(`{"Name":"local","Options":{"type":"none","o":"bind","device":%q}}`, device)
	}
	const jsonType = "application/json"

	// Creations the kernel would turn into a mount of outside: the
	// engine must not hold the object afterwards.
	refused := []struct {
		name, kind, objName, path, body string
	}{
		{"volume mount options through link/..", "container", prefix + "-a", "/v1.41/containers/create?name=" + prefix + "-a",
			`{` + img + `,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Source":"` + prefix + `-va","Target":"/v","VolumeOptions":{"DriverConfig":` + volOpts(allowed+"/link/..") + `}}]}}`},
		{"volume mount options through link/../inner", "container", prefix + "-b", "/v1.41/containers/create?name=" + prefix + "-b",
			`{` + img + `,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Source":"` + prefix + `-vb","Target":"/v","VolumeOptions":{"DriverConfig":` + volOpts(allowed+"/link/../inner") + `}}]}}`},
		{"anonymous volume mount options through link/..", "container", prefix + "-c", "/v1.41/containers/create?name=" + prefix + "-c",
			`{` + img + `,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":` + volOpts(allowed+"/link/..") + `}}]}}`},
		{"volume create options through link/..", "volume", prefix + "-vd", "/v1.41/volumes/create",
			`{"Name":"` + prefix + `-vd","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"` + allowed + `/link/.."}}`},
		{"volume create options through link/./..", "volume", prefix + "-ve", "/v1.41/volumes/create",
			`{"Name":"` + prefix + `-ve","DriverOpts":{"type":"none","o":"rbind,ro","device":"` + allowed + `/link/./.."}}`},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			resp, body := holeReq(t, f.sock, "POST", c.path, jsonType, c.body)
			if is2xx(resp.StatusCode) || engineHas(t, e, c.kind, c.objName) {
				t.Errorf("status %d (%s); the engine holds %s %s, which mounts %s", resp.StatusCode, strings.TrimSpace(body), c.kind, c.objName, outside)
			}
		})
	}

	// The engine cleans binds and bind mounts before it resolves them:
	// these may be allowed, but what the engine mounts must be under the
	// allowed source.
	cleaned := []struct{ name, source, body string }{
		{"bind through link/../x", allowed + "/x", `{` + img + `,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Binds":["` + allowed + `/link/../x:/v"]}}`},
		{"bind mount through link/..", allowed, `{` + img + `,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"bind","Source":"` + allowed + `/link/..","Target":"/v"}]}}`},
	}
	for i, c := range cleaned {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-cleaned%d", prefix, i)
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/create?name="+name, jsonType, c.body)
			if !is2xx(resp.StatusCode) {
				return
			}
			mounts := inspectOnEngine(t, e, createdID(body)).Mounts
			if len(mounts) != 1 || mounts[0].Source != c.source {
				t.Errorf("the engine mounts %+v, want only %s", mounts, c.source)
			}
		})
	}

	// A container an admin made with such a volume: its reach must not
	// be the caller's through an exec.
	t.Run("exec into an admin's container with a volume through link/..", func(t *testing.T) {
		admins := runContainer(t, e, "--name", prefix+"-admin", "--mount",
			fmt.Sprintf("type=volume,source=%s-vadmin,target=/v,volume-driver=local,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=%s/link/..", prefix, allowed),
			e.image, "sleep", "300")
		if out := mustCLI(t, e.engineHost, "exec", admins, "cat", "/v/marker"); out != "host secret\n" {
			t.Fatalf("the admin's container does not mount %s (reads %q): the case proves nothing", outside, out)
		}
		resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+admins+"/exec", jsonType, `{"Cmd":["cat","/v/marker"]}`)
		if is2xx(resp.StatusCode) || len(inspectOnEngine(t, e, admins).ExecIDs) != 0 {
			t.Errorf("status %d (%s): an exec was created in a container that mounts %s", resp.StatusCode, strings.TrimSpace(body), outside)
		}
	})

	t.Run("service volume mount through link/..", func(t *testing.T) {
		swarmOn(t, e)
		name := prefix + "-svc"
		spec := fmt.Sprintf(`{"Name":%q,"TaskTemplate":{"ContainerSpec":{"Image":%q,"Command":["sleep","300"],"Mounts":[{"Type":"volume","Source":%q,"Target":"/v","VolumeOptions":{"DriverConfig":%s}}]},"RestartPolicy":{"Condition":"none"}}}`,
			name, e.image, prefix+"-vsvc", volOpts(allowed+"/link/.."))
		resp, body := holeReq(t, f.sock, "POST", "/v1.41/services/create", jsonType, spec)
		if is2xx(resp.StatusCode) || engineHas(t, e, "service", name) {
			t.Errorf("status %d (%s): the engine holds service %s, whose tasks mount %s", resp.StatusCode, strings.TrimSpace(body), name, outside)
		}
	})
}

// TestHole2FormBodies: the engine reads some operations' options with
// FormValue/ParseForm, which also read a form-encoded body. Options the
// filter judges in the query must not arrive in the body instead.
func TestHole2FormBodies(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  builder:
    allow: [SystemPing, ImageBuild, ImageCreate]
clients:
  - user: 0
    profile: builder
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	rec := newURLRecorder(t, e)
	prefix := fmt.Sprintf("dsfhole2-%d", os.Getpid())
	t.Cleanup(func() {
		out, _, _ := cli(t, e.engineHost, nil, "ps", "-aq", "--filter", "ancestor="+e.image)
		for _, id := range strings.Fields(out) {
			cli(t, e.engineHost, nil, "rm", "-f", id)
		}
	})
	hostBuilds := func() []string {
		var ids []string
		for _, c := range buildContainers(t, e) {
			if c.HostConfig.NetworkMode == "host" || c.HostConfig.CgroupParent != "" {
				ids = append(ids, c.ID)
			}
		}
		return ids
	}
	form := "application/x-www-form-urlencoded"
	mpType, mpBody := multipartForm(t, [][2]string{{"remote", rec.url + "/mp/Dockerfile"}, {"networkmode", "host"}, {"t", prefix + "-mp"}})
	mpiType, mpiBody := multipartForm(t, [][2]string{{"fromSrc", rec.url + "/mp/img.tar"}, {"repo", prefix + "-mpi"}})
	cases := []struct {
		name, path, ctype, body string
		image                   string // an image the request would make
		statusToo               bool   // also require a refusal
	}{
		{"build options in a urlencoded body", "/v1.41/build", form,
			url.Values{"remote": {rec.url + "/form/Dockerfile"}, "networkmode": {"host"}, "t": {prefix + "-form"}}.Encode(), prefix + "-form", true},
		{"build options in a multipart body", "/v1.41/build", mpType, mpBody, prefix + "-mp", true},
		{"build network mode in the body, remote in the query", "/v1.41/build?remote=" + url.QueryEscape(rec.url+"/q/Dockerfile"), form,
			"networkmode=host&t=" + prefix + "-qnet", prefix + "-qnet", false},
		{"build cgroup parent in the body, remote in the query", "/v1.41/build?remote=" + url.QueryEscape(rec.url+"/q2/Dockerfile"), form,
			"cgroupparent=/dsf-hole2&t=" + prefix + "-qcg", prefix + "-qcg", false},
		{"import source in a urlencoded body", "/v1.41/images/create", form,
			url.Values{"fromSrc": {rec.url + "/form/img.tar"}, "repo": {prefix + "-imp"}}.Encode(), prefix + "-imp", true},
		{"import source in a multipart body", "/v1.41/images/create", mpiType, mpiBody, prefix + "-mpi", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", "-f", c.image) })
			before := len(rec.seen())
			resp, body := holeReq(t, f.sock, "POST", c.path, c.ctype, c.body)
			if c.statusToo && is2xx(resp.StatusCode) {
				t.Errorf("status %d, want a refusal: %.300s", resp.StatusCode, body)
			}
			if got := rec.seen()[before:]; slices.Contains(got, "/ran-in-build") || (c.statusToo && len(got) > 0) {
				t.Errorf("the engine fetched %v from the host's network", got)
			}
			if ids := hostBuilds(); len(ids) > 0 {
				t.Errorf("build containers on the host network or under a cgroup parent: %v", ids)
			}
			if engineHas(t, e, "image", c.image) {
				t.Errorf("the engine made image %s", c.image)
			}
		})
	}
}

// TestHole3LooseReferences: the engine resolves a network or container
// reference by name, id or id prefix; a rule comparing with "host" must
// not be passed by the host network's id.
func TestHole3LooseReferences(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  writer:
    allow: [SystemPing, ContainerCreate, NetworkConnect, ServiceCreate]
clients:
  - user: 0
    profile: writer
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	prefix := fmt.Sprintf("dsfhole3-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	var hostNet struct{ ID string }
	if code := engineGet(t, e, "/networks/host", &hostNet); code != 200 || len(hostNet.ID) < 12 {
		t.Fatalf("host network: %d %+v", code, hostNet)
	}
	admins := runContainer(t, e, "--name", prefix+"-admin", e.image, "sleep", "300")
	adminPid := inspectOnEngine(t, e, admins).State.Pid
	img := fmt.Sprintf(`"Image":%q,"Cmd":["sleep","300"]`, e.image)
	cases := []struct{ name, hostConfig, networking string }{
		{"network mode by the host network's id", `{"CgroupnsMode":"private","NetworkMode":"` + hostNet.ID + `"}`, ""},
		{"network mode by a 12-digit id prefix", `{"CgroupnsMode":"private","NetworkMode":"` + hostNet.ID[:12] + `"}`, ""},
		{"network mode by a 3-digit id prefix", `{"CgroupnsMode":"private","NetworkMode":"` + hostNet.ID[:3] + `"}`, ""},
		{"endpoint keyed host", `{"CgroupnsMode":"private","NetworkMode":"none"}`, `{"EndpointsConfig":{"host":{}}}`},
		{"endpoint keyed by the host network's id", "", `{"EndpointsConfig":{"` + hostNet.ID + `":{}}}`},
		{"network of a container by id prefix", `{"CgroupnsMode":"private","NetworkMode":"container:` + admins[:12] + `"}`, ""},
		{"pid namespace of a container by id prefix", `{"CgroupnsMode":"private","NetworkMode":"none","PidMode":"container:` + admins[:12] + `"}`, ""},
		{"ipc namespace of a container by id prefix", `{"CgroupnsMode":"private","NetworkMode":"none","IpcMode":"container:` + admins[:12] + `"}`, ""},
	}
	self := map[string]string{"net": nsOf(t, 0, "net"), "pid": nsOf(t, 0, "pid")}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := `{` + img
			if c.hostConfig != "" {
				body += `,"HostConfig":` + c.hostConfig
			}
			if c.networking != "" {
				body += `,"NetworkingConfig":` + c.networking
			}
			body += `}`
			resp, answer := holeReq(t, f.sock, "POST", fmt.Sprintf("/v1.41/containers/create?name=%s-%d", prefix, i), "application/json", body)
			if !is2xx(resp.StatusCode) {
				return
			}
			id := createdID(answer)
			out, errOut, err := cli(t, e.engineHost, nil, "start", id)
			if err != nil {
				t.Logf("created (%s) but the engine does not start it: %s%s", answer, out, errOut)
				return
			}
			pid := inspectOnEngine(t, e, id).State.Pid
			for _, kind := range []string{"net", "pid", "ipc"} {
				if got := nsOf(t, pid, kind); got == nsOf(t, adminPid, kind) || got == self[kind] {
					t.Errorf("created and started; its %s namespace %s is the host's or the admin container's", kind, got)
				}
			}
		})
	}

	t.Run("connect to the host network", func(t *testing.T) {
		plain := runContainer(t, e, "--name", prefix+"-plain", e.image, "sleep", "300")
		for _, target := range []string{"host", hostNet.ID, hostNet.ID[:12]} {
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/networks/"+target+"/connect", "application/json", `{"Container":"`+plain+`"}`)
			if got := nsOf(t, inspectOnEngine(t, e, plain).State.Pid, "net"); got == self["net"] {
				t.Errorf("connect to %s: status %d (%s); the container is on the host's network", target, resp.StatusCode, body)
			}
		}
	})

	t.Run("service networks", func(t *testing.T) {
		swarmOn(t, e)
		// In a swarm the host network has an id of its own, as the
		// orchestrator knows it, next to the local one.
		var swarmHost struct{ ID string }
		if code := engineGet(t, e, "/networks/host?scope=swarm", &swarmHost); code != 200 || swarmHost.ID == hostNet.ID {
			t.Fatalf("host network in the swarm: %d %s", code, swarmHost.ID)
		}
		targets := []struct{ name, target string }{
			{"swarm id of host", swarmHost.ID},
			{"swarm id prefix of host", swarmHost.ID[:6]},
			{"local id of host", hostNet.ID},
			{"capitalised host", "Host"},
		}
		for i, tg := range targets {
			name := fmt.Sprintf("%s-svc%d", prefix, i)
			spec := fmt.Sprintf(`{"Name":%q,"TaskTemplate":{"ContainerSpec":{"Image":%q,"Command":["sleep","300"]},"Networks":[{"Target":%q}],"RestartPolicy":{"Condition":"none"}}}`,
				name, e.image, tg.target)
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/services/create", "application/json", spec)
			if is2xx(resp.StatusCode) || engineHas(t, e, "service", name) {
				t.Errorf("%s (%s): status %d (%s); the engine holds a service on the host network", tg.name, tg.target, resp.StatusCode, strings.TrimSpace(body))
			}
		}
	})
}

// TestHole4Disclosures: reads must not show what a profile's view hides
// (environment values) or what hands the host away (swarm join tokens).
func TestHole4Disclosures(t *testing.T) {
	e := testEnv(t)
	const secret = "xyzzy-hole4-secret"
	id := runContainer(t, e, "-e", "SECRET="+secret, e.image, "sleep", "300")
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  viewer:
    allow: [SystemPing, ContainerList, ContainerInspect, ContainerTop, ExecInspect, ContainerChanges]
    redact: [env]
clients:
  - user: 0
    profile: viewer
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	execID := func() string {
		resp, err := unixHTTPClient(e.engineSock).Post("http://docker/v1.41/containers/"+id+"/exec", "application/json",
			strings.NewReader(`{"Cmd":["true"],"Env":["EXECSECRET=`+secret+`"]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return createdID(string(b))
	}()
	paths := []struct{ name, path string }{
		{"top auxwwe", "/v1.41/containers/" + id + "/top?ps_args=auxwwe"},
		{"top -o pid,args e", "/v1.41/containers/" + id + "/top?ps_args=" + url.QueryEscape("-o pid,args e")},
		{"top e", "/v1.41/containers/" + id + "/top?ps_args=e"},
		{"top -eo pid,cmd e", "/v1.41/containers/" + id + "/top?ps_args=" + url.QueryEscape("-eo pid,cmd e")},
		{"top axe", "/v1.41/containers/" + id + "/top?ps_args=axe"},
		{"top -o pid,args and e apart", "/v1.41/containers/" + id + "/top?ps_args=" + url.QueryEscape("e -o pid,args")},
		{"inspect", "/v1.41/containers/" + id + "/json"},
		{"inspect at API 1.24", "/v1.24/containers/" + id + "/json"},
		{"inspect without a version", "/containers/" + id + "/json"},
		{"inspect with size", "/v1.41/containers/" + id + "/json?size=1"},
		{"inspect by id prefix", "/v1.41/containers/" + id[:12] + "/json"},
		{"list", "/v1.41/containers/json?all=1"},
		{"exec inspect", "/v1.41/exec/" + execID + "/json"},
		{"changes", "/v1.41/containers/" + id + "/changes"},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			resp, body := holeReq(t, f.sock, "GET", p.path, "", "")
			if strings.Contains(body, secret) {
				t.Errorf("status %d; the answer shows the environment value: %.400s", resp.StatusCode, body)
			}
		})
	}

	t.Run("swarm join tokens with SWARM=1", func(t *testing.T) {
		swarmOn(t, e)
		var sw struct {
			JoinTokens struct{ Worker, Manager string }
		}
		if code := engineGet(t, e, "/swarm", &sw); code != 200 || sw.JoinTokens.Worker == "" {
			t.Fatalf("engine swarm inspect: %d %+v", code, sw)
		}
		g := startFilter(t, e, filterOpts{env: []string{"SWARM=1"}})
		for _, p := range []string{"/v1.41/swarm", "/v1.24/swarm", "/swarm"} {
			resp, body := holeReq(t, g.sock, "GET", p, "", "")
			for _, tok := range []string{sw.JoinTokens.Worker, sw.JoinTokens.Manager} {
				if strings.Contains(body, tok) {
					t.Errorf("GET %s: status %d; the answer holds a join token", p, resp.StatusCode)
				}
			}
		}
	})
}

// TestHole5SwarmOwnership: SWARM=1 POST=1 must not let a caller make the
// engine a swarm's member or manager: that hands the engine to whoever
// holds the swarm.
func TestHole5SwarmOwnership(t *testing.T) {
	e := testEnv(t)
	if st := swarmState(t, e); st != "inactive" {
		t.Fatalf("the test engine's swarm is %q before the test", st)
	}
	prepareSwarm(t, e)
	f := startFilter(t, e, filterOpts{env: []string{"SWARM=1", "POST=1"}})
	port := freeTCPPort(t)
	cases := []struct{ name, path, op, body string }{
		{"init", "/v1.41/swarm/init", "SwarmInit",
			fmt.Sprintf(`{"ListenAddr":"127.0.0.1:%d","AdvertiseAddr":"127.0.0.1:%d","DataPathPort":%d}`, port, port, dataPathPort())},
		{"join", "/v1.41/swarm/join", "SwarmJoin",
			fmt.Sprintf(`{"ListenAddr":"127.0.0.1:%d","AdvertiseAddr":"127.0.0.1:%d","RemoteAddrs":["127.0.0.1:%d"],"JoinToken":"SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"}`, port, port, freeTCPPort(t))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := holeReq(t, f.sock, "POST", c.path, "application/json", c.body)
			if is2xx(resp.StatusCode) || swarmState(t, e) != "inactive" {
				t.Errorf("status %d (%s); the engine's swarm is %s", resp.StatusCode, strings.TrimSpace(body), swarmState(t, e))
			}
			if strings.Contains(f.logs.String(), "operation="+c.op+" profile=env decision=allow") {
				t.Errorf("the filter forwarded %s to the engine", c.op)
			}
			// Each case starts from an engine outside any swarm.
			cli(t, e.engineHost, nil, "swarm", "leave", "--force")
		})
	}
}

// TestHole6ExecByID: an exec created on the engine's own socket, in a
// container the caller's profile could never reach, must not be started
// through the filter by its id.
func TestHole6ExecByID(t *testing.T) {
	e := testEnv(t)
	hostDir := shortTempDir(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "EXEC=1", "POST=1"}})
	cases := []struct {
		name string
		args []string
	}{
		// Privileged containers do not start on every test machine; an
		// added capability is refused all the same.
		{"container with an added capability", []string{"--cap-add", "SYS_ADMIN"}},
		{"container with a host bind", []string{"-v", hostDir + ":/host"}},
		{"container in the host's pid namespace", []string{"--pid", "host"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := runContainer(t, e, append(c.args, e.image, "sleep", "300")...)
			resp, err := unixHTTPClient(e.engineSock).Post("http://docker/v1.41/containers/"+id+"/exec", "application/json",
				strings.NewReader(`{"Cmd":["touch","/exec-ran"]}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			execID := createdID(string(b))
			if execID == "" {
				t.Fatalf("exec create on the engine: %s", b)
			}
			for _, body := range []string{`{"Detach":true}`, `{"Detach":false,"Tty":false}`} {
				r, answer := holeReq(t, f.sock, "POST", "/v1.41/exec/"+execID+"/start", "application/json", body)
				var ei struct {
					Running  bool
					ExitCode *int
					Pid      int
				}
				engineGet(t, e, "/exec/"+execID+"/json", &ei)
				if is2xx(r.StatusCode) || ei.Running || ei.ExitCode != nil || ei.Pid != 0 {
					t.Errorf("start %s: status %d (%.200s); the exec ran (running %v, pid %d, exited %v)", body, r.StatusCode, answer, ei.Running, ei.Pid, ei.ExitCode != nil)
					break
				}
			}
		})
	}
}

// rootmeSource is a program that, set-uid root, writes a file only root
// may write. A static Go binary keeps its effective uid, as busybox does
// not.
const rootmeSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	if err := os.WriteFile(os.Args[1], []byte(fmt.Sprintf("euid=%d\n", os.Geteuid())), 0o644); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("euid=%d\n", os.Geteuid())
}
`

// setuidImage imports an image holding busybox and /s/rootme, set-uid
// root.
func setuidImage(t *testing.T, e env, name string) {
	t.Helper()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module rootme\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(rootmeSource), 0o644)
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for _, d := range []string{"bin", "s", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.Chmod(filepath.Join(root, "tmp"), os.ModeSticky|0o777)
	build := exec.Command("go", "build", "-o", filepath.Join(root, "s", "rootme"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the set-uid helper: %v\n%s", err, out)
	}
	if err := os.Chmod(filepath.Join(root, "s", "rootme"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755)
	for _, a := range []string{"sh", "sleep", "cat", "id", "ls", "rm"} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	tarball, err := exec.Command("tar", "-C", root, "-c", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, err := cli(t, e.engineHost, strings.NewReader(string(tarball)), "import", "-", name)
	if err != nil {
		t.Fatalf("import: %v %s", err, errOut)
	}
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", "-f", name) })
}

// TestHole7SetuidExec: an exec rule user: non-root must not be defeated
// by a set-uid binary in a container that lacks no-new-privileges.
func TestHole7SetuidExec(t *testing.T) {
	e := testEnv(t)
	image := fmt.Sprintf("dsf-hole7-setuid-%d:latest", os.Getpid())
	setuidImage(t, e, image)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  execer:
    allow: [SystemPing, SystemVersion, ContainerInspect, ContainerExec, ExecStart, ExecInspect]
    exec:
      user: non-root
clients:
  - user: 0
    profile: execer
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	host := fmtHost(f.sock)
	plain := runContainer(t, e, image, "sleep", "300")
	if out, errOut, _ := cli(t, e.engineHost, nil, "exec", "-u", "1000", plain, "/s/rootme", "/probe"); out != "euid=0\n" {
		t.Fatalf("the set-uid helper gives %q %q as uid 1000: the cases prove nothing", out, errOut)
	}
	mustCLI(t, e.engineHost, "exec", plain, "rm", "/probe")
	cases := []struct {
		name string
		user string
	}{
		{"uid", "1000"},
		{"uid and gid", "1000:1000"},
		{"other uid", "4242:4242"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := fmt.Sprintf("/made-by-root-%d", i)
			out, errOut, err := cli(t, host, nil, "exec", "-u", c.user, plain, "/s/rootme", target)
			if _, _, gone := cli(t, e.engineHost, nil, "exec", plain, "cat", target); gone == nil || strings.Contains(out, "euid=0") {
				t.Errorf("exec -u %s: err %v, stdout %q, stderr %q; the set-uid binary wrote %s as root", c.user, err, out, errOut, target)
			}
		})
	}
	t.Run("a container with no-new-privileges stays reachable", func(t *testing.T) {
		nnp := runContainer(t, e, "--security-opt", "no-new-privileges", image, "sleep", "300")
		out, errOut, err := cli(t, host, nil, "exec", "-u", "1000:1000", nnp, "/s/rootme", "/made-by-root")
		if strings.Contains(errOut, "docker-socket-filter") {
			t.Errorf("exec -u 1000:1000 into a no-new-privileges container was refused: %v %s", err, errOut)
		}
		if strings.Contains(out, "euid=0") {
			t.Errorf("no-new-privileges did not hold: %q", out)
		}
	})
}

// TestHole8CgroupNamespace: on a cgroup v1 host the engine's default
// cgroup namespace is the host's. A profile that refuses host namespaces
// must not end up with a container in it.
func TestHole8CgroupNamespace(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	prefix := fmt.Sprintf("dsfhole8-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	hostCgroup := nsOf(t, 0, "cgroup")
	// checkPrivate starts a container the filter let through and checks
	// its cgroup namespace is not the host's.
	checkPrivate := func(t *testing.T, id string) {
		t.Helper()
		mode := inspectOnEngine(t, e, id).HostConfig.CgroupnsMode
		if got := nsOf(t, startOnEngine(t, e, id), "cgroup"); got == hostCgroup || mode == "host" {
			t.Errorf("the container's cgroup namespace is the host's (CgroupnsMode %q, %s)", mode, got)
		}
	}
	img := fmt.Sprintf(`"Image":%q,"Cmd":["sleep","300"]`, e.image)
	cases := []struct {
		name, body string
		mustAllow  bool
	}{
		{"no cgroupns mode", `{` + img + `,"HostConfig":{"NetworkMode":"none"}}`, false},
		{"empty cgroupns mode", `{` + img + `,"HostConfig":{"NetworkMode":"none","CgroupnsMode":""}}`, false},
		{"no host config", `{` + img + `}`, false},
		{"private cgroupns mode", `{` + img + `,"HostConfig":{"NetworkMode":"none","CgroupnsMode":"private"}}`, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := holeReq(t, f.sock, "POST", fmt.Sprintf("/v1.41/containers/create?name=%s-%d", prefix, i), "application/json", c.body)
			if !is2xx(resp.StatusCode) {
				if c.mustAllow {
					t.Errorf("a private cgroup namespace was refused: %d %s", resp.StatusCode, body)
				} else if !strings.Contains(body, "cgroupns") {
					t.Errorf("refused (%d) without telling to pass --cgroupns private: %s", resp.StatusCode, body)
				}
				return
			}
			checkPrivate(t, createdID(body))
		})
	}
	t.Run("docker CLI run", func(t *testing.T) {
		out, errOut, err := cli(t, fmtHost(f.sock), nil, "run", "-d", "--name", prefix+"-cli", "--network", "none", e.image, "sleep", "300")
		if err != nil {
			if !strings.Contains(errOut, "--cgroupns private") {
				t.Errorf("refused without telling to pass --cgroupns private: %s", errOut)
			}
			return
		}
		id := strings.TrimSpace(out)
		mode := inspectOnEngine(t, e, id).HostConfig.CgroupnsMode
		if got := nsOf(t, inspectOnEngine(t, e, id).State.Pid, "cgroup"); got == hostCgroup || mode == "host" {
			t.Errorf("docker run through the filter: cgroup namespace is the host's (CgroupnsMode %q, %s)", mode, got)
		}
	})
}

// TestHole9ReadmePromises: what the README promises holds.
func TestHole9ReadmePromises(t *testing.T) {
	e := testEnv(t)
	t.Run("Upgrade header on routes that do not hijack is refused", func(t *testing.T) {
		f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
		for _, path := range []string{"/_ping", "/v1.41/version", "/v1.41/containers/json"} {
			resp, body := holeReq(t, f.sock, "GET", path, "", "", "Connection: Upgrade", "Upgrade: tcp")
			if is2xx(resp.StatusCode) {
				t.Errorf("GET %s with Upgrade: tcp: status %d %.100q, want a refusal", path, resp.StatusCode, body)
			}
		}
	})

	t.Run("user non-root does not run with gid 0", func(t *testing.T) {
		dir := shortTempDir(t)
		policy := writePolicy(t, dir, `
profiles:
  ci:
    allow: [SystemPing, ContainerCreate]
    create:
      user: non-root
clients:
  - user: 0
    profile: ci
`)
		f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
		prefix := fmt.Sprintf("dsfhole9-%d", os.Getpid())
		removeByPrefix(t, e, prefix)
		for i, user := range []string{"1000", "1000:0", "1000:root"} {
			body := fmt.Sprintf(`{"Image":%q,"Cmd":["id","-g"],"User":%q,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","SecurityOpt":["no-new-privileges"]}}`, e.image, user)
			resp, answer := holeReq(t, f.sock, "POST", fmt.Sprintf("/v1.41/containers/create?name=%s-%d", prefix, i), "application/json", body)
			if !is2xx(resp.StatusCode) {
				continue
			}
			if gid := strings.TrimSpace(mustCLI(t, e.engineHost, "start", "-a", createdID(answer))); gid == "0" {
				t.Errorf("User %q: created, and runs with gid 0", user)
			}
		}
	})

	t.Run("the engine fetches no URL from the host's network", func(t *testing.T) {
		rec := newURLRecorder(t, e)
		f := startFilter(t, e, filterOpts{env: []string{"BUILD=1", "IMAGES=1", "POST=1"}})
		prefix := fmt.Sprintf("dsfhole9url-%d", os.Getpid())
		cases := []struct{ name, path, image string }{
			{"build remote Dockerfile", "/v1.41/build?t=" + prefix + "-b&remote=" + url.QueryEscape(rec.url+"/b/Dockerfile"), prefix + "-b"},
			{"build remote tarball", "/v1.41/build?t=" + prefix + "-bt&remote=" + url.QueryEscape(rec.url+"/bt/ctx.tar"), prefix + "-bt"},
			{"build remote git repository", "/v1.41/build?t=" + prefix + "-g&remote=" + url.QueryEscape(rec.url+"/g/repo.git"), prefix + "-g"},
			{"import from a URL", "/v1.41/images/create?repo=" + prefix + "-i&fromSrc=" + url.QueryEscape(rec.url+"/i/img.tar"), prefix + "-i"},
		}
		for _, c := range cases {
			before := len(rec.seen())
			resp, body := holeReq(t, f.sock, "POST", c.path, "", "")
			cli(t, e.engineHost, nil, "rmi", "-f", c.image)
			if got := rec.seen()[before:]; is2xx(resp.StatusCode) || len(got) > 0 {
				t.Errorf("%s: status %d (%.200s); the engine fetched %v", c.name, resp.StatusCode, body, got)
			}
		}
	})
}

// TestHole16AdminBindVolume: a named volume an admin made with bind
// options mounts a host directory; a profile whose bind sources do not
// cover it must not mount it by name.
func TestHole16AdminBindVolume(t *testing.T) {
	e := testEnv(t)
	allowed, outside := hostDirs(t)
	prefix := fmt.Sprintf("dsfhole16-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	bindVol, plainVol := prefix+"-bind", prefix+"-plain"
	mustCLI(t, e.engineHost, "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+outside, bindVol)
	mustCLI(t, e.engineHost, "volume", "create", plainVol)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  writer:
    allow: [SystemPing, ContainerCreate, ContainerExec]
    create:
      bind_sources: [%s]
clients:
  - user: 0
    profile: writer
`, allowed))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	img := fmt.Sprintf(`"Image":%q,"Cmd":["sleep","300"]`, e.image)
	cases := []struct {
		name, vol, hostConfig string
		allow                 bool
	}{
		{"bind by name", bindVol, `{"CgroupnsMode":"private","NetworkMode":"none","Binds":["` + bindVol + `:/x"]}`, false},
		{"bind by name read-only", bindVol, `{"CgroupnsMode":"private","NetworkMode":"none","Binds":["` + bindVol + `:/x:ro"]}`, false},
		{"volume mount by name", bindVol, `{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Source":"` + bindVol + `","Target":"/x"}]}`, false},
		{"volume mount by name with no-copy", bindVol, `{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Source":"` + bindVol + `","Target":"/x","VolumeOptions":{"NoCopy":true}}]}`, false},
		{"plain volume by name", plainVol, `{"CgroupnsMode":"private","NetworkMode":"none","Binds":["` + plainVol + `:/x"]}`, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-%d", prefix, i)
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/create?name="+name, "application/json", `{`+img+`,"HostConfig":`+c.hostConfig+`}`)
			if c.allow {
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("a plain named volume was refused: %d %s", resp.StatusCode, body)
				}
				return
			}
			if is2xx(resp.StatusCode) || engineHas(t, e, "container", name) {
				t.Errorf("status %d (%s): the engine holds %s, which mounts %s", resp.StatusCode, strings.TrimSpace(body), name, outside)
			}
		})
	}
	t.Run("exec into an admin's container mounting the volume", func(t *testing.T) {
		admins := runContainer(t, e, "-v", bindVol+":/x", e.image, "sleep", "300")
		if out := mustCLI(t, e.engineHost, "exec", admins, "cat", "/x/marker"); out != "host secret\n" {
			t.Fatalf("the volume does not mount %s (reads %q): the case proves nothing", outside, out)
		}
		resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+admins+"/exec", "application/json", `{"Cmd":["cat","/x/marker"]}`)
		if is2xx(resp.StatusCode) || len(inspectOnEngine(t, e, admins).ExecIDs) != 0 {
			t.Errorf("status %d (%s): an exec was created in a container that mounts %s", resp.StatusCode, strings.TrimSpace(body), outside)
		}
	})
}
