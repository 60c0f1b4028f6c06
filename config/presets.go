package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// usePreset adds the preset a client or the default names ("preset/X")
// to the profiles, once; a name that is neither defined nor a preset is
// left for the caller to report.
func (p *parser) usePreset(n *yaml.Node, who, name string, profiles []*filter.Profile, defined map[string]bool) []*filter.Profile {
	if defined[name] {
		return profiles
	}
	preset, isPreset, err := filter.LookupPreset(name)
	if !isPreset {
		return profiles
	}
	// Reported here, so that the caller does not report it again.
	defined[name] = true
	if err != nil {
		p.errorf(n, "%s: %v", who, err)
		return profiles
	}
	prof, err := preset.Profile(p.table)
	if err != nil {
		p.errorf(n, "%s: %v", who, err)
		return profiles
	}
	return append(profiles, prof)
}

// extends reads a profile's extends: the preset it builds on.
func (p *parser) extends(n *yaml.Node, profile string) *filter.Preset {
	s, ok := p.scalar(n, "profile "+profile+" extends")
	if !ok {
		return nil
	}
	preset, isPreset, err := filter.LookupPreset(s)
	if !isPreset {
		p.errorf(n, "profile %s extends %q: only a preset can be extended (extends: %sNAME; `docker-socket-filter presets` lists them)", profile, s, filter.PresetPrefix)
		return nil
	}
	if err != nil {
		p.errorf(n, "profile %s extends: %v", profile, err)
		return nil
	}
	return &preset
}

// extendPreset builds a profile on a preset: allow adds to the preset's
// operations; create, exec, redact and visible_if_label, when the
// profile sets them, replace the preset's.
func (p *parser) extendPreset(base *filter.Preset, name string, more []string, set map[string]bool,
	create filter.CreateRules, exec filter.ExecRules, view filter.View) *filter.Profile {
	var o filter.Override
	if set["create"] {
		o.Create = &create
	}
	if set["exec"] {
		o.Exec = &exec
	}
	if set["redact"] {
		o.RedactEnv = &view.RedactEnv
	}
	if set["visible_if_label"] {
		o.Label = &view
	}
	prof, err := base.Extend(p.table, name, more, o)
	if err != nil {
		// allowList already reported each bad entry with its line; the
		// preset's own entries are checked by the filter's tests.
		return nil
	}
	return prof
}
