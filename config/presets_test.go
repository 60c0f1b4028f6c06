package config

import (
	"slices"
	"strings"
	"testing"
)

// TestParsePresets: preset/NAME works wherever a profile name does, and
// extends builds on one.
func TestParsePresets(t *testing.T) {
	table := newTable(t)
	const policy = `
profiles:
  dash:
    extends: preset/homepage
    allow: [ContainerLogs]
    visible_if_label: homepage.group
  plain:
    extends: preset/cadvisor
    redact: []
clients:
  - user: 1500
    profile: preset/traefik
  - user: 1501
    profile: preset/traefik
  - user: 1502
    profile: dash
  - user: 1503
    profile: plain
default: preset/glance
`
	f, err := Parse("p.yaml", []byte(policy), table, testResolver)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var names []string
	for _, p := range f.Policy.Profiles() {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "dash,plain,preset/glance,preset/traefik" {
		t.Errorf("profiles %s: each preset used once, besides the defined ones", got)
	}
	byName := func(n string) []string {
		for _, p := range f.Policy.Profiles() {
			if p.Name == n {
				return p.Operations()
			}
		}
		return nil
	}
	if got := byName("preset/traefik"); !slices.Equal(got, []string{"ContainerInspect", "ContainerList", "SystemPing", "SystemPingHead", "SystemVersion"}) {
		t.Errorf("preset/traefik grants %v", got)
	}
	if got := byName("dash"); !slices.Equal(got, []string{"ContainerInspect", "ContainerList", "ContainerLogs", "ContainerStats"}) {
		t.Errorf("dash grants %v: the preset's and its own allow", got)
	}
	for _, p := range f.Policy.Profiles() {
		switch p.Name {
		case "dash":
			if !p.View.RedactEnv || p.View.LabelKey != "homepage.group" || p.Preset != "preset/homepage" {
				t.Errorf("dash view %+v preset %q: keeps the preset's redaction, adds the label", p.View, p.Preset)
			}
		case "plain":
			if p.View.RedactEnv {
				t.Error("plain: redact: [] did not turn the preset's redaction off")
			}
		}
	}
}

func TestParsePresetErrors(t *testing.T) {
	table := newTable(t)
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown preset in clients", "clients:\n  - user: 1\n    profile: preset/nope\n",
			`p.yaml:3: clients[0] (user 1): "preset/nope" is not a preset`},
		{"unknown preset as default", "default: preset/nope\n",
			`p.yaml:1: default: "preset/nope" is not a preset`},
		{"unknown preset extended", "profiles:\n  a:\n    extends: preset/nope\n",
			`p.yaml:3: profile a extends: "preset/nope" is not a preset`},
		{"extends a profile", "profiles:\n  b:\n    allow: [SystemPing]\n  a:\n    extends: b\n",
			`p.yaml:5: profile a extends "b": only a preset can be extended`},
		{"a profile named like a preset", "profiles:\n  preset/traefik:\n    allow: [SystemPing]\n",
			`p.yaml:2: profile name "preset/traefik": names starting with preset/ are the built-in presets'`},
		{"bad allow on top of a preset", "profiles:\n  a:\n    extends: preset/glance\n    allow: [Nope]\n",
			`p.yaml:4: profile a: "Nope" is neither`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml), table, testResolver)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
