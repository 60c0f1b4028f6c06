package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker-socket-filter/docker-socket-filter/filter"
)

// presets lists the catalogue one line each, or with a name, what that
// preset grants.
func presets(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		fmt.Fprintln(stderr, "usage: docker-socket-filter presets [NAME]")
		return exitUsage
	}
	if len(args) == 0 {
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, p := range filter.Presets() {
			fmt.Fprintf(w, "%s%s\t%s\t%s\n", filter.PresetPrefix, p.Name, p.Description, p.DescribeView())
		}
		w.Flush()
		return exitOK
	}
	name := args[0]
	if !strings.HasPrefix(name, filter.PresetPrefix) {
		name = filter.PresetPrefix + name
	}
	p, _, err := filter.LookupPreset(name)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	table, err := filter.NewRouteTable()
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	prof, err := p.Profile(table)
	if err != nil {
		fmt.Fprintf(stderr, "docker-socket-filter: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "preset:     %s\n", name)
	fmt.Fprintf(stdout, "client:     %s\n", p.Client)
	fmt.Fprintf(stdout, "checked:    %s\n", p.Checked)
	fmt.Fprintf(stdout, "may:        %s\n", p.Description)
	fmt.Fprintf(stdout, "view:       %s\n", p.DescribeView())
	for _, op := range prof.Operations() {
		r := table.Operation(op)
		line := fmt.Sprintf("operation:  %-22s %s %s", op, r.Method, r.Template)
		if rules := prof.Rules(r); rules != "" {
			line += "  [" + rules + "]"
		}
		fmt.Fprintln(stdout, line)
	}
	return exitOK
}

// presetsUsed names the presets a policy's profiles are or extend, for
// check's summary: "" when none.
func presetsUsed(p *filter.Policy) string {
	var used []string
	for _, prof := range p.Profiles() {
		if prof.Preset != "" && !slices.Contains(used, prof.Preset) {
			used = append(used, prof.Preset)
		}
	}
	if len(used) == 0 {
		return ""
	}
	slices.Sort(used)
	return ", presets " + strings.Join(used, ", ")
}

// describePresetProfile says which preset a profile is or extends, and
// every operation it grants.
func describePresetProfile(prof *filter.Profile) string {
	how := "is"
	if prof.Name != prof.Preset {
		how = "extends"
	}
	return fmt.Sprintf("%s %s; grants %s", how, prof.Preset, strings.Join(prof.Operations(), " "))
}
