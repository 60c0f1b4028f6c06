package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
	"github.com/moby/moby/client"
)

// TestViewRedactsAndHides gives a Traefik-like profile a view: environment
// values redacted, and only containers labelled traefik.enable=true
// visible, in lists, inspects and events, to the docker CLI and the Go
// client alike.
func TestViewRedactsAndHides(t *testing.T) {
	e := testEnv(t)
	suffix := strings.ToLower(t.Name()[len(t.Name())-4:])
	shown := "dsf-view-shown-" + suffix
	hidden := "dsf-view-hidden-" + suffix
	runContainer(t, e, "--name", shown, "--label", "traefik.enable=true", "-e", "SECRET=hunter2", "-e", "PLAIN=1", e.image, "sleep", "300")
	runContainer(t, e, "--name", hidden, "--label", "traefik.enable=false", e.image, "sleep", "300")
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  traefik:
    allow: [SystemPing, SystemPingHead, SystemVersion, SystemEvents, ContainerList, ContainerInspect]
    redact: [env]
    visible_if_label: traefik.enable=true
default: traefik
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	host := fmtHost(f.sock)

	names := mustCLI(t, host, "ps", "-a", "--format", "{{.Names}}")
	if !strings.Contains(names, shown) || strings.Contains(names, hidden) {
		t.Errorf("ps lists %q; want %s and not %s", names, shown, hidden)
	}
	env := mustCLI(t, host, "inspect", "-f", "{{json .Config.Env}}", shown)
	if strings.Contains(env, "hunter2") || !strings.Contains(env, `"SECRET=<redacted>"`) || !strings.Contains(env, `"PLAIN=<redacted>"`) {
		t.Errorf("inspect shows env %s; want names kept, values redacted", env)
	}
	if labels := mustCLI(t, host, "inspect", "-f", "{{index .Config.Labels \"traefik.enable\"}}", shown); labels != "true\n" {
		t.Errorf("inspect lost the labels: %q", labels)
	}
	_, errOut, err := cli(t, host, nil, "container", "inspect", hidden)
	if err == nil || !strings.Contains(errOut, "No such") {
		t.Errorf("inspect of a hidden container: err %v, stderr %q; want not found", err, errOut)
	}

	c, err := client.New(client.WithHost(host))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.ContainerList(context.Background(), client.ContainerListOptions{All: true})
	if err != nil {
		t.Fatalf("Go client ContainerList: %v", err)
	}
	for _, s := range list.Items {
		if s.Labels["traefik.enable"] != "true" {
			t.Errorf("Go client sees unlabelled container %v", s.Names)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events := exec.CommandContext(ctx, "docker", "-H", host, "events", "--filter", "type=container",
		"--filter", "event=create", "--format", "{{.Actor.Attributes.name}}")
	events.Env = append(os.Environ(), "DOCKER_CONFIG="+shortTempDir(t))
	out, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer events.Process.Kill()
	lines := lineReader(out)
	laterHidden, laterShown := hidden+"-later", shown+"-later"
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", laterHidden, laterShown) })
	// The hidden container's event comes first; the shown one's arrival
	// proves the stream flowed past it.
	mustCLI(t, e.engineHost, "create", "--name", laterHidden, "--network", "none", e.image, "true")
	mustCLI(t, e.engineHost, "create", "--name", laterShown, "--label", "traefik.enable=true", "--network", "none", e.image, "true")
	deadline := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("events stream ended")
			}
			if strings.Contains(l, laterHidden) {
				t.Errorf("the event of a hidden container reached the client: %q", l)
			}
			done = strings.Contains(l, laterShown)
		case <-deadline:
			t.Fatal("no event for the labelled container within 60s")
		}
	}
}

// TestViewLeavesOutOversizedContainer: anyone who may create containers
// can give one a label of tens of MiB, which the engine keeps. A view's
// list leaves that container out, says so in the log, and still lists the
// others, instead of failing every caller's list or holding the label in
// memory.
func TestViewLeavesOutOversizedContainer(t *testing.T) {
	e := testEnv(t)
	suffix := strings.ToLower(t.Name()[len(t.Name())-4:])
	shown := "dsf-view-small-" + suffix
	big := "dsf-view-big-" + suffix
	runContainer(t, e, "--name", shown, "--label", "traefik.enable=true", e.image, "sleep", "300")
	// Through the API: the CLI reads no label that long.
	create, err := json.Marshal(map[string]any{
		"Image":  e.image,
		"Cmd":    []string{"true"},
		"Labels": map[string]string{"traefik.enable": "true", "big": strings.Repeat("x", filter.MaxListEntry)},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unixHTTPClient(e.engineSock).Post("http://docker/containers/create?name="+big, "application/json", bytes.NewReader(create))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create with a %d MiB label: %s", filter.MaxListEntry>>20, resp.Status)
	}
	t.Cleanup(func() { cli(t, e.engineHost, nil, "rm", "-f", big) })
	dir := shortTempDir(t)
	policy := writePolicy(t, dir, `
profiles:
  traefik:
    allow: [SystemPing, ContainerList]
    visible_if_label: traefik.enable=true
default: traefik
`)
	f := startFilter(t, e, filterOpts{args: []string{"--policy", policy}})
	names := mustCLI(t, fmtHost(f.sock), "ps", "-a", "--format", "{{.Names}}")
	if !strings.Contains(names, shown) || strings.Contains(names, big) {
		t.Errorf("ps lists %q; want %s and not %s", names, shown, big)
	}
	waitRecords(t, f, `level=WARN msg="container list: entries over 32 MiB left out of the view" operation=ContainerList profile=traefik left-out=1`, 1)
}
