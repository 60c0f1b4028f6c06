package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCLIReadsMatchTheEngine checks that allowed commands print through the
// filter exactly what they print against the engine.
func TestCLIReadsMatchTheEngine(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, "--label", "dsf.test=reads", e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "IMAGES=1", "INFO=1"}})
	host := fmtHost(f.sock)
	cases := [][]string{
		{"ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Labels}}"},
		{"inspect", "--format", "{{.Id}} {{.Config.Image}} {{.State.Status}}", id},
		{"images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"},
		{"top", id, "-o", "pid,args"},
		{"info", "--format", "{{.ID}} {{.Containers}}"},
		{"image", "inspect", "--format", "{{.Id}}", e.image},
		{"version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args[:1], " "), func(t *testing.T) {
			want := mustCLI(t, e.engineHost, args...)
			got := mustCLI(t, host, args...)
			if args[0] == "images" {
				// Images created in the same second list in either order.
				want, got = sortedLines(want), sortedLines(got)
			}
			if got != want {
				t.Errorf("docker %v through the filter:\n%s\nagainst the engine:\n%s", args, got, want)
			}
			if strings.TrimSpace(got) == "" {
				t.Errorf("docker %v printed nothing", args)
			}
		})
	}
}

// TestCLIDeniedShowsReason checks the message a denied user sees.
func TestCLIDeniedShowsReason(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"network", "ls"}, `Error response from daemon: docker-socket-filter: GET /v[0-9.]+/networks \(NetworkList\) denied for uid=0 gid=0: profile env \(default\) does not allow NetworkList`},
		{[]string{"volume", "ls"}, `docker-socket-filter: GET /v[0-9.]+/volumes \(VolumeList\) denied`},
		{[]string{"rm", "-f", "nothing"}, `docker-socket-filter: DELETE /v[0-9.]+/containers/nothing \(ContainerDelete\) denied`},
		{[]string{"export", "nothing"}, `docker-socket-filter: GET /v[0-9.]+/containers/nothing/export \(ContainerExport\) denied`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, errOut, err := cli(t, fmtHost(f.sock), nil, c.args...)
			if err == nil {
				t.Fatalf("docker %v succeeded through a filter that denies it", c.args)
			}
			if !regexp.MustCompile(c.want).MatchString(errOut) {
				t.Errorf("stderr %q does not match %q", errOut, c.want)
			}
		})
	}
}

// TestRunInteractiveStdinCloses runs `docker run -i` whose stdin ends: the
// end of input must reach the container, and its output after that must
// reach the client.
func TestRunInteractiveStdinCloses(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	input := "line one\nline two\n"
	out, errOut, err := cli(t, fmtHost(f.sock), strings.NewReader(input),
		"run", "-i", "--rm", "--network", "none", "--cgroupns", "private", e.image, "sh", "-c", "cat; echo after-eof")
	if err != nil {
		t.Fatalf("docker run -i: %v\n%s", err, errOut)
	}
	if want := input + "after-eof\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestExecInteractive pipes stdin through `docker exec -i`.
func TestExecInteractive(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1", "EXEC=1"}})
	out, errOut, err := cli(t, fmtHost(f.sock), strings.NewReader("from stdin\n"),
		"exec", "-i", id, "sh", "-c", "cat; echo exec-done")
	if err != nil {
		t.Fatalf("docker exec -i: %v\n%s", err, errOut)
	}
	if want := "from stdin\nexec-done\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}

	// Without EXEC the exec is created but never started. The CLI
	// reports a refused upgrade by its status only.
	g := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	_, errOut, err = cli(t, fmtHost(g.sock), strings.NewReader(""), "exec", "-i", id, "true")
	if err == nil || !strings.Contains(errOut, "403") {
		t.Errorf("exec without EXEC=1: err %v, stderr %q; want a 403", err, errOut)
	}
	if logs := g.logs.String(); !strings.Contains(logs, "operation=ExecStart profile=env decision=deny") {
		t.Errorf("the filter did not log ExecStart as denied:\n%s", logs)
	}
}

// TestAttach attaches to a running container that waits for input: the
// input and the end of it reach the container, its output comes back.
func TestAttach(t *testing.T) {
	e := testEnv(t)
	id := strings.TrimSpace(mustCLI(t, e.engineHost, "create", "-i", "--network", "none", e.image, "sh", "-c", "cat; echo done"))
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", id) })
	mustCLI(t, e.engineHost, "start", id)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	out, errOut, err := cli(t, fmtHost(f.sock), strings.NewReader("hello\n"), "attach", id)
	if err != nil {
		t.Fatalf("docker attach: %v\n%s", err, errOut)
	}
	if want := "hello\ndone\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestLogsFollowAndEventsStream checks that streams arrive as the engine
// writes them: a line the container prints later, and an event for a
// container created while the stream is open.
func TestLogsFollowAndEventsStream(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sh", "-c",
		"echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1"}})
	host := fmtHost(f.sock)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := exec.CommandContext(ctx, "docker", "-H", host, "logs", "-f", id)
	logs.Env = append(os.Environ(), "DOCKER_CONFIG="+shortTempDir(t))
	logsOut, err := logs.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	lines := lineReader(logsOut)
	waitLine(t, lines, "first")

	events := exec.CommandContext(ctx, "docker", "-H", host, "events",
		"--filter", "type=container", "--filter", "event=create", "--format", "{{.Actor.Attributes.name}}")
	events.Env = logs.Env
	eventsOut, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer events.Process.Kill()
	eventLines := lineReader(eventsOut)

	mustCLI(t, e.engineHost, "exec", id, "touch", "/tmp/go")
	waitLine(t, lines, "second")
	if err := logs.Wait(); err != nil {
		t.Errorf("docker logs -f ended with %v after the container exited", err)
	}

	// The events stream was opened before this create; the create must
	// arrive on it. Events may connect after the CLI returned from start,
	// so create containers until one is seen (each create is an event).
	name := "dsf-event-" + strings.ToLower(t.Name()[len(t.Name())-6:])
	mustCLI(t, e.engineHost, "create", "--name", name, "--network", "none", e.image, "true")
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", name) })
	waitLine(t, eventLines, name)
}

// TestCopyBothWays copies a file into a container and back.
func TestCopyBothWays(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1", "ALLOW_ARCHIVE=1"}})
	host := fmtHost(f.sock)
	dir := shortTempDir(t)
	src := filepath.Join(dir, "in.txt")
	payload := strings.Repeat("docker-socket-filter copy payload\n", 4096)
	if err := os.WriteFile(src, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, host, "cp", src, id+":/tmp/in.txt")
	mustCLI(t, host, "cp", id+":/tmp/in.txt", filepath.Join(dir, "back.txt"))
	back, err := os.ReadFile(filepath.Join(dir, "back.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != payload {
		t.Errorf("copied back %d bytes, want the %d sent", len(back), len(payload))
	}

	// Reading files out of a container is its own grant.
	g := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	_, errOut, err := cli(t, fmtHost(g.sock), nil, "cp", id+":/tmp/in.txt", filepath.Join(dir, "denied.txt"))
	if err == nil || !regexp.MustCompile(`\(ContainerArchive(Info)?\) denied`).MatchString(errOut) {
		t.Errorf("cp out without ALLOW_ARCHIVE: err %v, stderr %q", err, errOut)
	}
}

// TestBuildLegacy builds an image with the legacy builder through the
// filter, the build context streaming through.
func TestBuildLegacy(t *testing.T) {
	e := testEnv(t)
	// The legacy builder fetches what a Dockerfile names on the host's
	// network, and on cgroup v1 runs its steps in the host's cgroup
	// namespace: a profile must allow both, which no tecnativa variable
	// does.
	refusing := startFilter(t, e, filterOpts{env: []string{"BUILD=1", "POST=1", "IMAGES=1"}})
	rules := "remote_fetch: true"
	if engineCgroupVersion(t, e) == "1" {
		rules += ", host_namespaces: true"
	}
	policy := writePolicy(t, shortTempDir(t), `
profiles:
  builder:
    allow: [ImageBuild, images:read, SystemPing, SystemPingHead, SystemVersion]
    create: {`+rules+`}
clients:
  - user: 0
    profile: builder
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	dir := shortTempDir(t)
	dockerfile := "FROM " + e.image + "\nCOPY blob /blob\nRUN wc -c /blob > /size\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 3<<20)
	if err := os.WriteFile(filepath.Join(dir, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "dsf-built:" + strings.ToLower(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := func(sock string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "docker", "-H", fmtHost(sock), "build", "--network", "none", "-q", "-t", tag, dir)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_CONFIG="+shortTempDir(t))
		return cmd.CombinedOutput()
	}
	if out, err := build(refusing.sock); err == nil || !strings.Contains(string(out), "remote_fetch") {
		t.Errorf("a build through BUILD=1 POST=1: %v %s; want it refused naming remote_fetch", err, out)
	}
	out, err := build(f.sock)
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", "-f", tag) })
	size := mustCLI(t, e.engineHost, "run", "--rm", "--network", "none", tag, "cat", "/size")
	if !strings.HasPrefix(size, "3145728 ") {
		t.Errorf("built image has /size %q, want the 3 MiB context file", size)
	}
}

// TestCLIBodyRules: the embedded default with CONTAINERS=1 POST=1 lets the
// CLI run plain containers but refuses what would be root on the host.
func TestCLIBodyRules(t *testing.T) {
	e := testEnv(t)
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1"}})
	host := fmtHost(f.sock)
	if out := mustCLI(t, host, "run", "--rm", "--network", "none", "--cgroupns", "private", e.image, "echo", "plain"); out != "plain\n" {
		t.Errorf("plain run printed %q", out)
	}
	// Left to the engine, the cgroup namespace is the host's on cgroup
	// v1: such a run is refused there with what to pass, and runs on v2.
	_, errOut, err := cli(t, host, nil, "run", "--rm", "--network", "none", e.image, "true")
	if v1 := engineCgroupVersion(t, e) == "1"; v1 != (err != nil && strings.Contains(errOut, "--cgroupns private")) {
		t.Errorf("docker run without --cgroupns on cgroup v%s: err %v, stderr %q", engineCgroupVersion(t, e), err, errOut)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--privileged"}, "privileged containers are not allowed"},
		{[]string{"-v", "/:/host"}, "host path / is not under an allowed bind source"},
		{[]string{"--pid", "host"}, `PidMode "host" shares a namespace`},
		{[]string{"--cap-add", "SYS_ADMIN"}, "adding capability CAP_SYS_ADMIN is not allowed"},
		{[]string{"--security-opt", "seccomp=unconfined"}, "security option"},
	}
	// Debian's docker 20.10 CLI sends fields the current API types
	// dropped (KernelMemory); it must still run plain containers.
	debianCLI := "/usr/bin/docker"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianCLI, "-H", host, "run", "--rm", "--network", "none", "--cgroupns", "private", e.image, "echo", "debian-cli")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+shortTempDir(t))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "debian-cli\n" {
		t.Errorf("%s run through the filter: %v: %s", debianCLI, err, out)
	}
	for _, c := range cases {
		args := append(append([]string{"run", "--rm", "--network", "none", "--cgroupns", "private"}, c.args...), e.image, "true")
		_, errOut, err := cli(t, host, nil, args...)
		if err == nil || !strings.Contains(errOut, "(ContainerCreate) denied") || !strings.Contains(errOut, c.want) {
			t.Errorf("docker %v: err %v, stderr %q; want %q", args, err, errOut, c.want)
		}
	}
}

// TestExistingContainersFollowCreateRules: a profile may not exec into,
// copy from or attach to a container it could not have created itself,
// here one an admin started with a host directory mounted.
func TestExistingContainersFollowCreateRules(t *testing.T) {
	e := testEnv(t)
	hostDir := shortTempDir(t)
	if err := os.WriteFile(filepath.Join(hostDir, "secret"), []byte("host secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	admins := runContainer(t, e, "-v", hostDir+":/host:ro", e.image, "sleep", "300")
	plain := runContainer(t, e, e.image, "sleep", "300")
	f := startFilter(t, e, filterOpts{env: []string{"CONTAINERS=1", "POST=1", "EXEC=1", "ALLOW_ARCHIVE=1"}})
	host := fmtHost(f.sock)
	if out := mustCLI(t, host, "exec", plain, "echo", "plain"); out != "plain\n" {
		t.Errorf("exec into a plain container printed %q", out)
	}
	stopped := strings.TrimSpace(mustCLI(t, e.engineHost, "create", "--network", "none", "-v", hostDir+":/host:ro", e.image, "cat", "/host/secret"))
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", stopped) })
	for _, args := range [][]string{
		{"exec", admins, "cat", "/host/secret"},
		{"exec", admins[:12], "cat", "/host/secret"},
		{"cp", admins + ":/host/secret", filepath.Join(shortTempDir(t), "out")},
		{"start", stopped},
		{"restart", stopped},
	} {
		out, errOut, err := cli(t, host, nil, args...)
		if err == nil || strings.Contains(out, "host secret") || !strings.Contains(errOut, "was created with what this profile may not use") {
			t.Errorf("docker %v: err %v, stdout %q, stderr %q; want a refusal", args, err, out, errOut)
		}
	}
	if state := mustCLI(t, e.engineHost, "inspect", "-f", "{{.State.StartedAt}}", stopped); !strings.HasPrefix(state, "0001-01-01") {
		t.Errorf("the refused container was started at %s", state)
	}
	// Committing copies the container's files like an export.
	g := startFilter(t, e, filterOpts{env: []string{"COMMIT=1", "POST=1", "CONTAINERS=1"}})
	_, errOut, err := cli(t, fmtHost(g.sock), nil, "commit", admins, "dsf-stolen:latest")
	if err == nil || !strings.Contains(errOut, "(ImageCommit) denied") {
		t.Errorf("commit of the admin's container: err %v, stderr %q", err, errOut)
	}
	// A container that does not exist is answered by the filter itself.
	_, errOut, err = cli(t, host, nil, "exec", "no-such-container-here", "true")
	if err == nil || !strings.Contains(errOut, "No such container: no-such-container-here") {
		t.Errorf("exec into a missing container: err %v, stderr %q", err, errOut)
	}
}

// engineCgroupVersion is the test engine's cgroup version, as /info says.
func engineCgroupVersion(t *testing.T, e env) string {
	t.Helper()
	_, body := get(t, e.engineSock, "/info")
	var info struct{ CgroupVersion string }
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.CgroupVersion == "" {
		t.Fatalf("engine /info: %v %q", err, body)
	}
	return info.CgroupVersion
}

func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
