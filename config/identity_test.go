package config

import (
	"strings"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

const identityYAML = `
profiles:
  traefik: {allow: [ContainerList]}
  compose: {allow: [ContainerList]}
  images: {allow: [ContainerList]}
  ops: {allow: [ContainerList]}
  anywhere: {allow: [ContainerList]}
  pinned: {allow: [SystemPing]}
listen:
  - path: /run/docker-filtered/traefik.sock
    profile: pinned
  - name: traefik-api
    profile: traefik
clients:
  - container: {name: traefik}
    profile: traefik
  - container: {label: "com.docker.compose.service=web"}
    user: 0
    profile: compose
  - container: {image: "ghcr.io/acme/*:v1*"}
    profile: images
  - user: traefik
    profile: ops
  - group: deployers
    in_container: true
    profile: anywhere
default: none
`

func TestContainerAndSocketEntries(t *testing.T) {
	f, err := Parse("policy.yaml", []byte(identityYAML), newTable(t), testResolver)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	traefik := &filter.Container{ID: strings.Repeat("a", 64), Name: "traefik", Image: "traefik:v3", Labels: map[string]string{}}
	web := &filter.Container{ID: strings.Repeat("b", 64), Name: "app-web-1", Image: "nginx", Labels: map[string]string{"com.docker.compose.service": "web"}}
	acme := &filter.Container{ID: strings.Repeat("c", 64), Name: "x", Image: "ghcr.io/acme/api:v1.2"}
	host := func(uid, gid uint32) filter.Caller {
		return filter.Caller{Known: true, Peer: filter.Peer{UID: uid, GID: gid}}
	}
	in := func(c *filter.Container, uid uint32) filter.Caller {
		return filter.Caller{Known: true, Peer: filter.Peer{UID: uid, GID: uid}, Container: c, Contained: true}
	}
	unverified := func(uid, gid uint32) filter.Caller {
		return filter.Caller{Known: true, Peer: filter.Peer{UID: uid, GID: gid}, Contained: true}
	}
	on := func(c filter.Caller, name, path string) filter.Caller {
		c.Socket = filter.Socket{Name: name, Path: path}
		return c
	}
	tests := []struct {
		name    string
		caller  filter.Caller
		profile string
		rule    string
	}{
		{"container by name", in(traefik, 0), "traefik", "clients[0] (container name traefik)"},
		{"container by name, any uid", in(traefik, 1500), "traefik", "clients[0]"},
		{"a host process of that uid is not the container", host(0, 0), "none", "default"},
		{"label and user both hold", in(web, 0), "compose", "clients[1] (container label com.docker.compose.service=web, user 0)"},
		{"label without the user", in(web, 33), "none", "default"},
		{"image pattern", in(acme, 0), "images", "clients[2] (container image ghcr.io/acme/*:v1*)"},
		{"image pattern does not cross a slash", in(&filter.Container{Name: "y", Image: "ghcr.io/acme/x/api:v1"}, 0), "none", "default"},
		{"host user", host(1500, 1500), "ops", "clients[3] (user traefik)"},
		{"container root taking the listed uid gains nothing", in(web, 1500), "none", "default"},
		{"unverifiable peer taking the listed uid gains nothing", unverified(1500, 1500), "none", "default"},
		{"in_container widens a group entry", unverified(4000, 2001), "anywhere", "clients[4] (group deployers, in containers too)"},
		{"in_container still matches the host", host(4000, 2001), "anywhere", "clients[4]"},
		{"unverifiable peer never matches a container entry", unverified(0, 0), "none", "default"},
		{"bound path, whoever connects", on(in(traefik, 0), "", "/run/docker-filtered/traefik.sock"), "pinned", "listen[0] (path /run/docker-filtered/traefik.sock)"},
		{"bound path, host user", on(host(1500, 1500), "", "/run/docker-filtered/traefik.sock"), "pinned", "listen[0]"},
		{"bound name", on(unverified(0, 0), "traefik-api", "/run/x.sock"), "traefik", "listen[1] (socket traefik-api)"},
		{"unbound socket falls to the clients", on(host(1500, 1500), "docker-socket-filter.socket", "/run/docker-filtered.sock"), "ops", "clients[3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof, rule := f.Policy.ProfileFor(tt.caller)
			got := filter.NoProfile
			if prof != nil {
				got = prof.Name
			}
			if got != tt.profile || !strings.HasPrefix(rule, tt.rule) {
				t.Errorf("ProfileFor = %s by %q; want %s by %q", got, rule, tt.profile, tt.rule)
			}
		})
	}
}

func TestContainerAndSocketEntryErrors(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"clients:\n  - container: {}\n    profile: none\n", "name, label or image is required"},
		{"clients:\n  - container: {id: x}\n    profile: none\n", `unknown key "id"`},
		{"clients:\n  - container: {label: \"=x\"}\n    profile: none\n", "want key or key=value"},
		{"clients:\n  - container: {image: \"[\"}\n    profile: none\n", "image pattern"},
		{"clients:\n  - container: {name: a}\n    in_container: true\n    profile: none\n", "in_container widens a user or group entry"},
		{"clients:\n  - in_container: true\n    profile: none\n", "names no user, group or container"},
		{"clients:\n  - user: 0\n    in_container: yes\n    profile: none\n", "must be true or false"},
		{"listen:\n  - profile: none\n", "names no socket"},
		{"listen:\n  - path: /run/x.sock\n", "profile is required"},
		{"listen:\n  - path: run/x.sock\n    profile: none\n", "clean absolute path"},
		{"listen:\n  - path: /run/x.sock\n    profile: missing\n", `profile "missing" is not defined`},
		{"listen:\n  - path: /run/x.sock\n    profile: none\n  - path: /run/x.sock\n    profile: none\n", "bound twice"},
		{"listen: {path: /run/x.sock}\n", "listen must be a list"},
	} {
		_, err := Parse("p.yaml", []byte(tt.text), newTable(t), testResolver)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.text, err, tt.want)
		}
	}
}

// TestTraefikExamples checks that the examples give a root Traefik
// container the Traefik preset, and nothing to anyone else.
func TestTraefikExamples(t *testing.T) {
	traefik := &filter.Container{ID: strings.Repeat("a", 64), Name: "traefik", Image: "traefik:v3.3",
		Labels: map[string]string{"com.docker.compose.service": "traefik"}}
	lookalike := &filter.Container{ID: strings.Repeat("b", 64), Name: "traefik-2", Image: "traefik:v3.3",
		Labels: map[string]string{"com.docker.compose.service": "traefik"}}
	root := filter.Peer{}
	bound := filter.Socket{Path: "/run/docker-filtered/traefik.sock"}
	main := filter.Socket{Name: "docker-socket-filter.socket", Path: "/run/docker-filtered.sock"}
	tests := []struct {
		file   string
		caller filter.Caller
		want   string
	}{
		{"policy-by-container.yaml", filter.Caller{Known: true, Peer: root, Container: traefik, Contained: true, Socket: main}, "preset/traefik-watch"},
		{"policy-by-container.yaml", filter.Caller{Known: true, Peer: root, Container: lookalike, Contained: true, Socket: main}, filter.NoProfile},
		{"policy-by-container.yaml", filter.Caller{Known: true, Peer: root, Socket: main}, filter.NoProfile},
		{"policy-by-socket.yaml", filter.Caller{Known: true, Peer: root, Container: traefik, Contained: true, Socket: bound}, "preset/traefik-watch"},
		{"policy-by-socket.yaml", filter.Caller{Known: true, Peer: root, Container: traefik, Contained: true, Socket: main}, filter.NoProfile},
		{"policy-by-socket.yaml", filter.Caller{Known: true, Peer: root, Socket: main}, filter.NoProfile},
	}
	for _, tt := range tests {
		f, err := Load("../examples/traefik/"+tt.file, newTable(t), testResolver)
		if err != nil {
			t.Fatal(err)
		}
		prof, rule := f.Policy.ProfileFor(tt.caller)
		got := filter.NoProfile
		if prof != nil {
			got = prof.Name
		}
		if got != tt.want {
			t.Errorf("%s: %+v gets %s by %s, want %s", tt.file, tt.caller, got, rule, tt.want)
		}
	}
}
