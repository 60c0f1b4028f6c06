package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The peers below are made by setpriv, which sets the uid, gid and
// supplementary groups the kernel then reports through SO_PEERCRED and
// SO_PEERGROUPS. "nobody" is uid 65534 on Debian.
const perCallerPolicy = `
profiles:
  traefik:
    allow: [SystemPing, SystemPingHead, SystemVersion, SystemEvents, ContainerList, ContainerInspect]
  readonly:
    allow: [containers:read, images:read, networks:read, volumes:read, info, version, ping, events]
clients:
  - user: nobody
    profile: traefik
  - group: 4242
    profile: readonly
  - user: 4100
    group: 4101
    profile: readonly
default: none
`

// asPeer runs the docker CLI as another uid, gid and supplementary groups.
func asPeer(t *testing.T, sock string, uid, gid int, groups []int, args ...string) (string, string, error) {
	t.Helper()
	cfg := shortTempDir(t)
	os.Chmod(cfg, 0o777)
	setpriv := []string{"--reuid", fmt.Sprint(uid), "--regid", fmt.Sprint(gid)}
	if len(groups) == 0 {
		setpriv = append(setpriv, "--clear-groups")
	} else {
		var gs []string
		for _, g := range groups {
			gs = append(gs, fmt.Sprint(g))
		}
		setpriv = append(setpriv, "--groups", strings.Join(gs, ","))
	}
	setpriv = append(setpriv, "docker", "-H", fmtHost(sock))
	cmd := exec.Command("setpriv", append(setpriv, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DOCKER_CONFIG=" + cfg, "HOME=" + cfg}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func writePolicy(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProfilePerCaller checks that each peer gets its own profile from the
// kernel's word about who it is.
func TestProfilePerCaller(t *testing.T) {
	e := testEnv(t)
	id := runContainer(t, e, e.image, "sleep", "300")
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, perCallerPolicy)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy, "--listen-mode", "0666"}})
	type step struct {
		args  []string
		allow bool
		want  string // in stdout when allowed, in stderr when denied
	}
	cases := []struct {
		name   string
		uid    int
		gid    int
		groups []int
		steps  []step
	}{
		{"user nobody gets traefik", 65534, 65534, nil, []step{
			{[]string{"ps", "-q", "--no-trunc"}, true, id},
			{[]string{"inspect", "-f", "{{.Id}}", id}, true, id},
			{[]string{"network", "ls"}, false, "denied for uid=65534 gid=65534: profile traefik (clients[0] (user nobody)) does not allow NetworkList"},
		}},
		{"supplementary group 4242 gets readonly", 4000, 4000, []int{4300, 4242}, []step{
			{[]string{"network", "ls", "-q"}, true, ""},
			{[]string{"ps", "-q", "--no-trunc"}, true, id},
			{[]string{"rm", "-f", id}, false, "profile readonly (clients[1] (group 4242)) does not allow ContainerDelete"},
		}},
		{"unlisted uid gets nothing", 4000, 4000, nil, []step{
			{[]string{"ps"}, false, "denied for uid=4000 gid=4000: default gives no profile (none)"},
		}},
		{"user and group both match", 4100, 4101, nil, []step{
			{[]string{"network", "ls", "-q"}, true, ""},
		}},
		{"user matches but group does not", 4100, 4000, nil, []step{
			{[]string{"network", "ls"}, false, "default gives no profile"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, s := range c.steps {
				out, errOut, err := asPeer(t, f.sock, c.uid, c.gid, c.groups, s.args...)
				if s.allow {
					if err != nil || !strings.Contains(out, s.want) {
						t.Errorf("docker %v: err %v, stdout %q, stderr %q; want it allowed", s.args, err, out, errOut)
					}
					continue
				}
				if err == nil || !strings.Contains(errOut, s.want) {
					t.Errorf("docker %v: err %v, stderr %q; want a denial with %q", s.args, err, errOut, s.want)
				}
			}
		})
	}
}

// TestReload changes the policy under an open events stream and an open
// keep-alive connection: the stream keeps delivering, the next request
// follows the new policy, and an invalid file keeps the policy in force.
func TestReload(t *testing.T) {
	e := testEnv(t)
	dir := shortTempDir(t)
	const before = `
profiles:
  p: {allow: [SystemPing, SystemEvents, ContainerList]}
clients:
  - user: 0
    profile: p
`
	const after = `
profiles:
  p: {allow: [SystemPing, SystemEvents, NetworkList]}
clients:
  - user: 0
    profile: p
`
	policy := writePolicy(t, dir, before)
	notifyDir := shortTempDir(t)
	notifyPath, notes := listenNotify(t, filepath.Join(notifyDir, "n.sock"))
	g := startFilterWithNotify(t, e, notifyPath, notes, "--policy", policy)

	events := dial(t, g.sock)
	io.WriteString(events, "GET /v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D HTTP/1.1\r\nHost: docker\r\n\r\n")
	evr := bufio.NewReader(events)
	if status := readHead(t, evr); status != 200 {
		t.Fatalf("events: status %d", status)
	}
	keep := dial(t, g.sock)
	keepr := bufio.NewReader(keep)
	ask := func(path string) int {
		t.Helper()
		fmt.Fprintf(keep, "GET %s HTTP/1.1\r\nHost: docker\r\n\r\n", path)
		return readResponses(t, keepr, 1, "GET")[0].StatusCode
	}
	if s := ask("/v1.41/containers/json"); s != 200 {
		t.Fatalf("before reload, ContainerList: %d", s)
	}

	reloadAndWait := func() {
		t.Helper()
		g.signal(syscall.SIGHUP)
		waitNotify(t, notes, "RELOADING=1")
		waitNotify(t, notes, "READY=1")
	}
	writePolicy(t, dir, after)
	reloadAndWait()
	if s := ask("/v1.41/containers/json"); s != 403 {
		t.Errorf("after reload, ContainerList on the old connection: %d, want 403", s)
	}
	if s := ask("/v1.41/networks"); s != 200 {
		t.Errorf("after reload, NetworkList on the old connection: %d, want 200", s)
	}
	name := "dsf-reload-event"
	mustCLI(t, e.engineHost, "create", "--name", name, "--network", "none", e.image, "true")
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", name) })
	waitLine(t, lineReader(evr), name)

	writePolicy(t, dir, "profiles:\n  p: {allow: [NoSuchOperation]}\n")
	reloadAndWait()
	if s := ask("/v1.41/networks"); s != 200 {
		t.Errorf("after an invalid reload, NetworkList: %d, want the old policy's 200", s)
	}
	if logs := g.logs.String(); !strings.Contains(logs, "reload failed: keeping the policy in force") || !strings.Contains(logs, "NoSuchOperation") {
		t.Errorf("no error record naming the problem:\n%s", logs)
	}
	if strings.Contains(g.logs.String(), "msg=exiting") {
		t.Errorf("the daemon exited on a bad reload")
	}
}

// startFilterWithNotify is startFilter with a notify socket the test
// keeps reading.
func startFilterWithNotify(t *testing.T, e env, notifyPath string, notes <-chan string, args ...string) *filterProc {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "f.sock")
	cmd := exec.Command(e.filterBin, append([]string{"serve", "--listen", sock, "--upstream", e.engineHost}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "NOTIFY_SOCKET=" + notifyPath, "WATCHDOG_USEC=400000"}
	f := &filterProc{sock: sock, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f.logs, f.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.err = cmd.Wait(); close(f.done) }()
	t.Cleanup(func() {
		f.signal(syscall.SIGTERM)
		<-f.done
		if t.Failed() {
			t.Logf("filter logs:\n%s", f.logs.String())
		}
	})
	waitNotify(t, notes, "READY=1")
	return f
}

func waitNotify(t *testing.T, notes <-chan string, want string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case n, ok := <-notes:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			if strings.Contains(n, want) {
				return n
			}
		case <-deadline:
			t.Fatalf("no %q notification within 30s", want)
		}
	}
}

// TestNotify checks what systemd is told: READY, STATUS with live counts,
// WATCHDOG pings when asked, STOPPING at shutdown.
func TestNotify(t *testing.T) {
	e := testEnv(t)
	notifyPath, notes := listenNotify(t, filepath.Join(shortTempDir(t), "n.sock"))
	f := startFilterWithNotify(t, e, notifyPath, notes, "--policy=")
	get(t, f.sock, "/_ping")
	get(t, f.sock, "/v1.41/networks")
	// Pings come every 200ms (half of WATCHDOG_USEC); wait for one that
	// counts both requests.
	deadline := time.After(30 * time.Second)
	for {
		var n string
		select {
		case n = <-notes:
		case <-deadline:
			t.Fatal("no watchdog ping counting the requests within 30s")
		}
		if strings.Contains(n, "WATCHDOG=1") && strings.Contains(n, "1 requests allowed, 1 denied") {
			if !strings.Contains(n, "STATUS=serving: ") {
				t.Errorf("ping without STATUS: %q", n)
			}
			break
		}
	}
	f.signal(syscall.SIGTERM)
	waitNotify(t, notes, "STOPPING=1")
	if err := f.wait(t); err != nil {
		t.Errorf("exit: %v", err)
	}
}
