package filter

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPresetsCatalogue holds the catalogue to what its documentation
// promises: every preset builds, reads are all most of them do, and the
// writes are only those of the clients that write, judged by the safe
// rules.
func TestPresetsCatalogue(t *testing.T) {
	table := newTable(t)
	writers := map[string]bool{"autoheal": true, "dozzle-actions": true, "homarr": true, "watchtower": true}
	envShown := map[string]bool{"cadvisor-env": true, "netdata-nomad": true, "watchtower": true}
	name := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, p := range Presets() {
		t.Run(p.Name, func(t *testing.T) {
			if !name.MatchString(p.Name) || seen[p.Name] {
				t.Errorf("name %q is not a unique lower-case word list", p.Name)
			}
			seen[p.Name] = true
			if p.Client == "" || p.Description == "" || p.Checked == "" || strings.Contains(p.Description, "\n") {
				t.Errorf("client %q, description %q, checked %q: each must be one non-empty line", p.Client, p.Description, p.Checked)
			}
			prof, err := p.Profile(table)
			if err != nil {
				t.Fatalf("Profile: %v", err)
			}
			if prof.Name != PresetPrefix+p.Name || prof.Preset != prof.Name {
				t.Errorf("profile named %q (preset %q), want %s%s", prof.Name, prof.Preset, PresetPrefix, p.Name)
			}
			var writes []string
			for _, op := range prof.Operations() {
				r := table.Operation(op)
				if r.Grant == GrantSensitive {
					t.Errorf("grants %s, which discloses what no client here reads", op)
				}
				if r.IsWrite() {
					writes = append(writes, op)
				}
			}
			if (len(writes) > 0) != writers[p.Name] {
				t.Errorf("writes %v; the writing presets are %v", writes, writers)
			}
			if !reflect.DeepEqual(p.Create, CreateRules{}) || !reflect.DeepEqual(p.Exec, ExecRules{}) {
				t.Errorf("create %+v, exec %+v: a preset's writes are judged by the safe rules", p.Create, p.Exec)
			}
			if prof.View.RedactEnv == envShown[p.Name] {
				t.Errorf("env redacted = %v; only %v show environment values", prof.View.RedactEnv, envShown)
			}
			if slices.Contains(prof.Operations(), "ContainerCreate") != (p.Name == "watchtower") {
				t.Error("only watchtower may create containers")
			}
		})
	}
	if len(seen) < 21 {
		t.Errorf("%d presets, want the 21 the README lists", len(seen))
	}
}

func TestLookupPreset(t *testing.T) {
	tests := []struct {
		name     string
		isPreset bool
		err      string
	}{
		{"preset/traefik", true, ""},
		{"preset/homepage", true, ""},
		{"traefik", false, ""},
		{"preset/nope", true, `"preset/nope" is not a preset (presets: autoheal,`},
		{"preset/", true, "is not a preset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, isPreset, err := LookupPreset(tt.name)
			if isPreset != tt.isPreset {
				t.Errorf("isPreset = %v, want %v", isPreset, tt.isPreset)
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if isPreset && PresetPrefix+p.Name != tt.name {
					t.Errorf("found %q", p.Name)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestPresetExtend: allow adds to the preset's operations; create, exec,
// redact and the label rule replace the preset's only when given.
func TestPresetExtend(t *testing.T) {
	table := newTable(t)
	base, _, err := LookupPreset("preset/homepage")
	if err != nil {
		t.Fatal(err)
	}
	off := false
	wide := CreateRules{BindSources: []string{"/srv/app"}}
	tests := []struct {
		name     string
		more     []string
		o        Override
		wantOps  []string
		wantView View
		wantBind []string
	}{
		{"nothing more", nil, Override{}, []string{"ContainerInspect", "ContainerList", "ContainerStats"}, View{RedactEnv: true}, nil},
		{"more allow", []string{"ContainerLogs", "ContainerList"}, Override{},
			[]string{"ContainerInspect", "ContainerList", "ContainerLogs", "ContainerStats"}, View{RedactEnv: true}, nil},
		{"redact off", nil, Override{RedactEnv: &off}, []string{"ContainerInspect", "ContainerList", "ContainerStats"}, View{}, nil},
		{"label", nil, Override{Label: &View{LabelKey: "homepage.group"}},
			[]string{"ContainerInspect", "ContainerList", "ContainerStats"}, View{RedactEnv: true, LabelKey: "homepage.group"}, nil},
		{"create replaces", []string{"ContainerStart"}, Override{Create: &wide},
			[]string{"ContainerInspect", "ContainerList", "ContainerStart", "ContainerStats"}, View{RedactEnv: true}, []string{"/srv/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof, err := base.Extend(table, "mine", tt.more, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := prof.Operations(); !slices.Equal(got, tt.wantOps) {
				t.Errorf("operations %v, want %v", got, tt.wantOps)
			}
			if prof.View != tt.wantView {
				t.Errorf("view %+v, want %+v", prof.View, tt.wantView)
			}
			if !slices.Equal(prof.Create.BindSources, tt.wantBind) {
				t.Errorf("bind sources %v, want %v", prof.Create.BindSources, tt.wantBind)
			}
			if prof.Name != "mine" || prof.Preset != "preset/homepage" {
				t.Errorf("name %q preset %q", prof.Name, prof.Preset)
			}
		})
	}
	if _, err := base.Extend(table, "bad", []string{"NoSuchOp"}, Override{}); err == nil {
		t.Error("an unknown operation in allow was accepted")
	}
}
