package integration

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// peerImage builds the static test client into an image of its own, so
// that a process in a container can call the filter.
func peerImage(t *testing.T, e env) string {
	t.Helper()
	dir := shortTempDir(t)
	bin := filepath.Join(dir, "rootfs", "peerclient")
	os.MkdirAll(filepath.Join(dir, "rootfs", "tmp"), 0o755)
	build := exec.Command("go", "build", "-o", bin, "./testdata/peerclient")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the peer client: %v\n%s", err, out)
	}
	tar := exec.Command("tar", "-C", filepath.Join(dir, "rootfs"), "-c", ".")
	imp := exec.Command("docker", "-H", e.engineHost, "import", "-", "dsf-peer:latest")
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	tar.Wait()
	return bin
}

const identityPolicy = `
profiles:
  web: {allow: [SystemPing, ContainerList]}
  host: {allow: [SystemPing, SystemVersion]}
  pinned: {allow: [SystemInfo]}
listen:
  - path: DIR/bound.sock
    profile: pinned
clients:
  - container: {name: dsf-id-web}
    profile: web
  - container: {label: dsf.role=web}
    user: 0
    profile: web
  - user: 0
    profile: host
  - user: 4242
    profile: host
default: none
`

// statuses runs a command and returns the status of each answer it
// printed.
func statuses(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s\n%s", strings.Join(cmd.Args, " "), err, out, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "STATUS" {
			got = append(got, f[1])
		}
	}
	return got
}

func dockerCmd(e env, args ...string) *exec.Cmd {
	return exec.Command("docker", append([]string{"-H", e.engineHost}, args...)...)
}

func TestContainerIdentity(t *testing.T) {
	e := testEnv(t)
	client := peerImage(t, e)
	dir := shortTempDir(t)
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(strings.ReplaceAll(identityPolicy, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	f := startFilter(t, e, filterOpts{sock: filepath.Join(dir, "f.sock"),
		args: []string{"--policy", policy, "--listen-mode", "0666", "--log-format", "json", "--log-level", "debug"}})
	mount := dir + ":/f"
	// inContainer runs the client as a container's main process.
	inContainer := func(name string, extra []string, args ...string) []string {
		run := append([]string{"run", "--rm", "--network", "none", "-v", mount, "--name", name}, extra...)
		return statuses(t, dockerCmd(e, append(append(run, "dsf-peer:latest", "/peerclient"), args...)...))
	}
	sleeper := func(t *testing.T, name string, extra ...string) string {
		return runContainer(t, e, append(append([]string{"-v", mount, "--name", name}, extra...), "dsf-peer:latest", "/peerclient", "-sleep")...)
	}
	onHost := func(args ...string) []string { return statuses(t, exec.Command(client, args...)) }
	want := func(t *testing.T, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("statuses %v, want %v", got, want)
		}
	}
	const list, version, info = "/containers/json", "/version", "/info"
	paths := "-paths=" + list + "," + version

	t.Run("the named container gets its profile", func(t *testing.T) {
		want(t, inContainer("dsf-id-web", nil, paths), "200", "403")
		if logs := f.logs.String(); !strings.Contains(logs, `"container":"dsf-id-web"`) || !strings.Contains(logs, `"container_id":"`) {
			t.Errorf("the audit records do not name the container:\n%s", logs)
		}
	})
	t.Run("a container matched by label and user", func(t *testing.T) {
		want(t, inContainer("dsf-id-labelled", []string{"--label", "dsf.role=web"}, paths), "200", "403")
	})
	t.Run("another container gets the default, not root's host profile", func(t *testing.T) {
		want(t, inContainer("dsf-id-other", nil, paths), "403", "403")
	})
	t.Run("the host gets its uid's profile", func(t *testing.T) {
		want(t, onHost("-sock", f.sock, paths), "403", "200")
		want(t, onHost("-sock", f.sock, "-setuid", "4242", paths), "403", "200")
	})
	t.Run("container root taking a listed uid gains nothing", func(t *testing.T) {
		want(t, inContainer("dsf-id-setuid", nil, "-setuid", "4242", paths), "403", "403")
		// The label entry also wants uid 0.
		want(t, inContainer("dsf-id-setuid2", []string{"--label", "dsf.role=web"}, "-setuid", "4242", paths), "403", "403")
	})
	t.Run("a cgroup parent naming the web container is not the web container", func(t *testing.T) {
		web := sleeper(t, "dsf-id-web")
		want(t, inContainer("dsf-id-spoof", []string{"--cgroup-parent", "/docker/" + web}, paths), "403", "403")
	})
	t.Run("a host process in a cgroup named after the web container is not it", func(t *testing.T) {
		web := sleeper(t, "dsf-id-web")
		fake := fakeCgroup(t, "docker-"+web+".scope")
		sh := exec.Command("sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, fake, client, "-sock", f.sock, paths)
		// Root on the host, but a process the filter cannot tell from a
		// contained one: neither the web profile nor root's.
		want(t, statuses(t, sh), "403", "403")
		waitLog(t, f, "is not that container's")
	})
	t.Run("a process that moves to another cgroup is who it first was", func(t *testing.T) {
		// Root on the host connects, then moves itself into a cgroup
		// named after the web container and connects again: it was
		// found out at its first connection and is remembered (where
		// pidfds are pidfs files, as on the kernels this suite runs on).
		web := sleeper(t, "dsf-id-web")
		fake := fakeCgroup(t, "docker-"+web+".scope")
		want(t, onHost("-sock", f.sock, "-join", fake, paths), "403", "200")
	})
	t.Run("a host process in a pid namespace of its own is not the host", func(t *testing.T) {
		// Root, in the host's cgroup, but sandboxed: the filter cannot
		// tell it from a contained process, so it gets neither root's
		// profile nor any container's.
		sandboxed := exec.Command("unshare", "--pid", "--fork", client, "-sock", f.sock, paths)
		want(t, statuses(t, sandboxed), "403", "403")
		waitLog(t, f, "in a container or namespace the filter cannot name")
		want(t, onHost("-sock", f.sock, paths), "403", "200")
	})
	t.Run("a connection handed on is still the process that connected", func(t *testing.T) {
		// Root on the host asks once, then hands its connection to a
		// child that asks again once root's process is gone: the
		// connection is whoever connected, as its credentials are,
		// found out while that process ran (a process that exits
		// before that is nobody: internal/peerproc tests it).
		cmd := exec.Command(client, "-sock", f.sock, "-handoff", "-paths="+version+","+version)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(out)
		var got []string
		for range 2 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
			got = append(got, line[:min(len(line), len("STATUS 200"))])
		}
		cmd.Wait()
		if got[0] != "STATUS 200" || got[1] != "STATUS 200" {
			t.Errorf("root, then its child after root's process exited: %q, want 200 both", got)
		}
	})
	t.Run("docker exec counts as the container", func(t *testing.T) {
		web := sleeper(t, "dsf-id-web")
		want(t, statuses(t, dockerCmd(e, "exec", web, "/peerclient", paths)), "200", "403")
		sleeper(t, "dsf-id-plain")
		want(t, statuses(t, dockerCmd(e, "exec", "dsf-id-plain", "/peerclient", paths)), "403", "403")
	})
	t.Run("renamed, stopped or replaced between two requests", func(t *testing.T) {
		web := sleeper(t, "dsf-id-web")
		// One connection, two requests, a rename between them.
		exe := dockerCmd(e, "exec", "-i", web, "/peerclient", "-wait", "-paths="+list+","+list)
		stdin, _ := exe.StdinPipe()
		stdout, _ := exe.StdoutPipe()
		if err := exe.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		next := func() string {
			if !lines.Scan() {
				t.Fatalf("the client said no more: %v", lines.Err())
			}
			return strings.Fields(lines.Text())[1]
		}
		if got := next(); got != "200" {
			t.Fatalf("before the rename: %s, want 200", got)
		}
		mustCLI(t, e.engineHost, "rename", web, "dsf-id-renamed")
		waitLog(t, f, `"container_id":"`+web+`","action":"rename"`)
		io.WriteString(stdin, "go\n")
		if got := next(); got != "403" {
			t.Errorf("after the rename, on the open connection: %s, want 403", got)
		}
		stdin.Close()
		exe.Wait()
		// A new container takes the name: it is the one named now.
		sleeper(t, "dsf-id-web")
		want(t, statuses(t, dockerCmd(e, "exec", "dsf-id-web", "/peerclient", "-paths="+list)), "200")
		want(t, statuses(t, dockerCmd(e, "exec", "dsf-id-renamed", "/peerclient", "-paths="+list)), "403")
		// Stopped and started again: the new processes are verified
		// anew, and are still that container.
		mustCLI(t, e.engineHost, "restart", "-t", "0", "dsf-id-web")
		want(t, statuses(t, dockerCmd(e, "exec", "dsf-id-web", "/peerclient", "-paths="+list)), "200")
	})
	t.Run("a bound socket gives its profile whoever connects, and only that one", func(t *testing.T) {
		bound := filepath.Join(dir, "bound.sock")
		want(t, onHost("-sock", bound, "-paths="+info+","+version+","+list), "200", "403", "403")
		want(t, inContainer("dsf-id-web", nil, "-sock", "/f/bound.sock", "-paths="+info+","+list), "200", "403")
	})
}

// fakeCgroup makes a cgroup named name in the unified hierarchy, where
// anyone with a delegated subtree could make one.
func fakeCgroup(t *testing.T, name string) string {
	t.Helper()
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "unified", "cgroup.procs")); err == nil {
		root = filepath.Join(root, "unified")
	}
	parent, err := os.MkdirTemp(root, "dsf-test-")
	if err != nil {
		t.Fatalf("make a cgroup: %v", err)
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make a cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(dir); os.Remove(parent) })
	return dir
}

// waitLog waits for the filter to log a line holding s.
func waitLog(t *testing.T, f *filterProc, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var once sync.Once
	for !strings.Contains(f.logs.String(), s) {
		select {
		case <-ctx.Done():
			once.Do(func() { t.Fatalf("the filter did not log %s", s) })
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
