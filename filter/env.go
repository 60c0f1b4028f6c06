package filter

import (
	"errors"
	"fmt"
	"strings"
)

// EnvProfileName names the profile built from environment variables.
const EnvProfileName = "env"

// envGrants are the variables that grant operations on their own, whatever
// POST says: tecnativa's ALLOW_* family, plus the sensitive operations
// that sections never grant here.
func envGrants() []struct {
	name string
	ops  []string
} {
	return []struct {
		name string
		ops  []string
	}{
		{"ALLOW_START", []string{"ContainerStart"}},
		{"ALLOW_STOP", []string{"ContainerStop"}},
		{"ALLOW_RESTARTS", []string{"ContainerStop", "ContainerRestart", "ContainerKill"}},
		{"ALLOW_PAUSE", []string{"ContainerPause"}},
		{"ALLOW_UNPAUSE", []string{"ContainerUnpause"}},
		{"ALLOW_ARCHIVE", []string{"ContainerArchive", "ContainerArchiveInfo"}},
		{"ALLOW_EXPORT", []string{"ContainerExport"}},
		{"ALLOW_ATTACH", []string{"ContainerAttachWebsocket"}},
		// A push sends out what a save does, to a registry instead of
		// the client: one variable grants both ways.
		{"ALLOW_IMAGE_EXPORT", []string{"ImageGet", "ImageGetAll", "ImagePush", "PluginPush"}},
	}
}

// envSectionDefaults are tecnativa's defaults: only these sections are on
// when their variable is unset.
func envSectionDefaults() map[string]bool {
	return map[string]bool{SectionEvents: true, SectionPing: true, SectionVersion: true}
}

// EnvVariables lists every variable EnvPolicy reads.
func EnvVariables() []string {
	var names []string
	for _, s := range Sections() {
		names = append(names, strings.ToUpper(s))
	}
	names = append(names, "POST")
	for _, g := range envGrants() {
		names = append(names, g.name)
	}
	return append(names, "DISABLE_IPV6")
}

// EnvPolicy builds the embedded default policy from tecnativa's environment
// variables: one profile, EnvProfileName, for every peer. A section variable
// grants the section's reads; POST=1 adds the writes of the enabled sections;
// each ALLOW_* variable grants its operations even with POST=0.
func EnvPolicy(table *RouteTable, lookup func(string) (string, bool)) (*Policy, error) {
	var errs []error
	flag := func(name string, def bool) bool {
		v, ok := lookup(name)
		if !ok {
			return def
		}
		b, err := ParseEnvBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return b
	}
	defaults := envSectionDefaults()
	post := flag("POST", false)
	flag("DISABLE_IPV6", false) // no TCP listener: validated, then ignored
	var entries []string
	for _, s := range Sections() {
		if !flag(strings.ToUpper(s), defaults[s]) {
			continue
		}
		entries = append(entries, s+":read")
		if post {
			entries = append(entries, s+":write")
		}
	}
	for _, g := range envGrants() {
		if flag(g.name, false) {
			entries = append(entries, g.ops...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	prof, err := NewProfile(table, EnvProfileName, entries)
	if err != nil {
		return nil, err
	}
	return NewPolicy(table, []*Profile{prof}, nil, EnvProfileName)
}

// ParseEnvBool accepts 0/1, true/false and yes/no, in any case.
func ParseEnvBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes":
		return true, nil
	case "0", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use 0/1, true/false or yes/no)", v)
}
