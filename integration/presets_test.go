package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// presetCall is one request a client makes, with placeholders:
// {c} a running container (its name, then its id), {w} a container the
// call changes (a twin of it takes the direct request), {new} a fresh
// container name, {img} a multi-segment image reference, {del} an image
// tag the call removes (a twin tag takes the direct request).
type presetCall struct {
	method, path, body string
	stream             bool // read the status only: the answer does not end
}

func call(method, path string) presetCall { return presetCall{method: method, path: path} }
func watch(path string) presetCall        { return presetCall{method: "GET", path: path, stream: true} }
func post(path, body string) presetCall   { return presetCall{method: "POST", path: path, body: body} }

const presetImage = "ghcr.io/o/app:tag"

// presetReplays are the calls each preset's client makes, from its
// source (the versions the presets name).
func presetReplays() map[string][]presetCall {
	ping := []presetCall{call("HEAD", "/_ping"), call("GET", "/_ping")}
	events := `/events?filters=` + url.QueryEscape(`{"type":{"container":true}}`)
	traefik := append(ping, call("GET", "/version"), call("GET", "/containers/json?all=1"), call("GET", "/containers/{c}/json"))
	dozzle := append(ping, call("GET", "/info"), call("GET", "/containers/json?all=1"),
		call("GET", "/containers/{c}/json"), watch("/containers/{c}/logs?follow=1&stdout=1&stderr=1&tail=10"),
		watch("/containers/{c}/stats?stream=1"), watch("/events"))
	netdata := append(ping, call("GET", "/info"),
		call("GET", "/containers/json?all=1&filters="+url.QueryEscape(`{"health":["healthy"]}`)),
		call("GET", "/containers/json?all=1&size=1"), call("GET", "/images/json"), call("GET", "/containers/{c}/json"))
	cadvisor := append(ping, call("GET", "/version"), call("GET", "/info"), call("GET", "/containers/{c}/json"), call("GET", "/images/json"))
	diun := append(ping, call("GET", "/version"),
		call("GET", "/containers/json?filters="+url.QueryEscape(`{"status":["running"]}`)), call("GET", "/images/{img}/json"))
	return map[string][]presetCall{
		"traefik":       traefik,
		"traefik-watch": append(traefik, watch(events)),
		"traefik-swarm": append(ping, call("GET", "/version"), call("GET", "/services"),
			call("GET", "/networks?filters="+url.QueryEscape(`{"scope":{"swarm":true}}`)),
			call("GET", "/tasks?filters="+url.QueryEscape(`{"service":{"x":true},"desired-state":{"running":true}}`)),
			call("GET", "/nodes/nonexistent")),
		"homepage": {call("GET", "/containers/json?all=true"), call("GET", "/containers/{c}/json"),
			call("GET", "/containers/{c}/stats?stream=false")},
		"dozzle": dozzle,
		"dozzle-actions": append(dozzle, post("/containers/{w}/stop", ""), post("/containers/{w}/start", ""),
			post("/containers/{w}/restart?t=0", ""), post("/containers/{w}/stop?t=0", ""), call("DELETE", "/containers/{w}")),
		"portainer-readonly": append(ping, call("GET", "/containers/json?all=1"), call("GET", "/containers/{c}/json"),
			call("GET", "/containers/{c}/top"), call("GET", "/containers/{c}/logs?stdout=1&stderr=1&tail=100"),
			call("GET", "/containers/{c}/stats?stream=false"), call("GET", "/events?since=1&until=2"),
			call("GET", "/images/json"), call("GET", "/images/{img}/json"), call("GET", "/images/{img}/history"),
			call("GET", "/info"), call("GET", "/version"), call("GET", "/networks"), call("GET", "/networks/none"),
			call("GET", "/plugins"), call("GET", "/volumes"), call("GET", "/volumes/nonexistent")),
		"uptime-kuma":   {call("GET", "/containers/json?all=true"), call("GET", "/containers/{c}/json")},
		"glance":        {call("GET", "/containers/json?all=true"), call("GET", "/containers/json?all=false")},
		"diun":          diun,
		"diun-swarm":    append(ping, call("GET", "/version"), call("GET", "/services"), call("GET", "/images/{img}/json")),
		"netdata":       netdata,
		"netdata-nomad": netdata,
		"cadvisor":      cadvisor,
		"cadvisor-env":  cadvisor,
		"beszel-agent": {call("GET", "/containers/json"), call("GET", "/containers/{c}/stats?stream=0"),
			call("GET", "/containers/{c}/json"), call("GET", "/containers/{c}/logs?stdout=1&stderr=1&tail=10"),
			call("GET", "/images/{img}/json"), call("GET", "/version"), call("GET", "/info")},
		"autoheal": {call("GET", "/_ping"),
			call("GET", "/containers/json?filters="+url.QueryEscape(`{"health":["unhealthy"],"label":["autoheal=true"]}`)),
			post("/containers/{w}/restart?t=0", "")},
		"homarr": {call("GET", "/containers/json?all=true"), call("GET", "/containers/{c}/json"),
			call("GET", "/containers/{c}/stats?stream=false"), call("GET", "/containers/{c}/logs?stdout=1&stderr=1&tail=10"),
			post("/containers/{w}/stop", ""), post("/containers/{w}/start", ""), post("/containers/{w}/restart", ""),
			call("DELETE", "/containers/{w}?force=true")},
		"watchtower": append(ping, call("GET", "/info"), call("GET", "/version"), call("GET", "/system/df?type=image"),
			call("GET", "/containers/json"), call("GET", "/containers/{c}/json"), call("GET", "/images/{img}/json"),
			post("/containers/{w}/exec", `{"Cmd":["true"],"AttachStdout":true}`),
			post("/containers/{w}/update", `{"RestartPolicy":{"Name":"no"}}`),
			post("/containers/{w}/kill?signal=SIGCONT", ""), post("/containers/{w}/stop?t=0", ""),
			post("/containers/create?name={new}", `{"Image":"`+presetImage+`","Cmd":["true"],"HostConfig":{"NetworkMode":"none","CgroupnsMode":"private"}}`),
			post("/containers/{w}/start", ""), post("/containers/{w}/rename?name={new}", ""),
			call("DELETE", "/containers/{w}?force=1"), call("DELETE", "/images/{del}")),
		"docker-cli-readonly": append(ping, call("GET", "/containers/json"), call("GET", "/images/json"),
			call("GET", "/containers/{c}/json"), call("GET", "/containers/{c}/logs?stdout=1&stderr=1"),
			call("GET", "/containers/{c}/stats?stream=0"), watch("/events"), call("GET", "/images/{img}/json"),
			call("GET", "/version"), call("GET", "/info")),
		"prometheus-docker-sd": append(ping,
			call("GET", "/containers/json?filters="+url.QueryEscape(`{"label":["prometheus.io/scrape=true"]}`)),
			call("GET", "/networks")),
	}
}

// presetDenials are calls none of the clients make; a preset that grants
// one of the operations gets the same call with a body its rules refuse.
func presetDenials(preset string) []presetCall {
	create := post("/containers/create", `{"Image":"`+presetImage+`","HostConfig":{"NetworkMode":"none","CgroupnsMode":"private"}}`)
	exec := post("/containers/{c}/exec", `{"Cmd":["id"]}`)
	if preset == "watchtower" {
		create = post("/containers/create", `{"Image":"`+presetImage+`","HostConfig":{"Privileged":true,"NetworkMode":"none","CgroupnsMode":"private"}}`)
		exec = post("/containers/{c}/exec", `{"Cmd":["id"],"Privileged":true}`)
	}
	denied := []presetCall{
		create, exec,
		call("GET", "/containers/{c}/archive?path=/etc"),
		call("HEAD", "/containers/{c}/archive?path=/etc"),
		call("GET", "/configs"), call("GET", "/swarm"), call("GET", "/secrets"),
		post("/build", ""), call("GET", "/containers/{c}/export"),
	}
	// What these presets granted before their clients' source showed
	// the clients never call it.
	switch preset {
	case "dozzle", "dozzle-actions":
		denied = append(denied, call("GET", "/version"))
	case "autoheal":
		denied = append(denied, call("GET", "/version"), call("GET", "/events"), call("GET", "/containers/{c}/json"))
	}
	return denied
}

// TestPresetReplays replays each preset's client through a served filter
// in front of the test engine: every call it makes is forwarded and
// answered as the engine answers it directly, with the container's name
// and id, on versioned and unversioned paths; calls it never makes are
// denied.
func TestPresetReplays(t *testing.T) {
	e := testEnv(t)
	mustCLI(t, e.engineHost, "tag", e.image, presetImage)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	name := "dsf-preset-c-" + suffix
	id := runContainer(t, e, "--name", name, e.image, "sh", "-c", "while true; do echo tick; sleep 1; done")
	direct := unixHTTPClient(e.engineSock)

	replays := presetReplays()
	out, err := runFilter(t, e, []string{"presets"})
	if err != nil {
		t.Fatalf("presets: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		preset := strings.TrimPrefix(strings.Fields(line)[0], "preset/")
		t.Run(preset, func(t *testing.T) {
			calls, ok := replays[preset]
			if !ok {
				t.Fatalf("no replay for preset/%s", preset)
			}
			policy := writePolicy(t, shortTempDir(t), fmt.Sprintf("clients:\n  - user: %d\n    profile: preset/%s\n", os.Getuid(), preset))
			f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
			filtered := unixHTTPClient(f.sock)

			// Twins of what the writes change: one for the filtered
			// request, one for the direct one, kept in step.
			twins, twinIDs, dels := [2]string{}, [2]string{}, [2]string{}
			for i, side := range []string{"f", "d"} {
				twins[i] = fmt.Sprintf("dsf-preset-%s-w%s-%s", preset, side, suffix)
				twinIDs[i] = runContainer(t, e, "--name", twins[i], e.image, "sleep", "300")
				dels[i] = fmt.Sprintf("ghcr.io/o/del:%s-%s-%s", preset, side, suffix)
				mustCLI(t, e.engineHost, "tag", e.image, dels[i])
				t.Cleanup(func() { cli(t, e.engineHost, nil, "rmi", dels[i]) })
			}
			created := 0
			expand := func(path string, side int, useID bool) string {
				w, c := twins[side], name
				if useID {
					c, w = id, twinIDs[side]
				}
				if strings.Contains(path, "{new}") {
					created++
					n := fmt.Sprintf("dsf-preset-new-%d-%s", created, suffix)
					t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", n) })
					path = strings.ReplaceAll(path, "{new}", n)
				}
				return strings.NewReplacer("{c}", c, "{w}", w, "{img}", presetImage, "{del}", dels[side]).Replace(path)
			}
			for _, c := range calls {
				// Unversioned with names, versioned with ids: both
				// spellings of both, across the calls.
				for _, variant := range []struct {
					prefix string
					useID  bool
				}{{"", false}, {"/v1.41", true}} {
					got, gotBody := presetDo(t, filtered, c, variant.prefix+expand(c.path, 0, variant.useID))
					want, _ := presetDo(t, direct, c, variant.prefix+expand(c.path, 1, variant.useID))
					if got != want || strings.Contains(gotBody, "docker-socket-filter:") {
						t.Errorf("%s %s%s: filtered %d %q, direct %d", c.method, variant.prefix, c.path, got, gotBody, want)
					}
				}
			}
			for _, c := range presetDenials(preset) {
				got, body := presetDo(t, filtered, c, "/v1.41"+expand(c.path, 0, false))
				// A HEAD answer has no body to say who refused.
				if got != http.StatusForbidden || (c.method != "HEAD" && !strings.Contains(body, "docker-socket-filter:")) {
					t.Errorf("%s %s: %d %q, want the filter's 403", c.method, c.path, got, body)
				}
			}
		})
	}
}

// presetDo sends one call and returns the status and the start of the
// answer; a stream's answer is not read.
func presetDo(t *testing.T, c *http.Client, pc presetCall, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var body io.Reader
	if pc.body != "" {
		body = strings.NewReader(pc.body)
	}
	req, err := http.NewRequestWithContext(ctx, pc.method, "http://docker"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if pc.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", pc.method, path, err)
	}
	defer resp.Body.Close()
	if pc.stream && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// TestPresetDockerCLI runs the read-only commands of the docker CLI that
// preset/docker-cli-readonly names, as the CLI sends them, and the
// writing ones it refuses.
func TestPresetDockerCLI(t *testing.T) {
	e := testEnv(t)
	name := fmt.Sprintf("dsf-preset-cli-%d", time.Now().UnixNano()%1e6)
	runContainer(t, e, "--name", name, e.image, "sh", "-c", "echo hello; sleep 300")
	policy := writePolicy(t, shortTempDir(t), fmt.Sprintf("clients:\n  - user: %d\n    profile: preset/docker-cli-readonly\n", os.Getuid()))
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	host := fmtHost(f.sock)
	for _, args := range [][]string{
		{"ps", "-a"}, {"images"}, {"logs", name}, {"inspect", name}, {"inspect", e.image},
		{"stats", "--no-stream", name}, {"events", "--since", "1", "--until", "2"}, {"version"}, {"info"},
	} {
		if _, errOut, err := cli(t, host, nil, args...); err != nil {
			t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
	}
	if out := mustCLI(t, host, "logs", name); !strings.Contains(out, "hello") {
		t.Errorf("docker logs: %q", out)
	}
	for _, args := range [][]string{
		{"run", "--rm", "--network", "none", e.image, "true"}, {"exec", name, "true"},
		{"cp", name + ":/etc/passwd", "-"}, {"volume", "ls"}, {"stop", name},
	} {
		_, errOut, err := cli(t, host, nil, args...)
		if err == nil || !strings.Contains(errOut, "docker-socket-filter") {
			t.Errorf("docker %s: %v %q, want the filter's refusal", strings.Join(args, " "), err, errOut)
		}
	}
}
