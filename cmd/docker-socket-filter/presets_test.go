package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

func TestPresetsCommand(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string
	}{
		{"list", []string{"presets"}, exitOK, []string{"preset/traefik ", "preset/watchtower ", "env shown", "env redacted"}},
		{"one", []string{"presets", "traefik-watch"}, exitOK, []string{
			"preset:     preset/traefik-watch", "checked:    Traefik v3.6",
			"operation:  SystemEvents", "operation:  ContainerInspect       GET /containers/{id}/json  [view: environment values redacted]",
		}},
		{"one, prefixed", []string{"presets", "preset/autoheal"}, exitOK, []string{
			"operation:  ContainerRestart       POST /containers/{id}/restart  [target: the container must pass the create rules' host checks]",
		}},
		{"unknown", []string{"presets", "nope"}, exitUsage, []string{`"preset/nope" is not a preset`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tt.args, none, &out, &errOut); got != tt.status {
				t.Fatalf("status %d, want %d; stderr %s", got, tt.status, errOut.String())
			}
			all := out.String() + errOut.String()
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
		})
	}
	var out bytes.Buffer
	run([]string{"presets"}, none, &out, &out)
	if lines := strings.Count(out.String(), "\n"); lines != len(filter.Presets()) {
		t.Errorf("%d lines for %d presets: one line each", lines, len(filter.Presets()))
	}
}
