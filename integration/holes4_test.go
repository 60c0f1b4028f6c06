package integration

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// These tests follow holes3_test.go for the fourth look: what the host
// binds' read-only rule, the connection bounds and the container
// identities hold against the engine of the host they run on (docker
// 20.10, cgroup v1 with the cgroupfs driver). Each case asks the engine,
// or the host's files, whether the engine did what the rule refuses.

// TestHole4x1BindVolumeOptionOrder: a bind volume "is read-only by its
// options" when its "o" holds "ro", but the local driver reads the
// options in turn as mount(8) does: a later "rw" clears the earlier
// "ro", and the volume mounts writable.
func TestHole4x1BindVolumeOptionOrder(t *testing.T) {
	e := testEnv(t)
	allowed, _ := hostDirs(t)
	prefix := fmt.Sprintf("dsfhole4x1-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  safe:
    allow: [SystemPing, ContainerCreate, ContainerStart, ContainerWait, VolumeCreate]
    create:
      bind_sources: [%s]
clients:
  - user: 0
    profile: safe
`, allowed))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--log-format", "json"}})
	cases := []struct {
		name string
		// volume is a volume create body ("" for none); container the
		// create body of a container writing /v/written.
		volume, container string
	}{
		{
			name:      "VolumeCreate o=bind,ro,rw, then a bind of it",
			volume:    `{"Name":"%[1]s","DriverOpts":{"type":"none","o":"bind,ro,rw","device":"%[2]s"}}`,
			container: `{"Image":"%[3]s","Cmd":["touch","/v/written"],"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Binds":["%[1]s:/v"]}}`,
		},
		{
			name:      "a mount's anonymous volume with o=bind,ro,rw",
			container: `{"Image":"%[3]s","Cmd":["touch","/v/written"],"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind,ro,rw","device":"%[2]s"}}}}]}}`,
		},
		{
			name:      "a mount's named volume with o=rbind,ro,rw",
			container: `{"Image":"%[3]s","Cmd":["touch","/v/written"],"HostConfig":{"CgroupnsMode":"private","NetworkMode":"none","Mounts":[{"Type":"volume","Source":"%[1]s","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"rbind,ro,rw","device":"%[2]s"}}}}]}}`,
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev := filepath.Join(allowed, fmt.Sprintf("dev%d", i))
			if err := os.MkdirAll(dev, 0o755); err != nil {
				t.Fatal(err)
			}
			vol, name := fmt.Sprintf("%s-v%d", prefix, i), fmt.Sprintf("%s-c%d", prefix, i)
			fill := func(s string) string { return fmt.Sprintf(s, vol, dev, e.image) }
			if c.volume != "" {
				resp, body := holeReq(t, f.sock, "POST", "/v1.41/volumes/create", "application/json", fill(c.volume))
				if !is2xx(resp.StatusCode) {
					// Refused as writable: the hole is closed.
					return
				}
				t.Logf("volume create: %d %s", resp.StatusCode, strings.TrimSpace(body))
			}
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/create?name="+name, "application/json", fill(c.container))
			id := createdID(body)
			if !is2xx(resp.StatusCode) || id == "" {
				return
			}
			if resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/start", "", ""); !is2xx(resp.StatusCode) {
				t.Fatalf("start: %d %s", resp.StatusCode, body)
			}
			holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/wait", "", "")
			if _, err := os.Stat(filepath.Join(dev, "written")); err == nil {
				t.Errorf("a profile without writable_binds wrote host directory %s through a bind volume whose options hold \"ro\" before \"rw\"", dev)
			} else {
				t.Logf("the container did not write %s: %s", dev, logsOf(t, e, id))
			}
		})
	}
}

// TestHole4x2NonRecursiveReadOnlyBind: before API 1.44 (engine 25) a
// read-only bind is read-only at its top only: a file system mounted
// under the bind source stays writable inside the container. A profile
// without writable_binds can then write there, and swap a directory for
// a link the engine follows when a restart mounts a bind below it again:
// a host file outside every bind source is read.
func TestHole4x2NonRecursiveReadOnlyBind(t *testing.T) {
	e := testEnv(t)
	allowed, outside := hostDirs(t)
	prefix := fmt.Sprintf("dsfhole4x2-%d", os.Getpid())
	removeByPrefix(t, e, prefix)
	// A file system of its own under the bind source, as /srv/data or
	// /home/* often are.
	sub := filepath.Join(allowed, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount a tmpfs under the bind source: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(sub, syscall.MNT_DETACH) })
	inner := filepath.Join(sub, "d")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  safe:
    allow: [SystemPing, ContainerCreate, ContainerStart, ContainerWait]
    create:
      bind_sources: [%s]
clients:
  - user: 0
    profile: safe
`, allowed))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--log-format", "json"}})
	hc := `"CgroupnsMode":"private","NetworkMode":"none"`
	cases := []struct {
		name, body string
		// written is the host path the container must not create;
		// leaked is true when the case reads outside's marker.
		written string
		leak    bool
	}{
		{
			name:    "Binds :ro",
			body:    fmt.Sprintf(`{"Image":%q,"Cmd":["touch","/w/sub/written-binds"],"HostConfig":{%s,"Binds":["%s:/w:ro"]}}`, e.image, hc, allowed),
			written: filepath.Join(sub, "written-binds"),
		},
		{
			name:    "Mounts ReadOnly",
			body:    fmt.Sprintf(`{"Image":%q,"Cmd":["touch","/w/sub/written-mounts"],"HostConfig":{%s,"Mounts":[{"Type":"bind","Source":%q,"Target":"/w","ReadOnly":true}]}}`, e.image, hc, allowed),
			written: filepath.Join(sub, "written-mounts"),
		},
		{
			// The swap of holes3's TestHole3x3BindSwap, through
			// read-only binds only, with a restart policy.
			name: "swap under a read-only bind, remounted by a restart",
			body: fmt.Sprintf(`{"Image":%q,"Cmd":["sh","-c",%q],"HostConfig":{%s,"Binds":["%s:/w:ro","%s:/s:ro"],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}}`,
				e.image, fmt.Sprintf(`if [ -e /s/marker ]; then cat /s/marker; exec sleep 300; fi; rm -rf /w/sub/d && busybox ln -s %s /w/sub/d; exit 1`, outside),
				hc, allowed, inner),
			leak: true,
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("%s-%d", prefix, i)
			resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/create?name="+name, "application/json", c.body)
			id := createdID(body)
			if !is2xx(resp.StatusCode) || id == "" {
				return
			}
			if resp, body := holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/start", "", ""); !is2xx(resp.StatusCode) {
				t.Fatalf("start: %d %s", resp.StatusCode, body)
			}
			if c.leak {
				if waitFor(t, "the restarted container to read the marker", func() bool { return strings.Contains(logsOf(t, e, id), "host secret") }) {
					t.Errorf("through read-only binds only, the container swapped %s for a link and its restart read %s/marker: %q", inner, outside, logsOf(t, e, id))
				}
				return
			}
			holeReq(t, f.sock, "POST", "/v1.41/containers/"+id+"/wait", "", "")
			if _, err := os.Stat(c.written); err == nil {
				t.Errorf("through a read-only bind the container wrote %s, a file system mounted under the bind source", c.written)
			}
		})
	}
}

// TestHole4x3UIDBoundSharedWithContainers: the reserve is said to keep
// the admin's connections from callers in containers, "root in a
// container can take any uid, but not the admin's reserve". But the
// per-uid bound is counted before the reserve, and counts a container's
// root as host root: a container that holds the bound's connections
// locks host root and the listed containers out with 429.
func TestHole4x3UIDBoundSharedWithContainers(t *testing.T) {
	e := testEnv(t)
	client := peerImage(t, e)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  ping: {allow: [SystemPing]}
  admin: {allow: [SystemPing, SystemVersion]}
clients:
  - user: 0
    profile: admin
default: ping
`)
	const perUID = 3
	f := startFilter(t, e, filterOpts{sock: filepath.Join(dir, "f.sock"),
		args: []string{"--policy", policy, "--listen-mode", "0666", "--max-conns-per-uid", fmt.Sprint(perUID), "--log-format", "json"}})
	sleeper := runContainer(t, e, "-v", dir+":/f", "--name", fmt.Sprintf("dsfhole4x3-%d", os.Getpid()), "dsf-peer:latest", "/peerclient", "-sleep")
	// Each exec holds one connection open after its first answer, until
	// its standard input says go on.
	for i := 0; i < perUID; i++ {
		exe := dockerCmd(e, "exec", "-i", sleeper, "/peerclient", "-wait", "-paths=/_ping,/_ping")
		stdin, err := exe.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := exe.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := exe.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close(); exe.Process.Kill(); exe.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if !strings.HasPrefix(line, "STATUS 200") {
			t.Fatalf("the container's connection %d: %q %v", i, line, err)
		}
		go io.Copy(io.Discard, stdout)
	}
	got := statuses(t, exec.Command(client, "-sock", f.sock, "-paths=/version"))
	if strings.Join(got, ",") != "200" {
		t.Errorf("host root, a listed caller, while a container holds %d connections: statuses %v, want 200 (the container's root took host root's per-uid bound)", perUID, got)
	}
	if got := f.logs.String(); !strings.Contains(got, "too many open connections for uid 0") {
		t.Logf("filter logs:\n%s", got)
	}
}

// TestHole4x4BoundSocketMode: a socket the policy binds to a profile is
// created with the main socket's mode and group, which no key of the
// binding can change: every caller that may open the main socket gets
// the bound profile on it too. Here uid 4242, whose entry gives it pings
// only, reads the engine's info through the socket meant for Traefik.
func TestHole4x4BoundSocketMode(t *testing.T) {
	e := testEnv(t)
	client := peerImage(t, e)
	dir := shortTempDir(t)
	bound := filepath.Join(dir, "traefik.sock")
	policy := writePolicy(t, dir, fmt.Sprintf(`
profiles:
  ping: {allow: [SystemPing]}
  traefik: {allow: [SystemPing, SystemInfo]}
listen:
  - path: %s
    profile: traefik
clients:
  - user: 4242
    profile: ping
default: none
`, bound))
	os.Chmod(dir, 0o755)
	startFilter(t, e, filterOpts{sock: filepath.Join(dir, "f.sock"), args: []string{"--policy", policy, "--listen-mode", "0666"}})
	fi, err := os.Stat(bound)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the bound socket has mode %v, want 0600 unless its entry says", fi.Mode().Perm())
	}
	out, err := exec.Command(client, "-sock", bound, "-setuid", "4242", "-paths=/info").CombinedOutput()
	if err == nil && strings.Contains(string(out), fmt.Sprintf("STATUS %d", http.StatusOK)) {
		t.Errorf("the bound socket (mode %v): uid 4242, given pings only, got the traefik profile's /info on it: %s", fi.Mode().Perm(), out)
	}
	if err != nil && !strings.Contains(string(out), "permission denied") {
		t.Errorf("uid 4242 on the bound socket: %v %s, want it refused at connect", err, out)
	}
}

// TestHole4x5PartialCgroupMove: on cgroup v1 each controller has a
// cgroup file line of its own. A host process moved into a container's
// cgroup in some controllers only (root's doing, or a privileged
// container's with the host's cgroup file systems) is neither that
// container nor a host process: the lines must all be the container
// init's. This holds; it is here because the suite's spoofs use the
// unified hierarchy only.
func TestHole4x5PartialCgroupMove(t *testing.T) {
	e := testEnv(t)
	client := peerImage(t, e)
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  web: {allow: [SystemPing, ContainerList]}
  host: {allow: [SystemPing, SystemVersion]}
clients:
  - container: {name: dsf-hole4x5-web}
    profile: web
  - user: 0
    profile: host
default: none
`)
	f := startFilter(t, e, filterOpts{sock: filepath.Join(dir, "f.sock"), args: []string{"--policy", policy, "--listen-mode", "0666"}})
	web := runContainer(t, e, "--name", "dsf-hole4x5-web", "dsf-peer:latest", "/peerclient", "-sleep")
	initCgroup, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", inspectOnEngine(t, e, web).State.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// controller -> the web container's cgroup path in it.
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(initCgroup)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(parts[2], web) {
			// The unified hierarchy's line names no controller.
			ctl := cmp.Or(strings.TrimPrefix(parts[1], "name="), "unified")
			paths[ctl] = parts[2]
		}
	}
	if paths["memory"] == "" || paths["pids"] == "" {
		t.Fatalf("the web container's init is not in a v1 memory and pids cgroup of its own:\n%s", initCgroup)
	}
	cases := []struct {
		name        string
		controllers []string
	}{
		{"memory only", []string{"memory"}},
		{"every controller but pids", func() []string {
			var out []string
			for c := range paths {
				if c != "pids" {
					out = append(out, c)
				}
			}
			return out
		}()},
	}
	const list, version = "/containers/json", "/version"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var script strings.Builder
			for _, ctl := range c.controllers {
				fmt.Fprintf(&script, `echo $$ > %q && `, filepath.Join("/sys/fs/cgroup", ctl, paths[ctl], "cgroup.procs"))
			}
			script.WriteString(`exec "$@"`)
			sh := exec.Command("sh", "-c", script.String(), "sh", client, "-sock", f.sock, "-paths="+list+","+version)
			got := statuses(t, sh)
			if strings.Join(got, ",") != "403,403" {
				t.Errorf("a host process in the web container's cgroup in %v only: statuses %v, want 403,403 (neither the web container nor host root)", c.controllers, got)
			}
		})
	}
}
