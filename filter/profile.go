package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Profile is a named set of allowed operations, with the rules that
// constrain the bodies of the writes it allows and the view it gives of
// the engine's answers.
type Profile struct {
	Name   string
	allow  map[string]bool
	Create CreateRules // container create, and what reaches the host elsewhere
	Exec   ExecRules   // ContainerExec, ExecStart
	View   View        // what the engine's answers show
	// Preset is the built-in profile this one is or extends
	// ("preset/traefik"), or "".
	Preset string
	// Learn is the profile's learn mode; LearnInherit leaves it to the
	// daemon's.
	Learn Learn
}

// Allows reports whether the profile grants an operation.
func (p *Profile) Allows(op string) bool { return p.allow[op] }

// Operations lists the granted operations, sorted.
func (p *Profile) Operations() []string {
	ops := make([]string, 0, len(p.allow))
	for op := range p.allow {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// Rules describes the rules the profile applies to a route's inputs, for
// explain: "" when none applies beyond the grant.
func (p *Profile) Rules(r *Route) string {
	var parts []string
	switch r.Body {
	case BodyExecCreate:
		parts = append(parts, "exec: "+p.Exec.Describe())
	case BodyNone, BodyData:
	default:
		parts = append(parts, "body ("+r.Body.String()+"): "+p.Create.Describe())
	}
	if r.Target == TargetExec {
		parts = append(parts, "exec: "+p.Exec.Describe())
	}
	if r.Target != TargetNone {
		parts = append(parts, "target: the container must pass the create rules' host checks")
	}
	if v := p.View.Describe(r.Answer); v != "" {
		parts = append(parts, "view: "+v)
	}
	return strings.Join(parts, "; ")
}

// NewProfile builds a profile from allow entries. An entry is an operation
// id ("ContainerList") or a group named after a section: "containers:read"
// (its GET and HEAD operations), "containers:write" (the others), or
// "containers" (both). Groups never include sensitive or own-id
// operations; those are granted by their own id only.
func NewProfile(table *RouteTable, name string, entries []string) (*Profile, error) {
	p := &Profile{Name: name, allow: make(map[string]bool)}
	var errs []error
	for _, e := range entries {
		ops, err := table.Expand(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, op := range ops {
			p.allow[op] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Expand returns the operations an allow entry names.
func (t *RouteTable) Expand(entry string) ([]string, error) {
	if r := t.byOp[entry]; r != nil {
		return []string{r.Operation}, nil
	}
	section, access, hasAccess := strings.Cut(entry, ":")
	if !slices.Contains(Sections(), section) {
		return nil, fmt.Errorf("%q is neither an operation id nor a group (<section>, <section>:read, <section>:write)", entry)
	}
	wantRead, wantWrite := true, true
	if hasAccess {
		switch access {
		case "read":
			wantWrite = false
		case "write":
			wantRead = false
		default:
			return nil, fmt.Errorf("group %q: access must be read or write", entry)
		}
	}
	var ops []string
	for i := range t.routes {
		r := &t.routes[i]
		if r.Section != section || r.Grant != GrantGroup {
			continue
		}
		if (r.IsWrite() && wantWrite) || (!r.IsWrite() && wantRead) {
			ops = append(ops, r.Operation)
		}
	}
	return ops, nil
}
