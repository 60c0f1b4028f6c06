package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These tests follow holes_test.go: each sends a request over the
// filtered socket and then asks the engine, over its own socket, what it
// did. They name further cases of the classes the one decision claims to
// close, found against Docker 20.10 on a cgroup v1 host.

// engineBuild builds an image on the engine's own socket from a
// Dockerfile (the legacy builder) and removes it when the test ends.
func engineBuild(t *testing.T, e env, tag, dockerfile string) {
	t.Helper()
	ctx := tarOf(t, map[string]string{"Dockerfile": dockerfile})
	resp, err := unixHTTPClient(e.engineSock).Post("http://docker/v1.41/build?t="+url.QueryEscape(tag), "application/x-tar", strings.NewReader(string(ctx)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(b), `"error"`) {
		t.Fatalf("build %s on the engine: %d %s", tag, resp.StatusCode, b)
	}
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", "-f", tag) })
}

// engineCreate creates a container on the engine's own socket from a raw
// create body and removes it when the test ends.
func engineCreate(t *testing.T, e env, name, body string) string {
	t.Helper()
	resp, err := unixHTTPClient(e.engineSock).Post("http://docker/v1.41/containers/create?name="+name, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := createdID(string(b))
	if resp.StatusCode != http.StatusCreated || id == "" {
		t.Fatalf("create %s on the engine: %d %s", name, resp.StatusCode, b)
	}
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", id) })
	return id
}

// waitFor polls the engine until cond holds or the deadline passes: the
// engine's swarm orchestrator starts tasks on its own schedule.
func waitFor(t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("gave up waiting for %s", what)
	return false
}

// TestHole2x1ExistingContainerPaths: an admin's container whose
// read-only or masked paths were narrowed (not emptied) through the API
// leaves /proc/sys writable to its root, which writes host-wide settings
// (kernel.core_pattern runs a program as root on the host). The filter
// blanks any non-empty list as "the engine's defaults", so the profile
// may exec into it or start it.
func TestHole2x1ExistingContainerPaths(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "EXEC=1", "POST=1"}})
	prefix := fmt.Sprintf("dsfhole2x1-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	img := fmt.Sprintf(`"Image":%q,"Cmd":["sleep","300"]`, e.image)
	cases := []struct{ name, hostConfig string }{
		{"read-only paths narrowed to one", `{"NetworkMode":"none","ReadonlyPaths":["/proc/asound"]}`},
		{"masked and read-only paths narrowed", `{"NetworkMode":"none","ReadonlyPaths":["/proc/asound"],"MaskedPaths":["/proc/asound"]}`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := engineCreate(t, e, fmt.Sprintf("%s-%d", prefix, i), `{`+img+`,"HostConfig":`+c.hostConfig+`}`)
			t.Run("start", func(t *testing.T) {
				resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/start", "", "")
				if is2xx(resp.StatusCode) || inspectOnEngine(t, e, id).State.Running {
					t.Errorf("status %d (%s): the filter started a container whose /proc/sys is writable", resp.StatusCode, strings.TrimSpace(body))
				}
			})
			t.Run("exec", func(t *testing.T) {
				if !inspectOnEngine(t, e, id).State.Running {
					startOnEngine(t, e, id)
				}
				if mounts := mustCLI(t, e.engineHost, "exec", id, "cat", "/proc/mounts"); strings.Contains(mounts, " /proc/sys ") {
					t.Fatalf("/proc/sys is mounted apart in the admin's container: the case proves nothing\n%s", mounts)
				}
				resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/exec", "application/json", `{"Cmd":["cat","/proc/sys/kernel/core_pattern"]}`)
				if is2xx(resp.StatusCode) || len(inspectOnEngine(t, e, id).ExecIDs) != 0 {
					t.Errorf("status %d (%s): an exec was created in a container whose /proc/sys is writable", resp.StatusCode, strings.TrimSpace(body))
				}
			})
		})
	}
	t.Run("holds: read-only paths emptied", func(t *testing.T) {
		id := engineCreate(t, e, prefix+"-empty", `{`+img+`,"HostConfig":{"NetworkMode":"none","ReadonlyPaths":[],"MaskedPaths":[]}}`)
		startOnEngine(t, e, id)
		resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/exec", "application/json", `{"Cmd":["true"]}`)
		if is2xx(resp.StatusCode) || len(inspectOnEngine(t, e, id).ExecIDs) != 0 {
			t.Errorf("status %d (%s): an exec was created in a container with no read-only paths", resp.StatusCode, strings.TrimSpace(body))
		}
	})
}

// nsLine is how readlink shows a cgroup namespace.
var nsLine = regexp.MustCompile(`cgroup:\[[0-9]+\]`)

// TestHole2x8CgroupNamespaceElsewhere: on a cgroup v1 host the engine
// puts a container in the host's cgroup namespace unless it is asked for
// a private one. A ContainerCreate must ask; services (whose spec at API
// 1.41 has no cgroupns field) and legacy build steps cannot, and the
// filter lets both through.
func TestHole2x8CgroupNamespaceElsewhere(t *testing.T) {
	e := testEnv(t)
	if v := engineCgroupVersion(t, e); v != "1" {
		t.Fatalf("the engine's host is cgroup v%s: these cases need cgroup v1", v)
	}
	hostCgroup := nsOf(t, 0, "cgroup")

	t.Run("build step", func(t *testing.T) {
		f := startFilter(t, e, filterOpts{env: []string{"BUILD=1", "POST=1"}})
		tag := fmt.Sprintf("dsf-hole2x8-build-%d", os.Getpid())
		t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", "-f", tag) })
		dockerfile := fmt.Sprintf("FROM %s\nRUN readlink /proc/self/ns/cgroup\n", e.image)
		ctx := tarOf(t, map[string]string{"Dockerfile": dockerfile})
		resp, body := holeReq(t, f.sock, "POST", "/v1.41/build?nocache=1&t="+tag, "application/x-tar", string(ctx))
		if !is2xx(resp.StatusCode) {
			return
		}
		// The build's output carries the namespace the RUN step saw.
		var seen []string
		dec := json.NewDecoder(strings.NewReader(body))
		for {
			var msg struct{ Stream string }
			if err := dec.Decode(&msg); err != nil {
				break
			}
			seen = append(seen, nsLine.FindAllString(msg.Stream, -1)...)
		}
		if len(seen) == 0 {
			t.Fatalf("the build ran no step that showed its namespace: %.500s", body)
		}
		for _, ns := range seen {
			if ns == hostCgroup {
				t.Errorf("status %d: a build step ran in the host's cgroup namespace %s", resp.StatusCode, ns)
			}
		}
	})

	t.Run("service task", func(t *testing.T) {
		swarmOn(t, e)
		dir := shortTempDir(t)
		policy := writePolicy(t, dir, `
profiles:
  deployer:
    allow: [SystemPing, ServiceCreate, ServiceInspect, TaskList]
clients:
  - user: 0
    profile: deployer
`)
		f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
		name := fmt.Sprintf("dsfhole2x8-svc-%d", os.Getpid())
		spec := fmt.Sprintf(`{"Name":%q,"TaskTemplate":{"ContainerSpec":{"Image":%q,"Command":["sleep","300"]},"RestartPolicy":{"Condition":"none"}}}`, name, e.image)
		resp, body := holeReq(t, f.sock, "POST", "/v1.41/services/create", "application/json", spec)
		if !is2xx(resp.StatusCode) && !engineHas(t, e, "service", name) {
			return
		}
		var task string
		waitFor(t, "the service's task container", func() bool {
			out, _, _ := cli(t, e.engineHost, nil, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+name)
			task = strings.TrimSpace(out)
			return task != "" && inspectOnEngine(t, e, task).State.Running
		})
		if task == "" {
			t.Fatalf("status %d (%s): the engine holds service %s but ran no task", resp.StatusCode, strings.TrimSpace(body), name)
		}
		in := inspectOnEngine(t, e, task)
		t.Errorf("status %d: service %s runs task %.12s with CgroupnsMode %q in cgroup namespace %s (the host's is %s)",
			resp.StatusCode, name, task, in.HostConfig.CgroupnsMode, nsOf(t, in.State.Pid, "cgroup"), hostCgroup)
	})
}

// TestHole2x4ImageDisclosures: `redact: [env]` redacts an image's
// Config.Env, but the same values show in the image's history (each
// ENV instruction's CreatedBy) and in its ContainerConfig.Cmd, which the
// legacy builder sets to the last instruction.
func TestHole2x4ImageDisclosures(t *testing.T) {
	e := testEnv(t)
	const secret = "xyzzy-hole2x4-secret"
	tag := fmt.Sprintf("dsf-hole2x4-%d:latest", os.Getpid())
	engineBuild(t, e, tag, fmt.Sprintf("FROM %s\nENV SECRET=%s\n", e.image, secret))
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  viewer:
    allow: [SystemPing, ImageList, ImageInspect, ImageHistory]
    redact: [env]
clients:
  - user: 0
    profile: viewer
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	// The case proves something only if the engine itself shows it.
	if _, engineBody := get(t, e.engineSock, "/v1.41/images/"+tag+"/history"); !strings.Contains(engineBody, secret) {
		t.Fatalf("the engine's history does not show the value: %.300s", engineBody)
	}
	paths := []struct{ name, path string }{
		{"history", "/v1.41/images/" + tag + "/history"},
		{"history without a version", "/images/" + tag + "/history"},
		{"inspect: ContainerConfig.Cmd", "/v1.41/images/" + tag + "/json"},
		{"list", "/v1.41/images/json"},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			resp, body := holeReq(t, f.sock, "GET", p.path, "", "")
			if strings.Contains(body, secret) {
				t.Errorf("status %d; the answer shows the environment value: %.600s", resp.StatusCode, body)
			}
		})
	}
}

// TestHole2x9RemoteFetch: the engine fetches from the host's network
// wherever a request names a location, not only through a build's remote
// and an import's fromSrc: a build context's Dockerfile ADD <url>, and
// every registry reference (pulls, plugin privileges, search,
// distribution inspect). The recorder listens on the host's loopback,
// where nothing outside the host could reach.
func TestHole2x9RemoteFetch(t *testing.T) {
	e := testEnv(t)
	rec := newURLRecorder(t, e)
	registry := strings.TrimPrefix(rec.url, "http://")
	prefix := fmt.Sprintf("dsfhole2x9-%d", os.Getpid())
	addContext := tarOf(t, map[string]string{"Dockerfile": fmt.Sprintf("FROM %s\nADD %s/add-in-dockerfile /fetched\n", e.image, rec.url)})
	cases := []struct {
		name, method, path, ctype, body string
		env                             []string
	}{
		{"build context with ADD <url>", "POST", "/v1.41/build?t=" + prefix + "-add", "application/x-tar", string(addContext), []string{"BUILD=1", "POST=1"}},
		{"pull from a loopback registry", "POST", "/v1.41/images/create?fromImage=" + url.QueryEscape(registry+"/pulled") + "&tag=latest", "", "", []string{"IMAGES=1", "POST=1"}},
		{"plugin privileges of a loopback reference (a read)", "GET", "/v1.41/plugins/privileges?remote=" + url.QueryEscape(registry+"/plugin:latest"), "", "", []string{"PLUGINS=1"}},
		{"image search on a loopback registry (a read)", "GET", "/v1.41/images/search?term=" + url.QueryEscape(registry+"/searched"), "", "", []string{"IMAGES=1"}},
		{"distribution inspect of a loopback reference (a read)", "GET", "/v1.41/distribution/" + registry + "/distributed:latest/json", "", "", []string{"DISTRIBUTION=1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", "-f", prefix+"-add") })
			f := startFilter(t, e, filterOpts{env: c.env})
			before := len(rec.seen())
			resp, body := holeReq(t, f.sock, c.method, c.path, c.ctype, c.body)
			if got := rec.seen()[before:]; len(got) > 0 {
				t.Errorf("status %d (%.200s); the engine fetched %v from the host's loopback", resp.StatusCode, strings.TrimSpace(body), got)
			}
		})
	}
}

// TestHole2x3ServiceNetworksHold: service network references the filter
// resolves as the swarm does.
func TestHole2x3ServiceNetworksHold(t *testing.T) {
	e := testEnv(t)
	swarmOn(t, e)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  deployer:
    allow: [SystemPing, ServiceCreate, NetworkCreate, NetworkDelete]
clients:
  - user: 0
    profile: deployer
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	var swarmHost struct{ ID string }
	if code := engineGet(t, e, "/networks/host?scope=swarm", &swarmHost); code != 200 || len(swarmHost.ID) < 6 {
		t.Fatalf("host network in the swarm: %d %+v", code, swarmHost)
	}
	// A local network named like a prefix of the swarm's host network:
	// the swarm resolves service targets by its own names and id
	// prefixes, and never sees local names.
	lookalike := swarmHost.ID[:6]
	mustCLI(t, e.engineHost, "network", "create", lookalike)
	t.Cleanup(func() { cli(t, e.engineHost, nil, "network", "rm", lookalike) })
	prefix := fmt.Sprintf("dsfhole2x3-%d", os.Getpid())
	task := func(networks string) string {
		return fmt.Sprintf(`"TaskTemplate":{"ContainerSpec":{"Image":%q,"Command":["sleep","300"]},"RestartPolicy":{"Condition":"none"}%s}`, e.image, networks)
	}
	cases := []struct{ name, taskNetworks, serviceNetworks string }{
		{"service-level networks (deprecated) naming host", "", `,"Networks":[{"Target":"host"}]`},
		{"target named by a local look-alike of the swarm host id prefix", `,"Networks":[{"Target":"` + lookalike + `"}]`, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-%d", prefix, i)
			spec := fmt.Sprintf(`{"Name":%q,%s%s}`, name, task(c.taskNetworks), c.serviceNetworks)
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/services/create", "application/json", spec)
			if is2xx(resp.StatusCode) || engineHas(t, e, "service", name) {
				t.Errorf("status %d (%s): the engine holds service %s, on the host network", resp.StatusCode, strings.TrimSpace(body), name)
			}
		})
	}
}
