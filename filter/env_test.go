package filter

import (
	"slices"
	"strings"
	"testing"
)

func envLookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestEnvPolicy(t *testing.T) {
	table := newTable(t)
	defaults := []string{"SystemEvents", "SystemPing", "SystemPingHead", "SystemVersion"}
	tests := []struct {
		name  string
		env   map[string]string
		allow []string
		deny  []string
		// exact, when set, is every operation the profile grants.
		exact []string
	}{
		{
			name:  "empty env",
			env:   map[string]string{},
			allow: defaults,
			deny:  []string{"ContainerList", "SystemInfo", "ImageList"},
			exact: defaults,
		},
		{
			name:  "CONTAINERS",
			env:   map[string]string{"CONTAINERS": "1"},
			allow: []string{"ContainerList", "ContainerInspect", "ContainerLogs", "ContainerTop", "ContainerStats", "SystemPing"},
			deny:  []string{"ContainerCreate", "ContainerDelete", "ContainerStart", "ContainerArchive", "ContainerArchiveInfo", "ContainerExport", "ContainerAttachWebsocket", "ContainerExec", "ImageList"},
		},
		{
			name:  "CONTAINERS and POST",
			env:   map[string]string{"CONTAINERS": "1", "POST": "1"},
			allow: []string{"ContainerList", "ContainerCreate", "ContainerDelete", "PutContainerArchive", "ContainerExec", "ContainerStart", "ContainerAttach", "ContainerPrune"},
			deny:  []string{"ContainerArchive", "ContainerArchiveInfo", "ContainerExport", "ContainerAttachWebsocket", "NetworkCreate", "NetworkList", "ExecStart", "ImageCreate"},
		},
		{
			name:  "POST alone",
			env:   map[string]string{"POST": "1"},
			allow: defaults,
			deny:  []string{"ContainerList", "ContainerCreate", "ContainerStart", "ContainerDelete", "NetworkCreate"},
			exact: defaults, // the default sections have no writes
		},
		{
			name:  "ALLOW_START without POST",
			env:   map[string]string{"ALLOW_START": "1", "POST": "0"},
			allow: []string{"ContainerStart"},
			deny:  []string{"ContainerStop", "ContainerList", "ContainerCreate"},
		},
		{
			name:  "ALLOW_STOP",
			env:   map[string]string{"ALLOW_STOP": "1"},
			allow: []string{"ContainerStop"},
			deny:  []string{"ContainerStart", "ContainerRestart", "ContainerKill"},
		},
		{
			name:  "ALLOW_RESTARTS",
			env:   map[string]string{"ALLOW_RESTARTS": "1"},
			allow: []string{"ContainerStop", "ContainerRestart", "ContainerKill"},
			deny:  []string{"ContainerStart", "ContainerPause"},
		},
		{
			name:  "ALLOW_PAUSE",
			env:   map[string]string{"ALLOW_PAUSE": "1"},
			allow: []string{"ContainerPause"},
			deny:  []string{"ContainerUnpause"},
		},
		{
			name:  "ALLOW_UNPAUSE",
			env:   map[string]string{"ALLOW_UNPAUSE": "1"},
			allow: []string{"ContainerUnpause"},
			deny:  []string{"ContainerPause"},
		},
		{
			name:  "ALLOW_ARCHIVE",
			env:   map[string]string{"ALLOW_ARCHIVE": "1"},
			allow: []string{"ContainerArchive", "ContainerArchiveInfo"},
			deny:  []string{"PutContainerArchive", "ContainerExport", "ContainerList"},
		},
		{
			name:  "ALLOW_EXPORT",
			env:   map[string]string{"ALLOW_EXPORT": "1"},
			allow: []string{"ContainerExport"},
			deny:  []string{"ContainerArchive"},
		},
		{
			name:  "ALLOW_ATTACH",
			env:   map[string]string{"ALLOW_ATTACH": "1"},
			allow: []string{"ContainerAttachWebsocket"},
			deny:  []string{"ContainerAttach", "ContainerList"},
		},
		{
			name:  "defaults turned off",
			env:   map[string]string{"EVENTS": "0", "PING": "0", "VERSION": "0"},
			deny:  defaults,
			exact: []string{},
		},
		{
			name:  "EXEC and POST",
			env:   map[string]string{"EXEC": "1", "POST": "1"},
			allow: []string{"ExecStart", "ExecInspect", "ExecResize"},
			deny:  []string{"ContainerExec", "ContainerList"},
		},
		{
			name:  "EXEC without POST",
			env:   map[string]string{"EXEC": "1"},
			allow: []string{"ExecInspect"},
			deny:  []string{"ExecStart", "ExecResize"},
		},
		{
			name:  "IMAGES and NETWORKS read",
			env:   map[string]string{"IMAGES": "1", "NETWORKS": "1"},
			allow: []string{"ImageList", "ImageInspect", "NetworkList", "NetworkInspect"},
			deny:  []string{"ImageCreate", "ImageDelete", "NetworkCreate", "ImageGet", "ImageGetAll"},
		},
		{
			name:  "SERVICES and POST: no service create or update, which only their own id grants",
			env:   map[string]string{"SERVICES": "1", "POST": "1"},
			allow: []string{"ServiceList", "ServiceDelete"},
			deny:  []string{"ServiceCreate", "ServiceUpdate"},
		},
		{
			name:  "ALLOW_IMAGE_EXPORT",
			env:   map[string]string{"ALLOW_IMAGE_EXPORT": "1"},
			allow: []string{"ImageGet", "ImageGetAll", "ImagePush", "PluginPush"},
			deny:  []string{"ImageList"},
		},
		{
			// A push sends out what a save does.
			name:  "IMAGES and PLUGINS with POST push nothing",
			env:   map[string]string{"IMAGES": "1", "PLUGINS": "1", "POST": "1"},
			allow: []string{"ImageTag", "ImageCreate", "PluginEnable"},
			deny:  []string{"ImageGet", "ImageGetAll", "ImagePush", "PluginPush"},
		},
		{
			// The join tokens (SwarmInspect) and the unlock key are
			// sensitive; making, joining and reconfiguring a swarm are
			// granted by their own ids only.
			name:  "SWARM gives neither the join tokens nor the unlock key",
			env:   map[string]string{"SWARM": "1", "POST": "1"},
			allow: []string{"SwarmLeave", "SwarmUnlock"},
			deny:  []string{"SwarmUnlockkey", "SwarmInspect", "SwarmInit", "SwarmJoin", "SwarmUpdate"},
		},
		{
			name:  "value true",
			env:   map[string]string{"CONTAINERS": "true"},
			allow: []string{"ContainerList"},
		},
		{
			name:  "value yes",
			env:   map[string]string{"CONTAINERS": "yes"},
			allow: []string{"ContainerList"},
		},
		{
			name:  "value TRUE",
			env:   map[string]string{"CONTAINERS": "TRUE", "POST": "Yes"},
			allow: []string{"ContainerList", "ContainerCreate"},
		},
		{
			name: "value no",
			env:  map[string]string{"CONTAINERS": "no", "PING": "no", "EVENTS": "false", "VERSION": "FALSE"},
			deny: append([]string{"ContainerList"}, defaults...),
		},
		{
			name:  "DISABLE_IPV6 is accepted",
			env:   map[string]string{"DISABLE_IPV6": "1"},
			allow: defaults,
			exact: defaults,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EnvPolicy(table, envLookup(tt.env))
			if err != nil {
				t.Fatalf("EnvPolicy(%v): %v", tt.env, err)
			}
			// One profile, for every peer.
			for _, peer := range []Peer{{}, {UID: 1000, GID: 1000, Groups: []uint32{999}}} {
				prof, rule := p.ProfileFor(Caller{Peer: peer, Known: true})
				if prof == nil || prof.Name != EnvProfileName || rule != "default" {
					t.Fatalf("ProfileFor(%+v) = %v, %q; want profile %s by default", peer, prof, rule, EnvProfileName)
				}
			}
			prof, _ := p.ProfileFor(Caller{Known: true})
			for _, op := range tt.allow {
				if table.Operation(op) == nil {
					t.Fatalf("test names unknown operation %s", op)
				}
				if !prof.Allows(op) {
					t.Errorf("%s is denied, want allowed", op)
				}
			}
			for _, op := range tt.deny {
				if table.Operation(op) == nil {
					t.Fatalf("test names unknown operation %s", op)
				}
				if prof.Allows(op) {
					t.Errorf("%s is allowed, want denied", op)
				}
			}
			if tt.exact != nil {
				want := slices.Clone(tt.exact)
				slices.Sort(want)
				if got := prof.Operations(); !slices.Equal(got, want) {
					t.Errorf("Operations() = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestEnvPolicyDecides(t *testing.T) {
	table := newTable(t)
	p, err := EnvPolicy(table, envLookup(map[string]string{"CONTAINERS": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		allow        bool
	}{
		{"GET", "/v1.41/containers/json", true},
		{"HEAD", "/_ping", true},
		{"GET", "/v1.41/containers/abc/archive", false},
		{"POST", "/v1.41/containers/abc/start", false},
		{"GET", "/v1.41/images/json", false},
	} {
		d := p.Decide(Caller{Peer: Peer{UID: 42}, Known: true}, newRequest(tt.method, tt.path, ""))
		if d.Verdict == Pending || d.Allowed() != tt.allow {
			t.Errorf("Decide(%s %s) = verdict %d at %s, want allowed %v (%s)", tt.method, tt.path, d.Verdict, d.Step, tt.allow, d.Reason)
		}
	}
}

func TestEnvPolicyErrors(t *testing.T) {
	table := newTable(t)
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"not a boolean", map[string]string{"CONTAINERS": "maybe"}, []string{"CONTAINERS", "maybe"}},
		{"empty value", map[string]string{"POST": ""}, []string{"POST"}},
		{"ALLOW_ variable", map[string]string{"ALLOW_START": "2"}, []string{"ALLOW_START"}},
		{"DISABLE_IPV6 is validated", map[string]string{"DISABLE_IPV6": "on"}, []string{"DISABLE_IPV6"}},
		{"every bad variable is reported", map[string]string{"IMAGES": "x", "EXEC": "y", "ALLOW_STOP": "z"}, []string{"IMAGES", "EXEC", "ALLOW_STOP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EnvPolicy(table, envLookup(tt.env))
			if err == nil {
				t.Fatalf("EnvPolicy(%v) = %v, want an error", tt.env, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvVariables(t *testing.T) {
	vars := EnvVariables()
	for _, want := range []string{"CONTAINERS", "IMAGES", "POST", "ALLOW_START", "ALLOW_RESTARTS", "ALLOW_ARCHIVE", "DISABLE_IPV6", "PING", "EVENTS", "VERSION"} {
		if !slices.Contains(vars, want) {
			t.Errorf("EnvVariables() lacks %s", want)
		}
	}
	// Every variable listed is read: a bad value for it is an error.
	table := newTable(t)
	for _, v := range vars {
		if _, err := EnvPolicy(table, envLookup(map[string]string{v: "bogus"})); err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("EnvPolicy with %s=bogus: error %v, want one naming %s", v, err, v)
		}
	}
}

func TestParseEnvBool(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"1", true, false}, {"0", false, false},
		{"true", true, false}, {"TRUE", true, false}, {"True", true, false},
		{"false", false, false}, {"yes", true, false}, {"no", false, false},
		{" 1 ", true, false},
		{"", false, true}, {"2", false, true}, {"on", false, true}, {"maybe", false, true},
	} {
		got, err := ParseEnvBool(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseEnvBool(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
