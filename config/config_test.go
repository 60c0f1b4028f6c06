package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// fakeResolver resolves names from maps.
type fakeResolver struct {
	users, groups map[string]uint32
}

func (r fakeResolver) LookupUser(name string) (uint32, error) {
	if id, ok := r.users[name]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("user: unknown user %s", name)
}

func (r fakeResolver) LookupGroup(name string) (uint32, error) {
	if id, ok := r.groups[name]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("group: unknown group %s", name)
}

var testResolver = fakeResolver{
	users:  map[string]uint32{"traefik": 1500, "deploy": 1501},
	groups: map[string]uint32{"docker-readers": 2000, "deployers": 2001},
}

func newTable(t *testing.T) *filter.RouteTable {
	t.Helper()
	table, err := filter.NewRouteTable()
	if err != nil {
		t.Fatalf("NewRouteTable: %v", err)
	}
	return table
}

const exampleYAML = `upstream: unix:///var/run/docker.sock
profiles:
  traefik:
    allow: [SystemPing, SystemVersion, SystemEvents, ContainerList, ContainerInspect]
  readonly:
    allow: [containers:read, images:read, networks:read, volumes:read, info, version, ping, events]
  deploy:
    allow: [containers, images, ContainerArchive]
clients:
  - user: traefik
    profile: traefik
  - group: docker-readers
    profile: readonly
  - user: 1001
    group: deployers
    profile: deploy
default: none
`

func TestParseExample(t *testing.T) {
	table := newTable(t)
	f, err := Parse("policy.yaml", []byte(exampleYAML), table, testResolver)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.Upstream != "unix:///var/run/docker.sock" {
		t.Errorf("Upstream = %q", f.Upstream)
	}
	var names []string
	for _, p := range f.Policy.Profiles() {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "deploy,readonly,traefik" {
		t.Errorf("profiles = %s, want deploy,readonly,traefik", got)
	}

	tests := []struct {
		name    string
		peer    filter.Peer
		profile string // "" for none
		rule    string
	}{
		{"user by name", filter.Peer{UID: 1500, GID: 1500}, "traefik", "clients[0]"},
		{"user by name with a matching group too", filter.Peer{UID: 1500, GID: 2000}, "traefik", "clients[0]"},
		{"group by name, supplementary", filter.Peer{UID: 3000, GID: 3000, Groups: []uint32{10, 2000}}, "readonly", "clients[1]"},
		{"group by name, primary", filter.Peer{UID: 3000, GID: 2000}, "readonly", "clients[1]"},
		{"numeric user and group", filter.Peer{UID: 1001, GID: 2001}, "deploy", "clients[2]"},
		{"numeric user and supplementary group", filter.Peer{UID: 1001, GID: 1001, Groups: []uint32{2001}}, "deploy", "clients[2]"},
		{"numeric user without the group", filter.Peer{UID: 1001, GID: 1001}, "", "default"},
		{"group without the user", filter.Peer{UID: 1501, GID: 2001}, "", "default"},
		{"nobody", filter.Peer{UID: 65534, GID: 65534}, "", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof, rule := f.Policy.ProfileFor(filter.Caller{Peer: tt.peer, Known: true})
			got := ""
			if prof != nil {
				got = prof.Name
			}
			if got != tt.profile || !strings.HasPrefix(rule, tt.rule) {
				t.Errorf("ProfileFor(%+v) = %q, %q; want %q, %q...", tt.peer, got, rule, tt.profile, tt.rule)
			}
		})
	}

	// The profiles grant what their entries name.
	for _, tt := range []struct {
		profile, op string
		allow       bool
	}{
		{"traefik", "ContainerList", true},
		{"traefik", "ContainerLogs", false},
		{"readonly", "ImageInspect", true},
		{"readonly", "SystemInfo", true},
		{"readonly", "SystemPingHead", true},
		{"readonly", "ContainerCreate", false},
		{"readonly", "ContainerArchive", false},
		{"deploy", "ContainerCreate", true},
		{"deploy", "ImagePush", false}, // sends an image out: its own id only
		{"deploy", "ImageTag", true},
		{"deploy", "ContainerArchive", true},
		{"deploy", "ContainerExport", false},
		{"deploy", "NetworkList", false},
	} {
		var prof *filter.Profile
		for _, p := range f.Policy.Profiles() {
			if p.Name == tt.profile {
				prof = p
			}
		}
		if prof == nil {
			t.Fatalf("profile %s missing", tt.profile)
		}
		if prof.Allows(tt.op) != tt.allow {
			t.Errorf("profile %s allows %s = %v, want %v", tt.profile, tt.op, !tt.allow, tt.allow)
		}
	}

	// End to end through Decide.
	for _, tt := range []struct {
		peer    filter.Peer
		method  string
		path    string
		allow   bool
		profile string
		step    filter.Step
	}{
		{filter.Peer{UID: 1500, GID: 1500}, "GET", "/v1.41/containers/json", true, "traefik", filter.StepAllowed},
		{filter.Peer{UID: 1500, GID: 1500}, "GET", "/v1.41/containers/abc/logs", false, "traefik", filter.StepGrant},
		{filter.Peer{UID: 1001, GID: 1001}, "GET", "/_ping", false, filter.NoProfile, filter.StepCaller},
	} {
		d := f.Policy.Decide(filter.Caller{Peer: tt.peer, Known: true}, &filter.Request{Method: tt.method, EscapedPath: tt.path})
		if d.Allowed() != tt.allow || d.ProfileName() != tt.profile || d.Step != tt.step {
			t.Errorf("uid %d %s %s: allowed=%v profile=%q step %s (%s), want %v, %q, %s",
				tt.peer.UID, tt.method, tt.path, d.Allowed(), d.ProfileName(), d.Step, d.Reason, tt.allow, tt.profile, tt.step)
		}
	}
}

func TestParseVariants(t *testing.T) {
	table := newTable(t)
	tests := []struct {
		name     string
		yaml     string
		upstream string
		peer     filter.Peer
		profile  string
	}{
		{
			name:    "no default means none",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n    profile: a\n",
			peer:    filter.Peer{UID: 1},
			profile: "",
		},
		{
			name:    "default profile",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\ndefault: a\n",
			peer:    filter.Peer{UID: 1},
			profile: "a",
		},
		{
			name:    "client may name none",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: deploy\n    profile: none\ndefault: a\n",
			peer:    filter.Peer{UID: 1501},
			profile: "",
		},
		{
			name:    "numeric group",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - group: 4242\n    profile: a\n",
			peer:    filter.Peer{UID: 1, Groups: []uint32{4242}},
			profile: "a",
		},
		{
			name:    "quoted numeric user",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: \"0\"\n    profile: a\n",
			peer:    filter.Peer{UID: 0},
			profile: "a",
		},
		{
			name:    "unused profile and empty allow",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\n  b:\n    allow: []\n  c: {}\ndefault: a\n",
			peer:    filter.Peer{UID: 1},
			profile: "a",
		},
		{
			name:    "leading document marker",
			yaml:    "---\nprofiles:\n  a:\n    allow: [SystemPing]\ndefault: a\n",
			peer:    filter.Peer{UID: 1},
			profile: "a",
		},
		{
			name:    "explicit document end",
			yaml:    "profiles:\n  a:\n    allow: [SystemPing]\ndefault: a\n...\n",
			peer:    filter.Peer{UID: 1},
			profile: "a",
		},
		{
			name:     "upstream only",
			yaml:     "upstream: tcp://127.0.0.1:2375\n",
			upstream: "tcp://127.0.0.1:2375",
			peer:     filter.Peer{UID: 1},
			profile:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("policy.yaml", []byte(tt.yaml), table, testResolver)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if f.Upstream != tt.upstream {
				t.Errorf("Upstream = %q, want %q", f.Upstream, tt.upstream)
			}
			prof, _ := f.Policy.ProfileFor(filter.Caller{Peer: tt.peer, Known: true})
			got := ""
			if prof != nil {
				got = prof.Name
			}
			if got != tt.profile {
				t.Errorf("ProfileFor(%+v) = %q, want %q", tt.peer, got, tt.profile)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	table := newTable(t)
	const name = "bad.yaml"
	tests := []struct {
		name string
		yaml string
		line int // 0: the error has no line of its own
		want string
	}{
		{
			name: "unknown top-level key",
			yaml: "profiles: {}\nsocket: /run/x.sock\n",
			line: 2, want: `unknown key "socket"`,
		},
		{
			name: "unknown key in a profile",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\n    deny: [ContainerList]\n",
			line: 4, want: `profile a: unknown key "deny"`,
		},
		{
			name: "unknown key in a client",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n    uid: 5\n    profile: a\n",
			line: 6, want: `unknown key "uid"`,
		},
		{
			name: "unknown operation in allow",
			yaml: "profiles:\n  a:\n    allow:\n      - SystemPing\n      - ContainerLsit\n",
			line: 5, want: `"ContainerLsit" is neither an operation id nor a group`,
		},
		{
			name: "bad group access",
			yaml: "profiles:\n  a:\n    allow: [containers:exec]\n",
			line: 3, want: `"containers:exec": access must be read or write`,
		},
		{
			name: "allow is not a list",
			yaml: "profiles:\n  a:\n    allow: ContainerList\n",
			line: 3, want: "allow must be a list",
		},
		{
			name: "empty allow entry",
			yaml: "profiles:\n  a:\n    allow:\n      - SystemPing\n      -\n",
			line: 5, want: "must be a non-empty string",
		},
		{
			name: "user name that does not resolve",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - profile: a\n    user: nobody-here\n",
			line: 6, want: `user "nobody-here" does not resolve`,
		},
		{
			name: "group name that does not resolve",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - group: nogroup-here\n    profile: a\n",
			line: 5, want: `group "nogroup-here" does not resolve`,
		},
		{
			name: "client referencing an undefined profile",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n    profile: b\n",
			line: 6, want: `profile "b" is not defined`,
		},
		{
			name: "default undefined",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\ndefault: b\n",
			line: 4, want: `default: profile "b" is not defined`,
		},
		{
			name: "duplicate profile name",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\n  a:\n    allow: [ContainerList]\ndefault: a\n",
			line: 4, want: `key "a" given twice`,
		},
		{
			name: "duplicate top-level key",
			yaml: "default: none\nprofiles: {}\ndefault: none\n",
			line: 3, want: `key "default" given twice`,
		},
		{
			name: "duplicate key in a client",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n    user: deploy\n    profile: a\n",
			line: 6, want: `key "user" given twice`,
		},
		{
			name: "client with no user or group",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n    profile: a\n  - profile: a\n",
			line: 7, want: "clients[1]: names no user, group or container",
		},
		{
			name: "client without profile",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n",
			line: 5, want: "clients[0]: profile is required",
		},
		{
			name: "client with an empty profile",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\nclients:\n  - user: traefik\n    profile:\n",
			line: 6, want: "must be a non-empty string",
		},
		{
			name: "clients is not a list",
			yaml: "clients:\n  user: traefik\n",
			line: 2, want: "clients must be a list",
		},
		{
			name: "profile named none",
			yaml: "profiles:\n  a:\n    allow: [SystemPing]\n  none:\n    allow: [ContainerList]\n",
			line: 4, want: `profile name "none" is reserved`,
		},
		{
			name: "profile is not a mapping",
			yaml: "profiles:\n  a: [SystemPing]\n",
			line: 2, want: "profile a must be a mapping",
		},
		{
			name: "top level is not a mapping",
			yaml: "- profiles\n",
			line: 1, want: "policy must be a mapping",
		},
		{
			// A second document used to be silently ignored, dropping
			// the restriction it holds.
			name: "second YAML document",
			yaml: "profiles:\n  full:\n    allow: [containers]\ndefault: full\n---\nclients:\n  - user: traefik\n    profile: none\n",
			line: 5, want: "second YAML document",
		},
		{
			name: "syntax error in a second YAML document",
			yaml: "default: none\n---\nprofiles: [\n",
			want: "yaml: line",
		},
		{
			name: "empty file",
			yaml: "",
			want: "the file is empty",
		},
		{
			name: "only a comment",
			yaml: "# nothing here\n",
			want: "the file is empty",
		},
		{
			name: "not YAML",
			yaml: "profiles:\n  a:\n    allow: [SystemPing\n",
			want: "yaml: line",
		},
		{
			name: "tab indentation",
			yaml: "profiles:\n\ta: {}\n",
			want: "yaml: line 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(name, []byte(tt.yaml), table, testResolver)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", f)
			}
			if f != nil {
				t.Errorf("Parse returned a file along with error %v", err)
			}
			msg := err.Error()
			prefix := name + ": "
			if tt.line > 0 {
				prefix = fmt.Sprintf("%s:%d: ", name, tt.line)
			}
			if !strings.Contains(msg, prefix) {
				t.Errorf("error %q does not contain %q", msg, prefix)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			// Every line of the error names the file.
			for _, l := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(l, name+":") {
					t.Errorf("error line %q does not start with the file name", l)
				}
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	table := newTable(t)
	const src = `upstream: unix:///var/run/docker.sock
socket: /run/x.sock
profiles:
  a:
    allow: [SystemPing, NoSuchOp]
  none:
    allow: []
clients:
  - user: ghost
    profile: a
  - group: docker-readers
    profile: missing
default: alsomissing
`
	_, err := Parse("multi.yaml", []byte(src), table, testResolver)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`multi.yaml:2: policy: unknown key "socket"`,
		`multi.yaml:5: profile a: "NoSuchOp"`,
		`multi.yaml:6: profile name "none" is reserved`,
		`multi.yaml:9: user "ghost" does not resolve`,
		`multi.yaml:12: clients[1] (group docker-readers): profile "missing" is not defined`,
		`multi.yaml:13: default: profile "alsomissing" is not defined`,
	}
	if len(lines) != len(want) {
		t.Errorf("got %d error lines, want %d:\n%s", len(lines), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error line starts with %q in:\n%s", w, err)
		}
	}
	// The joined error is made of separate errors.
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(want) {
		t.Errorf("error is not errors.Join of %d errors: %#v", len(want), err)
	}
}

func TestLoad(t *testing.T) {
	table := newTable(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(exampleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, table, testResolver)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if prof, _ := f.Policy.ProfileFor(filter.Caller{Peer: filter.Peer{UID: 1500}, Known: true}); prof == nil || prof.Name != "traefik" {
		t.Errorf("ProfileFor(uid 1500) = %v, want traefik", prof)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("profiles: {}\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, table, testResolver); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("Load(bad) error = %v, want one at %s:2:", err, bad)
	}

	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing, table, testResolver); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want not-exist", err)
	}
}
