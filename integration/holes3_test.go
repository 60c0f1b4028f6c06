package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests follow holes_test.go and holes2_test.go for the third
// look: what a write reaches beyond its body. Objects a service names by
// reference (secrets, configs), ways of sending an image out of the
// engine, and host paths that change between the filter's check and the
// engine's mount, the change made from inside a container.

func logsOf(t *testing.T, e env, id string) string {
	t.Helper()
	out, errOut, _ := cli(t, e.engineHost, nil, "logs", id)
	return out + errOut
}

// TestHole3x1ServiceSecrets: a profile with ServiceCreate may mount any
// swarm secret or config by reference and read it in its task; the
// filter must refuse references the profile does not list.
func TestHole3x1ServiceSecrets(t *testing.T) {
	e := testEnv(t)
	swarmOn(t, e)
	prefix := fmt.Sprintf("dsfhole3x1-%d", os.Getpid())
	create := func(kind, name string) string {
		out, errOut, err := cli(t, e.engineHost, strings.NewReader("admin's secret\n"), kind, "create", name, "-")
		if err != nil {
			t.Fatalf("%s create %s: %v %s", kind, name, err, errOut)
		}
		return strings.TrimSpace(out)
	}
	secret, other, config := prefix+"-secret", prefix+"-other", prefix+"-config"
	secretID, otherID, configID := create("secret", secret), create("secret", other), create("config", config)
	dir := shortTempDir(t)
	// Services need host_namespaces on cgroup v1 hosts: a task cannot
	// ask for a private cgroup namespace.
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  deployer:
    allow: [SystemPing, ServiceCreate]
    create:
      host_namespaces: true
      secrets: [%s]
clients:
  - user: 0
    profile: deployer
`, secret))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	file := `"File":{"Name":"s","UID":"0","GID":"0","Mode":292}`
	cases := []struct {
		name, spec string
		allow      bool
	}{
		{"a secret not listed", fmt.Sprintf(`"Secrets":[{"SecretID":%q,"SecretName":%q,%s}]`, otherID, other, file), false},
		{"a listed secret's name on another secret's id", fmt.Sprintf(`"Secrets":[{"SecretID":%q,"SecretName":%q,%s}]`, otherID, secret, file), false},
		{"a config not listed", fmt.Sprintf(`"Configs":[{"ConfigID":%q,"ConfigName":%q,%s}]`, configID, config, file), false},
		{"a credential spec naming a config", fmt.Sprintf(`"Privileges":{"CredentialSpec":{"Config":%q}},"Configs":[{"ConfigID":%q,"ConfigName":%q,"Runtime":{}}]`, configID, configID, config), false},
		{"the listed secret", fmt.Sprintf(`"Secrets":[{"SecretID":%q,"SecretName":%q,%s}]`, secretID, secret, file), true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-%d", prefix, i)
			spec := fmt.Sprintf(`{"Name":%q,"TaskTemplate":{"ContainerSpec":{"Image":%q,"Command":["sleep","300"],%s},"RestartPolicy":{"Condition":"none"}}}`, name, e.image, c.spec)
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/services/create", "application/json", spec)
			held := engineHas(t, e, "service", name)
			if c.allow {
				if !is2xx(resp.StatusCode) || !held {
					t.Errorf("a listed secret was refused: %d %s", resp.StatusCode, body)
				}
				return
			}
			if is2xx(resp.StatusCode) || held {
				t.Errorf("status %d (%s): the engine holds service %s, which reads a secret or config the profile does not list", resp.StatusCode, strings.TrimSpace(body), name)
			}
		})
	}
}

// TestHole3x2ImagePush: a profile given the images group (IMAGES=1
// POST=1) may not save an image, yet could push it to a registry of its
// choosing: the same content sent out. The registry here is a recorder
// on loopback; a push reaching it is the engine sending an image out.
func TestHole3x2ImagePush(t *testing.T) {
	e := testEnv(t)
	registry := newURLRecorder(t, e)
	host := strings.TrimPrefix(registry.url, "http://")
	ref := host + "/stolen/image"
	mustCLI(t, e.engineHost, "tag", e.image, ref)
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", ref) })
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  images:
    allow: [SystemPing, images]
    create:
      remote_fetch: true
clients:
  - user: 0
    profile: images
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1.41/images/" + ref + "/push?tag=latest"},
		{"GET", "/v1.41/images/" + e.image + "/get"},
	} {
		resp, body := holeReq(t, f.sock, c.method, c.path, "", "", "X-Registry-Auth: e30=")
		if is2xx(resp.StatusCode) {
			t.Errorf("%s %s: status %d (%.200s): the images group sends an image out", c.method, c.path, resp.StatusCode, body)
		}
	}
	if seen := registry.seen(); len(seen) > 0 {
		t.Errorf("the engine pushed to the registry on loopback: %v", seen)
	}
}

// TestHole3x3BindSwap: a bind source is judged at create and mounted at
// every start. A container that can write inside an allowed bind source
// replaces a directory there with a symbolic link to a host directory
// outside it and exits; its restart policy restarts it, and the engine
// mounts the link's target. The filter must make that impossible: binds
// read-only by default, no restart policy for a container whose host
// binds are writable, and every start it sees judged again.
func TestHole3x3BindSwap(t *testing.T) {
	e := testEnv(t)
	allowed, outside := hostDirs(t)
	prefix := fmt.Sprintf("dsfhole3x3-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	sub, vsub := filepath.Join(allowed, "sub"), filepath.Join(allowed, "vsub")
	fresh := func(t *testing.T) {
		t.Helper()
		for _, d := range []string{sub, vsub} {
			os.Remove(d)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	swapped := func() bool {
		fi, err := os.Lstat(sub)
		return err == nil && fi.Mode()&os.ModeSymlink != 0
	}
	// The container prints what its second bind shows; when that is not
	// the outside directory yet, it swaps the directory for a link to it
	// through its first bind, and fails, so that on-failure restarts it.
	script := fmt.Sprintf(`if [ -e /s/marker ]; then cat /s/marker; exec sleep 300; fi; `+
		`rm -rf /w/sub /w/vsub && busybox ln -s %[1]s /w/sub && busybox ln -s %[1]s /w/vsub; exit 1`, outside)
	body := func(ro, restart string) string {
		return fmt.Sprintf(`{"Image":%q,"Cmd":["sh","-c",%q],"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none",`+
			`"Binds":["%s:/w%s","%s:/s%s"]%s}}`, e.image, script, allowed, ro, sub, ro, restart)
	}
	const onFailure = `,"RestartPolicy":{"Name":"on-failure"}`

	t.Run("the swap works on the engine", func(t *testing.T) {
		fresh(t)
		id := engineCreate(t, e, prefix+"-control", body("", onFailure))
		mustCLI(t, e.engineHost, "start", id)
		if !waitFor(t, "the restarted container to read the marker", func() bool { return strings.Contains(logsOf(t, e, id), "host secret") }) {
			t.Fatalf("the engine did not remount through the link (logs %q, swapped %v): the cases below prove nothing", logsOf(t, e, id), swapped())
		}
		cli(t, e.engineHost, nil, "rm", "-f", id)
	})

	dir := shortTempDir(t)
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  safe:
    allow: [SystemPing, ContainerCreate, ContainerStart, ContainerRestart, VolumeCreate]
    create:
      bind_sources: [%[1]s]
  writer:
    allow: [SystemPing, ContainerCreate, ContainerStart, ContainerRestart, ContainerUpdate, VolumeCreate]
    create:
      bind_sources: [%[1]s]
      writable_binds: true
clients:
  - user: 0
    profile: safe
`, allowed))
	safe := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	writerPolicy := writePolicy(t, shortTempDir(t), strings.Replace(mustRead(t, policy), "profile: safe", "profile: writer", 1))
	writer := startFilter(t, e, filterOpts{args: []string{"--policy", writerPolicy}})

	refused := func(t *testing.T, sock, name, body string) {
		t.Helper()
		resp, answer := holeReq(t, sock, "POST", "/v1.41/containers/create?name="+name, "application/json", body)
		if is2xx(resp.StatusCode) || engineHas(t, e, "container", name) {
			t.Errorf("status %d (%s): the engine holds %s", resp.StatusCode, strings.TrimSpace(answer), name)
		}
	}
	created := func(t *testing.T, sock, name, body string) string {
		t.Helper()
		resp, answer := holeReq(t, sock, "POST", "/v1.41/containers/create?name="+name, "application/json", body)
		id := createdID(answer)
		if resp.StatusCode != http.StatusCreated || id == "" {
			t.Fatalf("create %s: %d %s", name, resp.StatusCode, answer)
		}
		return id
	}

	t.Run("writable binds are refused by default", func(t *testing.T) {
		fresh(t)
		refused(t, safe.sock, prefix+"-rw", body("", ""))
		refused(t, safe.sock, prefix+"-rw-restart", body("", onFailure))
		refused(t, safe.sock, prefix+"-mount-rw", fmt.Sprintf(`{"Image":%q,"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"bind","Source":%q,"Target":"/w"}]}}`, e.image, allowed))
	})

	t.Run("read-only binds restart, and the swap cannot happen", func(t *testing.T) {
		fresh(t)
		id := created(t, safe.sock, prefix+"-ro", body(":ro", onFailure))
		if resp, answer := holeReq(t, safe.sock, "POST", "/v1.41/containers/"+id+"/start", "", ""); !is2xx(resp.StatusCode) {
			t.Fatalf("start: %d %s", resp.StatusCode, answer)
		}
		if !waitFor(t, "the engine to restart the container", func() bool { return inspectOnEngine(t, e, id).RestartCount >= 2 }) {
			t.Fatalf("the engine did not restart %s: the case proves nothing", id)
		}
		if swapped() || strings.Contains(logsOf(t, e, id), "host secret") {
			t.Errorf("through read-only binds the container swapped %s (%v) or read %s: %q", sub, swapped(), outside, logsOf(t, e, id))
		}
	})

	t.Run("bind volumes are read-only by their options", func(t *testing.T) {
		fresh(t)
		vol := prefix + "-rovol"
		opts := func(o string) string {
			return fmt.Sprintf(`{"Name":%q,"DriverOpts":{"type":"none","o":%q,"device":%q}}`, vol, o, sub)
		}
		resp, answer := holeReq(t, safe.sock, "POST", "/v1.41/volumes/create", "application/json", opts("bind"))
		if is2xx(resp.StatusCode) || engineHas(t, e, "volume", vol) {
			t.Errorf("a writable bind volume: status %d (%s)", resp.StatusCode, strings.TrimSpace(answer))
		}
		if resp, answer = holeReq(t, safe.sock, "POST", "/v1.41/volumes/create", "application/json", opts("bind,ro")); !is2xx(resp.StatusCode) {
			t.Fatalf("volume create: %d %s", resp.StatusCode, answer)
		}
		// Mounted without ":ro", restarting: the volume's own options
		// must keep the container from writing there.
		id := created(t, safe.sock, prefix+"-rovol-c", fmt.Sprintf(`{"Image":%q,"Cmd":["sh","-c","touch /v/written; exit 1"],`+
			`"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Binds":["%s:/v"]%s}}`, e.image, vol, onFailure))
		if resp, answer := holeReq(t, safe.sock, "POST", "/v1.41/containers/"+id+"/start", "", ""); !is2xx(resp.StatusCode) {
			t.Fatalf("start: %d %s", resp.StatusCode, answer)
		}
		if !waitFor(t, "the engine to restart the container", func() bool { return inspectOnEngine(t, e, id).RestartCount >= 1 }) {
			t.Fatalf("the engine did not restart %s: the case proves nothing", id)
		}
		if _, err := os.Stat(filepath.Join(sub, "written")); err == nil {
			t.Errorf("a container wrote through a bind volume made with o=bind,ro")
		}
	})

	t.Run("writable binds: no restart policy, and every start judged again", func(t *testing.T) {
		fresh(t)
		refused(t, writer.sock, prefix+"-w-restart", body("", onFailure))
		refused(t, writer.sock, prefix+"-w-always", body("", `,"RestartPolicy":{"Name":"always"}`))
		// A volume whose device is a real directory when it is made,
		// and a container mounting it, made before the swap.
		vol := prefix + "-vol"
		resp, answer := holeReq(t, writer.sock, "POST", "/v1.41/volumes/create", "application/json",
			fmt.Sprintf(`{"Name":%q,"DriverOpts":{"type":"none","o":"bind","device":%q}}`, vol, vsub))
		if !is2xx(resp.StatusCode) {
			t.Fatalf("volume create: %d %s", resp.StatusCode, answer)
		}
		volBody := fmt.Sprintf(`{"Image":%q,"Cmd":["cat","/v/marker"],"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Binds":["%s:/v:ro"]}}`, e.image, vol)
		early := created(t, writer.sock, prefix+"-vol-early", volBody)
		id := created(t, writer.sock, prefix+"-w", body("", ""))
		// Nor may an update give it one.
		resp, answer = holeReq(t, writer.sock, "POST", "/v1.41/containers/"+id+"/update", "application/json", `{"RestartPolicy":{"Name":"always"}}`)
		var policy struct {
			HostConfig struct{ RestartPolicy struct{ Name string } }
		}
		engineGet(t, e, "/containers/"+id+"/json", &policy)
		if is2xx(resp.StatusCode) || policy.HostConfig.RestartPolicy.Name == "always" {
			t.Errorf("update to restart always: status %d (%s), the engine's policy %q", resp.StatusCode, strings.TrimSpace(answer), policy.HostConfig.RestartPolicy.Name)
		}
		if resp, answer := holeReq(t, writer.sock, "POST", "/v1.41/containers/"+id+"/start", "", ""); !is2xx(resp.StatusCode) {
			t.Fatalf("start: %d %s", resp.StatusCode, answer)
		}
		if !waitFor(t, "the container to swap the directory and exit", func() bool { return swapped() && !inspectOnEngine(t, e, id).State.Running }) {
			t.Fatalf("the container did not swap %s: the case proves nothing", sub)
		}
		for _, op := range []string{"start", "restart"} {
			resp, answer := holeReq(t, writer.sock, "POST", "/v1.41/containers/"+id+"/"+op, "", "")
			if is2xx(resp.StatusCode) || inspectOnEngine(t, e, id).State.Running || strings.Contains(logsOf(t, e, id), "host secret") {
				t.Errorf("%s after the swap: status %d (%s), logs %q", op, resp.StatusCode, strings.TrimSpace(answer), logsOf(t, e, id))
			}
		}
		resp, answer = holeReq(t, writer.sock, "POST", "/v1.41/containers/"+early+"/start", "", "")
		if is2xx(resp.StatusCode) || strings.Contains(logsOf(t, e, early), "host secret") {
			t.Errorf("start of a container mounting the swapped volume: status %d (%s), logs %q", resp.StatusCode, strings.TrimSpace(answer), logsOf(t, e, early))
		}
		refused(t, writer.sock, prefix+"-vol-late", volBody)
		refused(t, safe.sock, prefix+"-vol-late-safe", volBody)
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
