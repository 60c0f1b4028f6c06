package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodPolicy = `
profiles:
  traefik:
    allow: [SystemPing, SystemPingHead, SystemVersion, SystemEvents, ContainerList, ContainerInspect]
  readonly:
    allow: [containers:read, networks:read, info, version, ping, events]
clients:
  - user: 1500
    profile: traefik
  - group: 2000
    profile: readonly
  - user: 1001
    group: 2001
    profile: readonly
default: none
`

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func noEnv(string) (string, bool) { return "", false }

func runCmd(args ...string) (int, string, string) {
	var stdout, stderr strings.Builder
	code := run(args, noEnv, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheck(t *testing.T) {
	good := writeFile(t, goodPolicy)
	bad := writeFile(t, `
profiles:
  p:
    allow: [ContainerList, NoSuchThing, "networks:exec"]
clients:
  - user: 1
    profile: missing
  - profile: p
default: alsomissing
colour: blue
`)
	cases := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr []string
	}{
		{"good file", []string{"check", "--policy", good}, 0, good + ": OK: 2 profiles, 3 clients, default none", nil},
		{"every error reported", []string{"check", "--policy", bad}, 2, "", []string{
			bad + `:4: profile p: "NoSuchThing" is neither an operation id nor a group`,
			bad + `:4: profile p: group "networks:exec": access must be read or write`,
			bad + `:7: clients[0] (user 1): profile "missing" is not defined`,
			bad + `:8: clients[1]: names no user, group or container`,
			bad + `:9: default: profile "alsomissing" is not defined`,
			bad + `:10: policy: unknown key "colour"`,
		}},
		{"missing named file", []string{"check", "--policy", filepath.Join(t.TempDir(), "nope.yaml")}, 2, "", []string{"no such file"}},
		{"environment when no file", []string{"check", "--policy="}, 0, "environment: OK: 1 profiles, 0 clients, default env", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, stderr)
			}
			if !strings.Contains(stdout, c.wantStdout) {
				t.Errorf("stdout %q, want %q", stdout, c.wantStdout)
			}
			for _, w := range c.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// deployPolicy grants operations whose decisions need the body and
// lookups.
const deployPolicy = `
profiles:
  deploy:
    allow: [ContainerCreate, ContainerStart, ImageBuild]
default: deploy
`

func TestExplain(t *testing.T) {
	good := writeFile(t, goodPolicy)
	deploy := writeFile(t, deployPolicy)
	dir := t.TempDir()
	// No engine listens here: a decision that needs a lookup is denied.
	noEngine := "unix://" + filepath.Join(dir, "no-engine.sock")
	body := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	private := body("private.json", `{"Image":"x","HostConfig":{"CgroupnsMode":"private"}}`)
	privileged := body("privileged.json", `{"Image":"x","HostConfig":{"Privileged":true,"CgroupnsMode":"private"}}`)
	defaults := body("defaults.json", `{"Image":"x"}`)
	cases := []struct {
		name   string
		policy string // good when empty
		args   []string
		code   int
		want   []string
		absent []string
	}{
		{"traefik lists containers", "", []string{"--uid", "1500", "GET", "/v1.41/containers/json?all=1"}, 0,
			[]string{"client:    clients[0] (user 1500)", "profile:   traefik", "operation: ContainerList", "step:      allowed", "decision:  allow"},
			[]string{"forwards:", "looked up:"}},
		{"traefik may not list networks", "", []string{"--uid", "1500", "GET", "/networks"}, 1,
			[]string{"operation: NetworkList", "step:      grant", "decision:  deny (403): profile traefik (clients[0] (user 1500)) does not allow NetworkList"}, nil},
		{"supplementary group", "", []string{"--uid", "3000", "--groups", "10,2000", "GET", "/networks"}, 0,
			[]string{"client:    clients[1] (group 2000)", "profile:   readonly", "decision:  allow"}, nil},
		{"both keys needed", "", []string{"--uid", "1001", "--gid", "1001", "GET", "/networks"}, 1,
			[]string{"client:    default", "profile:   none", "step:      caller"}, nil},
		{"both keys match", "", []string{"--uid", "1001", "--gid", "2001", "GET", "/networks"}, 0,
			[]string{"client:    clients[2] (user 1001, group 2001)"}, nil},
		{"non-canonical path", "", []string{"--uid", "1500", "GET", "/containers/../networks"}, 1,
			[]string{"step:      path", "decision:  deny (400): path is not canonical"}, nil},
		{"unknown route", "", []string{"--uid", "1500", "GET", "/nothing"}, 1,
			[]string{"operation: unknown route", "step:      route", "the Docker API has no such operation"}, nil},
		{"body rules shown", "", []string{"--uid", "1500", "POST", "/containers/create"}, 1,
			[]string{"operation: ContainerCreate", "rules:     body (container create): privileged refused; bind sources: none; writable binds refused; named volumes allowed", "step:      grant"}, nil},
		{"no rules line for a plain read", "", []string{"--uid", "1500", "GET", "/containers/json"}, 0, nil, []string{"rules:"}},
		{"create judged without lookups", deploy, []string{"--uid", "1", "--upstream", noEngine, "--body", private, "POST", "/v1.41/containers/create"}, 0,
			[]string{"profile:   deploy", "rules:     body (container create)", "step:      allowed", "decision:  allow"}, []string{"looked up:"}},
		{"create body refused", deploy, []string{"--uid", "1", "--upstream", noEngine, "--body", privileged, "POST", "/v1.41/containers/create"}, 1,
			[]string{"step:      body", "decision:  deny (403): profile deploy: ", "privileged containers are not allowed"}, nil},
		{"create needs the engine's cgroup version", deploy, []string{"--uid", "1", "--upstream", noEngine, "--body", defaults, "POST", "/v1.41/containers/create"}, 1,
			[]string{"looked up: engine: failed: cannot reach the Docker engine", "step:      body", "decision:  deny (502)"}, nil},
		{"start needs the container's inspect", deploy, []string{"--uid", "1", "--upstream", noEngine, "POST", "/v1.41/containers/abc/start"}, 1,
			[]string{"rules:     target: ", "looked up: container abc: failed: ", "step:      target", "decision:  deny (502)"}, nil},
		{"build query judged", deploy, []string{"--uid", "1", "--upstream", noEngine, "POST", "/build?networkmode=host"}, 1,
			[]string{"step:      query", "decision:  deny (403)", "network mode"}, nil},
		{"form body refused", deploy, []string{"--uid", "1", "--upstream", noEngine, "--body", private, "--content-type", "application/x-www-form-urlencoded", "POST", "/build"}, 1,
			[]string{"step:      framing", "decision:  deny (400): form bodies are refused"}, nil},
		{"no uid", "", []string{"GET", "/networks"}, 2, nil, nil},
		{"bad gid", "", []string{"--uid", "1", "--gid", "x", "GET", "/"}, 2, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			policy := c.policy
			if policy == "" {
				policy = good
			}
			args := append([]string{"explain", "--policy", policy}, c.args...)
			code, stdout, stderr := runCmd(args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout %s\nstderr %s", code, c.code, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range c.absent {
				if strings.Contains(stdout, w) {
					t.Errorf("stdout has %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestUnknownCommandAndVersion(t *testing.T) {
	if code, _, stderr := runCmd("frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
	if code, stdout, _ := runCmd("version"); code != 0 || !strings.HasPrefix(stdout, "docker-socket-filter ") {
		t.Errorf("version: exit %d, stdout %q", code, stdout)
	}
}

func TestServeFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--log-format", "xml"}, `log format "xml"`},
		{[]string{"serve", "--log-level", "loud"}, `log level "loud"`},
		{[]string{"serve", "--policy=", "--listen-mode", "999"}, "--listen-mode"},
		{[]string{"serve", "--policy=", "--upstream", "tcp://1.2.3.4:2375"}, "only unix://PATH"},
		{[]string{"serve", "--policy=", "--listen-group", "no-such-group-xyz"}, `--listen-group "no-such-group-xyz"`},
		{[]string{"serve", "extra"}, "unexpected arguments"},
	}
	for _, c := range cases {
		code, _, stderr := runCmd(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// TestPolicySourceNeverFallsBack: a default policy file that disappears
// after it was loaded must not be replaced by the environment's policy.
func TestPolicySourceNeverFallsBack(t *testing.T) {
	path := writeFile(t, goodPolicy)
	env := func(k string) (string, bool) {
		if k == "CONTAINERS" {
			return "1", true
		}
		return "", false
	}
	src := &policySource{path: path}
	lp, err := src.load(env)
	if err != nil || lp.source != path {
		t.Fatalf("first load: %v, source %v", err, lp)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if lp, err := src.load(env); err == nil {
		t.Errorf("reload after the file vanished gave policy from %s, want an error", lp.source)
	}

	// A default path that never existed still means the environment.
	fresh := &policySource{path: path}
	if lp, err := fresh.load(env); err != nil || lp.source != "environment" {
		t.Errorf("missing default file at start: %v, %v; want the environment", lp, err)
	}
}
